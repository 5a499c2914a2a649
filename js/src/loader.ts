/**
 * The widget's `_esm`: a small loader that asks the kernel for the real bundle.
 *
 * anywidget saves `_esm` with the notebook's widget state; the full UI bundle
 * (CodeMirror, the grid, markdown) is about half a megabyte, so it travels over
 * the comm instead and the saved state stays a few kilobytes. The bundle is
 * imported from a Blob URL, as anywidget itself imports `_esm`.
 */
import type { AnyModel, Initialize, Render } from "@anywidget/types";

type Widget = { initialize?: Initialize<AnyModel>; render: Render<AnyModel> };
type BundleReply = { id?: string; result?: { js: string; css: string }; error?: { message: string } };

const TIMEOUT_MS = 60_000;
let requests = 0;

function injectCss(css: string): void {
  const id = "chatdf-widget-css";
  let style = document.getElementById(id) as HTMLStyleElement | null;
  if (!style) {
    style = document.createElement("style");
    style.id = id;
    document.head.appendChild(style);
  }
  if (style.textContent !== css) style.textContent = css;
}

function fetchBundle(model: AnyModel): Promise<Widget> {
  return new Promise<{ js: string; css: string }>((resolve, reject) => {
    const id = `bundle-${++requests}`;
    const done = (error?: Error, bundle?: { js: string; css: string }) => {
      clearTimeout(timer);
      model.off("msg:custom", onMessage);
      if (error) reject(error);
      else resolve(bundle!);
    };
    const onMessage = (msg: BundleReply) => {
      if (msg?.id !== id) return;
      if (msg.error || !msg.result) done(new Error(msg.error?.message ?? "no bundle"));
      else done(undefined, msg.result);
    };
    const timer = setTimeout(
      () => done(new Error("The kernel did not send the chatdf widget: run the cell again.")),
      TIMEOUT_MS,
    );
    model.on("msg:custom", onMessage);
    model.send({ type: "bundle", id });
  }).then(async ({ js, css }) => {
    injectCss(css);
    const url = URL.createObjectURL(new Blob([js], { type: "text/javascript" }));
    try {
      return (await import(/* @vite-ignore */ url)).default as Widget;
    } finally {
      URL.revokeObjectURL(url);
    }
  });
}

type Loaded = { widget: Promise<Widget>; cleanup?: () => unknown };
const loadedFor = new WeakMap<AnyModel, Loaded>();

/** Fetch the bundle once per model and run its `initialize`; views await the result. */
function widgetFor(props: Parameters<Initialize<AnyModel>>[0]): Loaded {
  let entry = loadedFor.get(props.model);
  if (!entry) {
    const loaded: Loaded = { widget: Promise.resolve(null as unknown as Widget) };
    loaded.widget = fetchBundle(props.model).then(async (widget) => {
      const cleanup = await widget.initialize?.(props);
      if (typeof cleanup === "function") loaded.cleanup = cleanup as () => unknown;
      return widget;
    });
    entry = loaded;
    loadedFor.set(props.model, entry);
  }
  return entry;
}

// Not async: anywidget delivers custom messages only once `initialize` has
// returned, and the bundle arrives as one.
const initialize: Initialize<AnyModel> = (props) => {
  const entry = widgetFor(props);
  return () => entry.cleanup?.();
};

const render: Render<AnyModel> = async (props) => {
  try {
    const widget = await widgetFor(props as Parameters<Initialize<AnyModel>>[0]).widget;
    return widget.render(props);
  } catch (err) {
    props.el.textContent = `chatdf: ${err instanceof Error ? err.message : String(err)}`;
  }
};

export default { initialize, render };
