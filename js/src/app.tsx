import { render } from "preact";
import { DatasetPanel } from "./datasets/DatasetPanel";
import { useTrait } from "./hooks/useTrait";
import type { Model } from "./model";

/** The whole widget; `theme` picks JupyterLab's palette or a fixed one (styles.css). */
export function App({ model }: { model: Model }) {
  const theme = useTrait(model, "theme");
  const datasets = useTrait(model, "_datasets") ?? [];
  const max = useTrait(model, "_max_datasets") ?? 5;
  const status = useTrait(model, "_status");
  return (
    <div class="chatdf" data-theme={theme ?? "system"}>
      <DatasetPanel datasets={datasets} max={max} />
      {status ? (
        <p class="chatdf-status" role="status">
          {status}
        </p>
      ) : null}
    </div>
  );
}

/** Render the app into `el`; the returned function unmounts it. */
export function mountApp(el: HTMLElement, model: Model): () => void {
  render(<App model={model} />, el);
  return () => render(null, el);
}
