/**
 * The chart chunk: vega-embed (Vega + Vega-Lite), about a megabyte, built as its
 * own file (chatdf/static/chart.js) and fetched over the comm the first time an
 * answer has a chart (see ./load.ts).
 *
 * A spec is data, never code. The kernel already refused URLs, images and
 * `usermeta`; here, in the browser, again:
 * - the loader refuses every load and every link/image URL, so nothing a spec
 *   names is ever fetched or opened;
 * - expressions run in vega's AST interpreter (`ast: true`), never through
 *   `new Function`, so the chart works under a CSP without 'unsafe-eval';
 * - `usermeta` (where vega-embed reads options that would override ours) is
 *   dropped before embedding;
 * - tooltips are plain text set with `textContent`.
 */
import embed, { type Result } from "vega-embed";
import { expressionInterpreter } from "vega-interpreter";

export interface ChartOptions {
  /** A Vega-Lite `config` (colours and fonts of the current theme). */
  config: Record<string, unknown>;
  /** Width available to the chart, in CSS pixels. */
  width: number;
  /** Height for single views that set none. */
  height: number;
}

export interface ChartHandle {
  /** Follow a new container width (single views only; others keep theirs). */
  resize(width: number): Promise<void>;
  svg(): Promise<string>;
  png(scale?: number): Promise<string>;
  /** Marks drawn, for tests and the accessible summary. */
  marks(): number;
  destroy(): void;
}

const REFUSED = "chatdf charts load nothing from URLs";

/** A vega loader that never fetches, reads a file or opens a link. */
const refusingLoader = {
  load: () => Promise.reject(new Error(REFUSED)),
  sanitize: () => Promise.reject(new Error(REFUSED)),
  http: () => Promise.reject(new Error(REFUSED)),
  file: () => Promise.reject(new Error(REFUSED)),
};

/** Views whose width a top-level `width` controls. */
function isSingleView(spec: Record<string, unknown>): boolean {
  return !["hconcat", "vconcat", "concat", "facet", "repeat"].some((key) => key in spec) && !("row" in ((spec.encoding as object) ?? {})) && !("column" in ((spec.encoding as object) ?? {})) && !("facet" in ((spec.encoding as object) ?? {}));
}

function tooltipText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, v]) => `${key}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)
      .join("\n");
  }
  return String(value);
}

/** A tooltip handler that writes text only (vega's `tooltip(handler, event, item, value)`). */
function textTooltip(host: HTMLElement): { handler: (h: unknown, e: MouseEvent, item: unknown, value: unknown) => void; remove: () => void } {
  const tip = document.createElement("div");
  tip.className = "chatdf-chart__tooltip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  host.appendChild(tip);
  return {
    handler(_h, event, _item, value) {
      const text = tooltipText(value);
      if (!text || !event) {
        tip.hidden = true;
        return;
      }
      tip.textContent = text;
      tip.hidden = false;
      const box = host.getBoundingClientRect();
      const x = event.clientX - box.left + 12;
      const y = event.clientY - box.top + 12;
      // Keep it inside the chart's box (the narrow sidebar has little room).
      tip.style.left = `${Math.max(0, Math.min(x, box.width - tip.offsetWidth - 4))}px`;
      tip.style.top = `${y}px`;
    },
    remove: () => tip.remove(),
  };
}

function countMarks(result: Result): number {
  let count = 0;
  const visit = (item: { items?: unknown[]; marktype?: string; role?: string }) => {
    for (const child of (item.items ?? []) as { items?: unknown[]; marktype?: string; role?: string }[]) {
      if (child.marktype && child.role === "mark") count += child.items?.length ?? 0;
      else visit(child);
    }
  };
  visit((result.view.scenegraph() as unknown as { root: { items?: unknown[] } }).root);
  return count;
}

export async function renderChart(host: HTMLElement, input: Record<string, unknown>, options: ChartOptions): Promise<ChartHandle> {
  const { usermeta: _dropped, ...spec } = input;
  const single = isSingleView(spec);
  if (single) {
    // Fit the panel's width (axes and legend included); the model's own width wins.
    if (typeof spec.width !== "number") spec.width = options.width;
    if (spec.height === undefined) spec.height = options.height;
    spec.autosize = { type: "fit-x", contains: "padding" };
  }
  const canvas = document.createElement("div");
  canvas.className = "chatdf-chart__canvas";
  host.appendChild(canvas);
  const tooltip = textTooltip(host);
  const result = await embed(canvas, spec as never, {
    mode: "vega-lite",
    renderer: "svg",
    actions: false,
    defaultStyle: false,
    config: options.config as never,
    loader: refusingLoader as never,
    ast: true,
    expr: expressionInterpreter,
    tooltip: tooltip.handler as never,
    logLevel: 0,
  });
  const fixedWidth = typeof input.width === "number";
  return {
    async resize(width) {
      if (!single || fixedWidth) return;
      result.view.width(width);
      await result.view.runAsync();
    },
    svg: () => result.view.toSVG(),
    png: (scale = 2) => result.view.toImageURL("png", scale),
    marks: () => countMarks(result),
    destroy() {
      result.finalize();
      tooltip.remove();
      canvas.remove();
    },
  };
}
