/**
 * The whole widget: three panels in a wide cell (history | chat | datasets),
 * tabs when the container is narrower than 700 px (the JupyterLab sidebar).
 * Side panels collapse; which ones, and the tab, go to `_layout` so a saved
 * notebook reopens the same way. `theme` picks JupyterLab's palette or a
 * fixed one (styles.css).
 */
import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ChatPanel } from "./chat/ChatPanel";
import { Ctx, type WidgetContext } from "./context";
import { DatasetPanel } from "./datasets/DatasetPanel";
import { Sidebar } from "./history/Sidebar";
import { useTrait } from "./hooks/useTrait";
import type { Layout, Model } from "./model";
import { Api } from "./requests";
import { rpcFor } from "./rpc";
import { liveFor } from "./state/registry";
import { Icon } from "./ui/icons";

export const NARROW_PX = 700;

interface Toast {
  id: number;
  text: string;
  kind: "info" | "error";
}

/** Below this the side panels get slimmer (a notebook next to JupyterLab's file browser). */
export const MEDIUM_PX = 1000;

/** The width of `el`, following resizes (Infinity until measured). */
function useWidth(el: { current: HTMLElement | null }): number {
  const [width, setWidth] = useState(Number.POSITIVE_INFINITY);
  useEffect(() => {
    const node = el.current;
    if (!node || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(entry.contentRect.width);
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return width;
}

export function App({ model }: { model: Model }) {
  const theme = useTrait(model, "theme") ?? "system";
  const datasets = useTrait(model, "_datasets") ?? [];
  const max = useTrait(model, "_max_datasets") ?? 20;
  const layout = useTrait(model, "_layout") ?? {};
  const root = useRef<HTMLDivElement>(null);
  const width = useWidth(root);
  const narrow = width < NARROW_PX;
  const medium = width < MEDIUM_PX;
  const [toasts, setToasts] = useState<Toast[]>([]);

  const notify = useCallback((text: string, kind: "info" | "error" = "info") => {
    const id = Date.now() + Math.random();
    setToasts((list) => [...list.slice(-2), { id, text, kind }]);
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), kind === "error" ? 8000 : 3000);
  }, []);

  const ctx = useMemo<WidgetContext>(() => {
    const rpc = rpcFor(model);
    return { model, api: new Api(rpc), live: liveFor(model), notify };
  }, [model]);

  // History and usage live in the kernel's store: ask for them once per view.
  useEffect(() => {
    ctx.api.sync().catch(() => {});
  }, [ctx]);

  function setLayout(change: Partial<Layout>) {
    model.set("_layout", { ...model.get("_layout"), ...change });
    model.save_changes();
  }

  const tab = layout.tab ?? "chat";
  const leftCollapsed = !narrow && !!layout.left;
  const rightCollapsed = !narrow && !!layout.right;
  const ready = datasets.filter((d) => d.status === "ready").length;

  return (
    <Ctx.Provider value={ctx}>
      <div
        ref={root}
        class={`chatdf${narrow ? " chatdf--narrow" : ""}`}
        data-theme={theme}
        data-lm-suppress-shortcuts="true"
        style={{
          "--chatdf-left": leftCollapsed ? "40px" : medium ? "196px" : "232px",
          "--chatdf-right": rightCollapsed ? "40px" : medium ? "236px" : "284px",
        }}
      >
        {narrow ? (
          <div class="chatdf-tabs" role="tablist" aria-label="Panels">
            {(
              [
                ["chat", "Chat", "chat"],
                ["datasets", `Datasets (${ready})`, "database"],
                ["history", "History", "history"],
              ] as const
            ).map(([id, label, icon]) => (
              <button
                key={id}
                type="button"
                role="tab"
                class="chatdf-tab"
                aria-selected={tab === id}
                onClick={() => setLayout({ tab: id })}
              >
                <Icon name={icon} /> {label}
              </button>
            ))}
          </div>
        ) : null}
        <div class="chatdf-layout">
          {(!narrow || tab === "history") && (
            <aside class={`chatdf-left${leftCollapsed ? " chatdf-collapsed" : ""}`}>
              {!narrow ? (
                <button
                  type="button"
                  class="chatdf-icon-btn chatdf-collapse"
                  aria-label={leftCollapsed ? "Show history panel" : "Hide history panel"}
                  aria-expanded={!leftCollapsed}
                  onClick={() => setLayout({ left: !layout.left })}
                >
                  <Icon name="panel-left" />
                </button>
              ) : null}
              {leftCollapsed ? null : <Sidebar />}
            </aside>
          )}
          {(!narrow || tab === "chat") && (
            <main class="chatdf-center">
              <ChatPanel narrow={narrow} onShowDatasets={() => setLayout({ tab: "datasets" })} />
            </main>
          )}
          {(!narrow || tab === "datasets") && (
            <aside class={`chatdf-right${rightCollapsed ? " chatdf-collapsed" : ""}`}>
              {!narrow ? (
                <button
                  type="button"
                  class="chatdf-icon-btn chatdf-collapse"
                  aria-label={rightCollapsed ? "Show datasets panel" : "Hide datasets panel"}
                  aria-expanded={!rightCollapsed}
                  onClick={() => setLayout({ right: !layout.right })}
                >
                  <Icon name="panel-right" />
                </button>
              ) : null}
              {rightCollapsed ? null : <DatasetPanel datasets={datasets} max={max} />}
            </aside>
          )}
        </div>
        <div class="chatdf-toasts" aria-live="polite">
          {toasts.map((t) => (
            <p key={t.id} class={`chatdf-toast chatdf-toast--${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>
              {t.text}
            </p>
          ))}
        </div>
      </div>
    </Ctx.Provider>
  );
}

/** Render the app into `el`; the returned function unmounts it. */
export function mountApp(el: HTMLElement, model: Model): () => void {
  render(<App model={model} />, el);
  return () => render(null, el);
}
