/**
 * The chart under an answer, above its grid: the model's (by the id in the
 * message) or the user's own ("Chart this" on the grid, or an edited spec).
 * Actions: download SVG/PNG, view and edit the spec (re-drawn on Run).
 * Every spec goes through the kernel (`draw_chart`), which checks and binds it
 * as it does the model's; the data arrives in a buffer, never in synced state.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChartHandle } from "../chunks/chart";
import type { EditorHandle } from "../chunks/editor";
import { useWidget } from "../context";
import type { ChartSummary, ResultRef } from "../model";
import { CodeEditor } from "../sql/CodeEditor";
import { Icon } from "../ui/icons";
import { type DrawnChart, drawChart, fetchChart } from "./api";
import { ChartBuilder } from "./ChartBuilder";
import { ChartView } from "./ChartView";
import "./chart.css";
import { type Choice, type Column, suggest, toSpec } from "./suggest";

interface Props {
  chart: ChartSummary | null;
  result: ResultRef | null;
  /** "Chart this" was pressed on the grid: show the pickers. */
  building: boolean;
  /** The answer this chart belongs to: a chart the user draws is saved with it. */
  messageId?: string | null;
  onStopBuilding: () => void;
}

function fileName(title: string | null | undefined, ext: string): string {
  const slug = (title ?? "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
  return `${slug || "chart"}.${ext}`;
}

function download(href: string, name: string): void {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function AnswerChart({ chart, result, building, onStopBuilding, messageId = null }: Props) {
  const { api, notify } = useWidget();
  const [drawn, setDrawn] = useState<DrawnChart | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [columns, setColumns] = useState<Column[] | null>(null);
  const [choice, setChoice] = useState<Choice | null>(null);
  const [editing, setEditing] = useState(false);
  const [running, setRunning] = useState(false);
  const handle = useRef<ChartHandle | null>(null);
  // The answer's chart when "Chart this" was pressed: closing the builder gives it back
  // (the charts drawn meanwhile were saved with the answer as they were drawn).
  const before = useRef<ChartSummary | null>(null);
  useEffect(() => {
    if (building) before.current = chart;
  }, [building]);
  const editor = useRef<EditorHandle | null>(null);

  // The model's chart: fetched by id (its data never rides in the transcript).
  useEffect(() => {
    if (!chart?.id || building) return;
    let gone = false;
    fetchChart(api, chart.id).then(
      (got) => !gone && setDrawn(got),
      (err) => !gone && setProblem(message(err)),
    );
    return () => {
      gone = true;
    };
  }, [chart?.id, building]);

  // "Chart this": the result's columns (one row's page carries them), then a first suggestion.
  useEffect(() => {
    if (!building || !result?.id) return;
    let gone = false;
    api.page(result.id, 0, 1, null).then(
      ({ result: header }) => {
        if (gone) return;
        const cols = header.columns.map((c) => ({ name: c.name, friendly: c.friendly }));
        setColumns(cols);
        const first = suggest(cols);
        if (!first) setProblem("Nothing in this result can be charted: it has no numbers, dates or text columns.");
        setChoice(first);
      },
      (err) => !gone && setProblem(message(err)),
    );
    return () => {
      gone = true;
    };
  }, [building, result?.id]);

  // Every change of the pickers draws again (in the kernel: checked, bound, reduced if large).
  useEffect(() => {
    if (!building || !choice || !columns || !result?.id) return;
    let gone = false;
    setProblem(null);
    drawChart(api, result.id, toSpec(choice, columns), messageId).then(
      (got) => !gone && setDrawn(got),
      (err) => !gone && setProblem(message(err)),
    );
    return () => {
      gone = true;
    };
  }, [building, choice, columns]);

  if (!chart && !building) return null;
  const title = drawn?.header.title ?? chart?.title ?? null;
  const resultId = drawn?.header.result_id ?? result?.id ?? null;

  async function runSpec() {
    const text = editor.current?.getText() ?? "";
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (err) {
      setProblem(`The spec is not valid JSON: ${message(err)}`);
      return;
    }
    if (!resultId) {
      setProblem("This chart's result is no longer kept: run its SQL again, then chart it.");
      return;
    }
    setRunning(true);
    setProblem(null);
    try {
      setDrawn(await drawChart(api, resultId, spec as Record<string, unknown>, messageId));
    } catch (err) {
      setProblem(message(err));
    } finally {
      setRunning(false);
    }
  }

  function close() {
    if (messageId) api.setAnswerChart(messageId, before.current?.id ?? null).catch((err) => notify(message(err), "error"));
    setDrawn(null);
    onStopBuilding();
  }

  async function save(kind: "svg" | "png") {
    const chartHandle = handle.current;
    if (!chartHandle) return;
    try {
      if (kind === "svg") {
        const url = URL.createObjectURL(new Blob([await chartHandle.svg()], { type: "image/svg+xml" }));
        download(url, fileName(title, "svg"));
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      } else {
        download(await chartHandle.png(2), fileName(title, "png"));
      }
    } catch (err) {
      notify(`The chart could not be saved: ${message(err)}`, "error");
    }
  }

  return (
    <section class="chatdf-chart" aria-label={title ? `Chart: ${title}` : "Chart"}>
      {building && columns && choice ? <ChartBuilder columns={columns} choice={choice} onChange={setChoice} /> : null}
      {drawn ? <ChartView spec={drawn.spec} onReady={(h) => (handle.current = h)} /> : problem ? null : <p class="chatdf-chart__note">Loading the chart…</p>}
      {problem && !editing ? (
        <p class="chatdf-chart__error" role="alert">
          {problem}
        </p>
      ) : null}
      {drawn?.header.reduced ? (
        <p class="chatdf-chart__note">
          {drawn.header.source_rows.toLocaleString("en-US")} rows, summarised in the kernel to {drawn.header.rows.toLocaleString("en-US")} points.
        </p>
      ) : null}
      <div class="chatdf-chart__actions">
        <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" disabled={!drawn} onClick={() => save("svg")}>
          <Icon name="download" /> SVG
        </button>
        <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" disabled={!drawn} onClick={() => save("png")}>
          <Icon name="download" /> PNG
        </button>
        <button
          type="button"
          class="chatdf-btn chatdf-btn--quiet chatdf-btn--small"
          aria-expanded={editing}
          disabled={!drawn}
          onClick={() => setEditing((v) => !v)}
        >
          <Icon name="code" /> {editing ? "Hide spec" : "Edit spec"}
        </button>
        {building ? (
          <button type="button" class="chatdf-icon-btn" aria-label="Close chart" onClick={close}>
            <Icon name="x" />
          </button>
        ) : null}
      </div>
      {editing && drawn ? (
        <section class="chatdf-sql chatdf-chart__spec" aria-label="Chart spec">
          <header class="chatdf-sql__bar">
            <span class="chatdf-sql__title">Vega-Lite</span>
            <span class="chatdf-sql__hint" title="Edit and run (Ctrl+Enter); the result's rows are bound for you">Ctrl+Enter runs</span>
            <button type="button" class="chatdf-btn chatdf-btn--primary chatdf-btn--small" onClick={runSpec} disabled={running}>
              <Icon name="play" /> {running ? "Drawing…" : "Run"}
            </button>
          </header>
          <CodeEditor doc={JSON.stringify(drawn.header.spec, null, 2)} language="json" label="Chart spec (Vega-Lite JSON, editable)" onRun={runSpec} editorRef={editor} />
          {problem ? (
            <p class="chatdf-sql__error chatdf-chart__error" role="alert">
              {problem}
            </p>
          ) : null}
        </section>
      ) : null}
    </section>
  );
}
