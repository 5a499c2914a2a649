/**
 * One chart, drawn by the "chart" chunk (vega-embed, loaded on demand). It
 * takes the width of its box and follows it (the sidebar can be 250 px), and
 * redraws with the new palette when the theme changes.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChartHandle } from "../chunks/chart";
import { loadChunk } from "../chunks/load";
import { useWidget } from "../context";
import { useTrait } from "../hooks/useTrait";
import { chartConfig } from "./theme";

/** Changes when JupyterLab's theme or the widget's own pinned theme changes. */
function useThemeKey(): string {
  const { model } = useWidget();
  const pinned = useTrait(model, "theme") ?? "system";
  const read = () => `${document.body.dataset.jpThemeName ?? ""}|${document.body.dataset.jpThemeLight ?? ""}`;
  const [lab, setLab] = useState(read);
  useEffect(() => {
    // JupyterLab sets these attributes once the new theme's CSS is in.
    const observer = new MutationObserver(() => setLab(read()));
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
    return () => observer.disconnect();
  }, []);
  return `${pinned}|${lab}`;
}

/** Width the chart may use: its box, never less than a readable minimum. */
function widthOf(el: HTMLElement): number {
  return Math.max(160, Math.floor(el.clientWidth));
}

interface Props {
  spec: Record<string, unknown>;
  /** Receives the drawn chart (for the download buttons); null while none. */
  onReady: (handle: ChartHandle | null) => void;
}

export function ChartView({ spec, onReady }: Props) {
  const { api } = useWidget();
  const host = useRef<HTMLDivElement>(null);
  const handle = useRef<ChartHandle | null>(null);
  const drawnWidth = useRef(0);
  const theme = useThemeKey();
  const [problem, setProblem] = useState<string | null>(null);
  const [drawing, setDrawing] = useState(true);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    let gone = false;
    let drawn: ChartHandle | null = null;
    setDrawing(true);
    setProblem(null);
    loadChunk(api.rpc, "chart")
      // A frame first: a theme switch or a re-layout may still be under way.
      .then((chunk) => new Promise<typeof chunk>((resolve) => requestAnimationFrame(() => resolve(chunk))))
      .then(({ renderChart }) => {
        if (gone) return null;
        const width = widthOf(el);
        drawnWidth.current = width;
        return renderChart(el, structuredClone(spec), { config: chartConfig(el), width, height: width < 360 ? 180 : 240 });
      })
      .then(
        (chart) => {
          if (!chart) return;
          if (gone) return chart.destroy();
          drawn = chart;
          handle.current = chart;
          el.dataset.marks = String(chart.marks());
          setDrawing(false);
          onReady(chart);
          follow();
        },
        (err) => {
          if (gone) return;
          setDrawing(false);
          setProblem(`The chart could not be drawn: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
    return () => {
      gone = true;
      drawn?.destroy();
      handle.current = null;
      onReady(null);
    };
  }, [spec, theme]);

  /** Redraw at the box's width if it is not the one the chart has (hidden boxes keep theirs). */
  function follow() {
    const el = host.current;
    if (!el || el.clientWidth === 0 || !handle.current) return;
    const width = widthOf(el);
    if (width === drawnWidth.current) return;
    drawnWidth.current = width;
    handle.current.resize(width).catch(() => {});
  }

  // Follow the panel's width (the sidebar resizes, cells reflow); one redraw per frame.
  useEffect(() => {
    const el = host.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(follow);
    });
    observer.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
    };
  }, []);

  return (
    <>
      <div class="chatdf-chart__host" ref={host} aria-busy={drawing} />
      {drawing && !problem ? <p class="chatdf-chart__note">Drawing the chart…</p> : null}
      {problem ? (
        <p class="chatdf-chart__error" role="alert">
          {problem}
        </p>
      ) : null}
    </>
  );
}
