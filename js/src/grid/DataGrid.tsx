/**
 * The result grid: one page of a kept result at a time, asked from the kernel.
 *
 * Sorting and per-column filters happen in the kernel over the whole result
 * (`chatdf/grid.py`, `chatdf/result_tools.py`); so do column summaries, "Copy
 * all" and downloads. This component keeps the view (sort, filters, page, page
 * size) and a small cache of decoded pages, and prefetches the next page so
 * "Next" renders at once; while a page is on its way the old rows are dimmed
 * under a "Loading rows…" cue. TanStack's table core owns headers, cells and
 * column sizes (resize by drag, fit by double-click). Row numbers and the first
 * column stay put when the table scrolls sideways.
 */
import {
  type ColumnDef,
  columnResizingFeature,
  columnSizingFeature,
  constructTable,
  rowSortingFeature,
  tableFeatures,
} from "@tanstack/table-core";
import { storeReactivityBindings } from "@tanstack/table-core/store-reactivity-bindings";
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { useWidget } from "../context";
import { useLimits } from "../limits";
import { isResultGone, type ResultRef } from "../model";
import type { ColumnSummary, FilterSpec, PageHeader, SortSpec } from "../requests";
import { RpcError } from "../rpc";
import { ConfirmDialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { formatCount, formatRange } from "../utils/format";
import { decodePage } from "./arrow";
import { type ColumnFormat, columnFormat, formatCell } from "./format";
import { cellText, filterLabel, isNumeric, isVariableName, nextSort, PAGE_SIZES, pageCount, pageKey } from "./paging";

const features = tableFeatures({
  coreReactivityFeature: storeReactivityBindings(),
  columnSizingFeature,
  columnResizingFeature,
  rowSortingFeature,
});

type Row = unknown[];

interface Loaded {
  key: string;
  header: PageHeader;
  rows: Row[];
}

const MIN_WIDTH = 50;
const MAX_INITIAL_WIDTH = 240;

/** A first width from the header and the page's text as shown (about 7–8 px a character). */
function initialWidth(
  name: string,
  dtype: string,
  friendly: string,
  rows: Row[],
  index: number,
  format: ColumnFormat,
  cap = MAX_INITIAL_WIDTH,
): number {
  const head = Math.max(name.length * 8.2, dtype.length * 6.8) + 40; // bold name, padding, sort button
  let chars = 4;
  for (const row of rows.slice(0, 50)) chars = Math.max(chars, (formatCell(row[index], format) ?? "null").length);
  // Tabular figures (numbers, dates, times) are wider than average text.
  const perChar = format.kind !== "other" || friendly === "Date" || friendly === "Timestamp" ? 7.8 : 7.2;
  return Math.min(cap, Math.max(56, Math.round(head), Math.round(chars * perChar + 18)));
}

/** In a narrow container (the 250 px sidebar) no first width exceeds half of what the row
 * numbers leave, so two whole columns show (a right-aligned number column cut in half
 * shows no digits at all). */
function widthCap(container: HTMLElement | null): number {
  const width = (container?.clientWidth ?? 0) - MIN_ROW_NUMBER_WIDTH;
  return width > 0 ? Math.max(70, Math.min(MAX_INITIAL_WIDTH, Math.floor((width - 2) / 2))) : MAX_INITIAL_WIDTH;
}
const MIN_ROW_NUMBER_WIDTH = 36;
const FILTER_ICON_PX = 16;

/** Keep the first widths fitted to the container as it is resized (the sidebar narrowed after
 * the rows loaded): a column the reader has not sized follows the cap; a dragged or fitted one
 * keeps its width. */
function useFollowContainerWidth(
  rootRef: { current: HTMLElement | null },
  table: { getAllLeafColumns: () => { id: string; getSize: () => number }[]; setColumnSizing: (u: (old: Record<string, number>) => Record<string, number>) => void },
  natural: number[],
) {
  const [cap, setCap] = useState<number | null>(null);
  // Re-attached only when the grid's root element changes (it is absent while "gone").
  useEffect(() => {
    const el = rootRef.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => setCap(widthCap(el)));
    observer.observe(el);
    return () => observer.disconnect();
  }, [rootRef.current]);
  // The width each column was last given automatically; a different size means the reader's.
  const given = useMemo(() => new Map<string, number>(), [table]);
  useEffect(() => {
    if (cap === null) return;
    const next: Record<string, number> = {};
    for (const column of table.getAllLeafColumns()) {
      const size = column.getSize();
      const auto = given.get(column.id) ?? size;
      const want = Math.min(natural[Number(column.id)] ?? size, cap);
      given.set(column.id, auto);
      if (size !== auto || want === size) continue;
      next[column.id] = want;
      given.set(column.id, want);
    }
    if (Object.keys(next).length) table.setColumnSizing((old) => ({ ...old, ...next }));
  }, [cap, table, natural]);
}
const MAX_FIT_WIDTH = 480;

interface Props {
  result: ResultRef;
  /** Offered when the kernel no longer keeps the result (after a restart or from history). */
  onRerun?: () => void;
  /** More buttons for the grid's action bar (the answer's "Chart this"). */
  actions?: ComponentChildren;
}

export function DataGrid({ result, onRerun, actions }: Props) {
  const { api, notify } = useWidget();
  const PAGE_ROWS = useLimits().page_rows;
  const [sort, setSort] = useState<SortSpec | null>(null);
  const [filters, setFilters] = useState<FilterSpec[]>([]);
  const [page, setPage] = useState(0);
  const [size, setSize] = useState<number>(PAGE_ROWS);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<RpcError | null>(null);
  const [menu, setMenu] = useState<number | null>(null);
  const [, setTick] = useState(0);
  const cache = useRef(new Map<string, Promise<Loaded>>());
  const clickedAt = useRef<number | null>(null);
  const rootRef = useRef<HTMLDivElement>(null);
  const wanted = pageKey(sort, page, size, filters);

  // A new result (e.g. edited SQL was run): start over.
  useEffect(() => {
    cache.current = new Map();
    setPage(0);
    setSort(null);
    setFilters([]);
    setLoaded(null);
    setError(null);
    setMenu(null);
  }, [result.id]);

  function fetchPage(s: SortSpec | null, p: number, n: number, f: FilterSpec[]): Promise<Loaded> {
    const key = pageKey(s, p, n, f);
    let pending = cache.current.get(key);
    if (!pending) {
      pending = api.page(result.id, p * n, n, s, f).then(({ result: header, buffers }) => {
        const decoded = buffers[0] ? decodePage(buffers[0]) : { columns: [], rows: [] };
        return { key, header, rows: decoded.rows };
      });
      pending.catch(() => cache.current.delete(key));
      cache.current.set(key, pending);
    }
    return pending;
  }

  useEffect(() => {
    if (!result.id) return;
    let current = true;
    fetchPage(sort, page, size, filters).then(
      (data) => {
        if (!current) return;
        setLoaded(data);
        setError(null);
        if ((page + 1) * size < data.header.total_rows) fetchPage(sort, page + 1, size, filters).catch(() => {});
      },
      (err: unknown) => {
        if (!current) return;
        setError(err instanceof RpcError ? err : new RpcError(String(err), "error"));
      },
    );
    return () => {
      current = false;
    };
  }, [result.id, wanted]);

  // From the grid's mount (the query finished) to its first rows on screen (read by bench/ui.py).
  const mountedAt = useRef(performance.now());
  useLayoutEffect(() => {
    if (loaded && rootRef.current && !rootRef.current.dataset.firstRowsMs) {
      rootRef.current.dataset.firstRowsMs = (performance.now() - mountedAt.current).toFixed(2);
    }
  }, [loaded]);

  // How long "Next" took to show rows (read by bench/ui.py).
  useLayoutEffect(() => {
    if (clickedAt.current !== null && loaded && loaded.key === wanted && rootRef.current) {
      rootRef.current.dataset.pageMs = (performance.now() - clickedAt.current).toFixed(2);
      clickedAt.current = null;
    }
  }, [loaded, wanted]);

  // One format per column for the page shown: the same decimals down a column.
  const formats = useMemo(
    () => (loaded?.header.columns ?? []).map((c, i) => columnFormat(c.name, c.friendly, (loaded?.rows ?? []).map((r) => r[i]))),
    [loaded],
  );
  const columnsKey = loaded ? JSON.stringify(loaded.header.columns) : "";
  // Each column's width for its header and first page, before the container's cap.
  const natural = useMemo(
    () =>
      (loaded?.header.columns ?? []).map((c, i) =>
        initialWidth(c.name, c.dtype, c.friendly, loaded?.rows ?? [], i, formats[i]!),
      ),
    [columnsKey],
  );
  const columns = useMemo<ColumnDef<typeof features, Row>[]>(
    () =>
      (loaded?.header.columns ?? []).map((c, i) => ({
        id: String(i),
        header: c.name,
        accessorFn: (row: Row) => row[i],
        size: Math.min(natural[i]!, widthCap(rootRef.current)),
        minSize: MIN_WIDTH,
        meta: c,
      })),
    [columnsKey],
  );
  // The table owns column sizes (drag, double-click fit); re-render when they change.
  const table = useMemo(
    () => constructTable({ features, columns, data: [], manualSorting: true, columnResizeMode: "onChange" }),
    [columns],
  );
  useEffect(() => {
    const subscription = table.store.subscribe(() => setTick((n) => n + 1));
    return () => subscription.unsubscribe();
  }, [table]);
  // A filtered column shows a funnel before its dtype: room for it, so the dtype is not cut.
  const filteredKey = filters.map((f) => f.column).join("\u0000");
  const withIcons = useMemo(
    () =>
      natural.map((w, i) =>
        filters.some((f) => f.column === loaded?.header.columns[i]?.name) ? Math.min(MAX_INITIAL_WIDTH, w + FILTER_ICON_PX) : w,
      ),
    [natural, filteredKey],
  );
  useFollowContainerWidth(rootRef, table, withIcons);
  table.setOptions((old) => ({ ...old, data: loaded?.rows ?? [] }));

  if (!result.id || (error && isResultGone(error.details))) {
    return (
      <div class="chatdf-grid chatdf-grid--gone">
        <p>This result is no longer in memory{result.total_rows !== null ? ` (${result.total_rows.toLocaleString("en-US")} rows)` : ""}.</p>
        {onRerun ? (
          <button type="button" class="chatdf-btn" onClick={onRerun}>
            <Icon name="play" /> Run again
          </button>
        ) : null}
      </div>
    );
  }

  const total = loaded?.header.total_rows ?? result.total_rows ?? 0;
  const pages = pageCount(total, size);
  // The rows on screen are not the ones asked for yet (a refused view shows its error instead).
  const busy = !error && (!loaded || loaded.key !== wanted);
  const shownOffset = loaded?.header.offset ?? 0;
  const rowDigits = String(Math.max(1, shownOffset + (loaded?.rows.length ?? 0))).length;
  const rowNumberWidth = Math.max(MIN_ROW_NUMBER_WIDTH, rowDigits * 8 + 18);

  function go(p: number) {
    clickedAt.current = performance.now();
    setError(null);
    setPage(Math.max(0, Math.min(pages - 1, p)));
  }

  function sortBy(name: string, next?: SortSpec | null) {
    setError(null);
    setSort((s) => (next === undefined ? nextSort(s, name) : next));
    setPage(0);
  }

  function applyFilters(next: FilterSpec[]) {
    setError(null);
    setFilters(next);
    setPage(0);
  }

  function fit(columnId: string) {
    const cells = rootRef.current?.querySelectorAll<HTMLElement>(`[data-col="${columnId}"]`) ?? [];
    let width = MIN_WIDTH;
    for (const cell of cells) {
      const inner = cell.firstElementChild as HTMLElement | null;
      width = Math.max(width, (inner?.scrollWidth ?? cell.scrollWidth) + 24);
    }
    table.setColumnSizing((old) => ({ ...old, [columnId]: Math.min(MAX_FIT_WIDTH, width) }));
  }

  const headerGroup = table.getHeaderGroups()[0];
  const rows = table.getRowModel().rows;
  const menuColumn = menu !== null ? loaded?.header.columns[menu] : undefined;
  return (
    <div class="chatdf-grid" ref={rootRef} aria-busy={busy}>
      <div class="chatdf-grid__toolbar" role="toolbar" aria-label="Result tools">
        <span class="chatdf-grid__filters">
          {filters.map((f, i) => (
            <span class="chatdf-grid__chip" key={`${f.column}-${i}`}>
              <Icon name="filter" />
              <span>{filterLabel(f)}</span>
              <button
                type="button"
                class="chatdf-icon-btn"
                aria-label={`Remove filter ${filterLabel(f)}`}
                onClick={() => applyFilters(filters.filter((_, j) => j !== i))}
              >
                <Icon name="x" />
              </button>
            </span>
          ))}
        </span>
        <span class="chatdf-grid__actions">
          {actions}
          <ResultActions resultId={result.id} sort={sort} filters={filters} disabled={!loaded} />
          <ExportButton resultId={result.id} />
        </span>
      </div>
      {error ? (
        <p class="chatdf-grid__error" role="alert">
          {error.message}
        </p>
      ) : null}
      {menuColumn && menu !== null ? (
        <ColumnPanel
          key={`${menuColumn.name}-${JSON.stringify(filters)}`}
          resultId={result.id}
          column={menuColumn}
          filters={filters}
          sort={sort}
          onSort={(next) => sortBy(menuColumn.name, next)}
          onFilter={(f) => applyFilters([...filters.filter((x) => x.column !== f.column), f])}
          onClose={() => setMenu(null)}
        />
      ) : null}
      <div class="chatdf-grid__scroll">
        {busy && loaded ? (
          <p class="chatdf-grid__loading" role="status">
            <span class="chatdf-spinner" aria-hidden="true" /> Loading rows…
          </p>
        ) : null}
        <table
          class={`chatdf-grid__table${busy && loaded ? " chatdf-grid__table--stale" : ""}`}
          style={{ width: `${table.getTotalSize() + rowNumberWidth}px` }}
        >
          <thead>
            <tr>
              <th class="chatdf-grid__rownum" style={{ width: `${rowNumberWidth}px` }} scope="col">
                <span class="chatdf-sr">Row</span>#
              </th>
              {headerGroup?.headers.map((header, index) => {
                const meta = loaded?.header.columns[Number(header.column.id)];
                const sorted = sort && meta && sort.column === meta.name ? (sort.descending ? "descending" : "ascending") : undefined;
                const filtered = meta ? filters.some((f) => f.column === meta.name) : false;
                const classes = [meta && isNumeric(meta.friendly) ? "chatdf-num" : "", index === 0 ? "chatdf-grid__frozen" : ""].join(" ").trim();
                return (
                  <th
                    key={header.id}
                    data-col={header.column.id}
                    style={{ width: `${header.getSize()}px`, left: index === 0 ? `${rowNumberWidth}px` : undefined }}
                    aria-sort={sorted ?? "none"}
                    class={classes || undefined}
                  >
                    <div class="chatdf-grid__head">
                      <button
                        type="button"
                        class="chatdf-grid__colbtn"
                        aria-expanded={menu === index}
                        title={meta ? `${meta.name} · ${meta.dtype} — summary, sort and filter` : undefined}
                        onClick={() => setMenu(menu === index ? null : index)}
                      >
                        <span class="chatdf-grid__name">{meta?.name}</span>
                        <span class="chatdf-grid__dtype">
                          {filtered ? <Icon name="filter" /> : null}
                          {meta?.dtype}
                        </span>
                      </button>
                      <button
                        type="button"
                        class="chatdf-icon-btn chatdf-grid__sort"
                        aria-label={`Sort by ${meta?.name ?? ""}`}
                        title={sorted === "ascending" ? "Sorted ascending" : sorted === "descending" ? "Sorted descending" : "Sort"}
                        onClick={() => meta && sortBy(meta.name)}
                      >
                        <Icon name={sorted === "ascending" ? "sort-asc" : sorted === "descending" ? "sort-desc" : "sort"} />
                      </button>
                    </div>
                    <div
                      class="chatdf-grid__resizer"
                      role="separator"
                      aria-orientation="vertical"
                      aria-label={`Resize column ${meta?.name ?? ""}`}
                      onMouseDown={(e) => header.getResizeHandler()(e)}
                      onTouchStart={(e) => header.getResizeHandler()(e)}
                      onDblClick={() => fit(header.column.id)}
                    />
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, r) => (
              <tr key={row.id}>
                <th class="chatdf-grid__rownum" scope="row">
                  {formatCount(shownOffset + r + 1)}
                </th>
                {row.getAllCells().map((cell, index) => {
                  const meta = loaded?.header.columns[Number(cell.column.id)];
                  const format = formats[Number(cell.column.id)];
                  const value = cell.getValue();
                  const text = format ? formatCell(value, format) : cellText(value);
                  const raw = cellText(value);
                  const classes = [meta && isNumeric(meta.friendly) ? "chatdf-num" : "", index === 0 ? "chatdf-grid__frozen" : ""].join(" ").trim();
                  return (
                    <td
                      key={cell.id}
                      data-col={cell.column.id}
                      class={classes || undefined}
                      style={index === 0 ? { left: `${rowNumberWidth}px` } : undefined}
                      title={raw !== null && (raw.length > 24 || raw !== text) ? raw : undefined}
                    >
                      {text === null ? <span class="chatdf-null">null</span> : <span>{text}</span>}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        {loaded && total === 0 ? <p class="chatdf-grid__empty">{filters.length ? "No rows match the filters" : "No results"}</p> : null}
        {!loaded && !error ? <p class="chatdf-grid__empty">Loading rows…</p> : null}
      </div>
      <div class="chatdf-grid__footer">
        <span class="chatdf-grid__range" aria-live="polite">
          {formatRange(shownOffset, loaded?.rows.length ?? 0, total)}
          {filters.length && loaded ? " (filtered)" : ""}
        </span>
        <Pager page={page} pages={pages} onGo={go} />
        <label class="chatdf-grid__size">
          <span>Rows</span>
          <select
            class="chatdf-input chatdf-input--small"
            aria-label="Rows per page"
            value={String(size)}
            onChange={(e) => {
              const next = Number(e.currentTarget.value);
              // Keep the first row shown on screen.
              setPage(Math.floor((page * size) / next));
              setSize(next);
            }}
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
    </div>
  );
}

/** ‹‹ ‹ [n] of N › ››: first, previous, go to page, next, last (the box is labelled "Go to page"). */
function Pager({ page, pages, onGo }: { page: number; pages: number; onGo: (p: number) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  function submit() {
    const n = Number(draft);
    if (draft !== null && Number.isInteger(n) && n >= 1) onGo(Math.min(pages, n) - 1);
    setDraft(null);
  }
  return (
    <span class="chatdf-grid__pager">
      <button type="button" class="chatdf-icon-btn" aria-label="First page" disabled={page === 0} onClick={() => onGo(0)}>
        <Icon name="chevrons-left" />
      </button>
      <button type="button" class="chatdf-icon-btn" aria-label="Previous page" disabled={page === 0} onClick={() => onGo(page - 1)}>
        <Icon name="chevron-left" />
      </button>
      <span class="chatdf-grid__page" title="Page">
        <input
          class="chatdf-input chatdf-input--small chatdf-grid__goto"
          aria-label="Go to page"
          inputMode="numeric"
          value={draft ?? String(page + 1)}
          size={Math.max(2, String(pages).length)}
          onFocus={(e) => e.currentTarget.select()}
          onInput={(e) => setDraft(e.currentTarget.value.replace(/[^0-9]/g, ""))}
          onBlur={submit}
          onKeyDown={(e) => {
            // Handled here: in a notebook cell JupyterLab takes Enter first.
            if (e.key === "Enter") submit();
            else if (e.key === "Escape") setDraft(null);
            else return;
            e.preventDefault();
            e.stopPropagation();
          }}
        />{" "}
        of {formatCount(pages)}
      </span>
      <button type="button" class="chatdf-icon-btn" aria-label="Next page" disabled={page >= pages - 1} onClick={() => onGo(page + 1)}>
        <Icon name="chevron-right" />
      </button>
      <button type="button" class="chatdf-icon-btn" aria-label="Last page" disabled={page >= pages - 1} onClick={() => onGo(pages - 1)}>
        <Icon name="chevrons-right" />
      </button>
    </span>
  );
}

const OPS: { op: FilterSpec["op"]; label: string; needsValue: boolean; numeric?: boolean }[] = [
  { op: "contains", label: "contains", needsValue: true },
  { op: "eq", label: "=", needsValue: true },
  { op: "ne", label: "≠", needsValue: true },
  { op: "gt", label: ">", needsValue: true, numeric: true },
  { op: "ge", label: "≥", needsValue: true, numeric: true },
  { op: "lt", label: "<", needsValue: true, numeric: true },
  { op: "le", label: "≤", needsValue: true, numeric: true },
  { op: "is_null", label: "is empty", needsValue: false },
  { op: "not_null", label: "is not empty", needsValue: false },
];

interface PanelProps {
  resultId: string;
  column: PageHeader["columns"][number];
  filters: FilterSpec[];
  sort: SortSpec | null;
  onSort: (next: SortSpec | null) => void;
  onFilter: (f: FilterSpec) => void;
  onClose: () => void;
}

/** A column's summary over the whole result (asked from the kernel), its sort and its filter. */
function ColumnPanel({ resultId, column, filters, sort, onSort, onFilter, onClose }: PanelProps) {
  const { api } = useWidget();
  const [summary, setSummary] = useState<ColumnSummary | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // A result kept on a cluster has no summary by design: a note, not an error.
  const [unavailable, setUnavailable] = useState<string | null>(null);
  const ordered = ["Integer", "Decimal", "Date", "Timestamp"].includes(column.friendly);
  const existing = filters.find((f) => f.column === column.name);
  const [op, setOp] = useState<FilterSpec["op"]>(existing?.op ?? (ordered ? "ge" : "contains"));
  const [value, setValue] = useState(existing?.value ?? "");

  useEffect(() => {
    let current = true;
    api.summary(resultId, column.name, filters).then(
      (s) => current && setSummary(s),
      (err: unknown) => {
        if (!current) return;
        if (err instanceof RpcError && err.details?.reason === "remote_result") setUnavailable(err.message);
        else setProblem(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      current = false;
    };
  }, [resultId, column.name]);

  const needsValue = OPS.find((o) => o.op === op)?.needsValue ?? true;
  function apply(e?: Event) {
    e?.preventDefault();
    if (needsValue && !value.trim()) return;
    onFilter({ column: column.name, op, value: needsValue ? value.trim() : null });
  }
  const sorted = sort?.column === column.name ? (sort.descending ? "desc" : "asc") : null;
  return (
    <section class="chatdf-grid__panel" aria-label={`Column ${column.name}`}>
      <header class="chatdf-grid__panel-head">
        <strong class="chatdf-grid__panel-name">{column.name}</strong>
        <span class="chatdf-grid__dtype">{column.dtype}</span>
        <button type="button" class="chatdf-icon-btn" aria-label="Close column summary" onClick={onClose}>
          <Icon name="x" />
        </button>
      </header>
      {problem ? <p class="chatdf-field-error" role="alert">{problem}</p> : null}
      {unavailable ? <p class="chatdf-grid__muted">{unavailable}</p> : null}
      {summary ? (
        <SummaryView summary={summary} />
      ) : problem || unavailable ? null : (
        <p class="chatdf-grid__muted">Summarizing all rows…</p>
      )}
      <div class="chatdf-grid__panel-row" role="group" aria-label="Sort">
        <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" aria-pressed={sorted === "asc"} onClick={() => onSort({ column: column.name, descending: false })}>
          <Icon name="sort-asc" /> Ascending
        </button>
        <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" aria-pressed={sorted === "desc"} onClick={() => onSort({ column: column.name, descending: true })}>
          <Icon name="sort-desc" /> Descending
        </button>
        {sorted ? (
          <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" onClick={() => onSort(null)}>
            Unsorted
          </button>
        ) : null}
      </div>
      <form class="chatdf-grid__panel-row" onSubmit={apply} aria-label={`Filter ${column.name}`}>
        <select class="chatdf-input chatdf-input--small" aria-label="Filter condition" value={op} onChange={(e) => setOp(e.currentTarget.value as FilterSpec["op"])}>
          {OPS.filter((o) => ordered || !o.numeric || column.friendly === "Text").map((o) => (
            <option key={o.op} value={o.op}>
              {o.label}
            </option>
          ))}
        </select>
        {needsValue ? (
          <input
            class="chatdf-input chatdf-input--small chatdf-grid__filter-value"
            aria-label="Filter value"
            value={value}
            placeholder={column.friendly === "Date" ? "2024-01-31" : "value"}
            onInput={(e) => setValue(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.isComposing) apply(e);
              else if (e.key === "Escape") onClose();
              else return;
              e.preventDefault();
              e.stopPropagation();
            }}
          />
        ) : null}
        <button type="submit" class="chatdf-btn chatdf-btn--small">
          <Icon name="filter" /> Filter
        </button>
      </form>
    </section>
  );
}

function show(value: ColumnSummary["min"]): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return value.toLocaleString("en-US", { maximumFractionDigits: 6 });
  return String(value);
}

/** Rows, nulls, distinct, min/max and a mini histogram or the top values. */
function SummaryView({ summary }: { summary: ColumnSummary }) {
  const nullShare = summary.rows ? Math.round((summary.nulls / summary.rows) * 1000) / 10 : 0;
  const peak = Math.max(1, ...(summary.histogram?.counts ?? [1]), ...(summary.top?.map((t) => t.count) ?? [1]));
  return (
    <div class="chatdf-grid__summary">
      <dl class="chatdf-grid__stats">
        <dt>Rows</dt>
        <dd>{formatCount(summary.rows)}</dd>
        <dt>Nulls</dt>
        <dd>
          {formatCount(summary.nulls)} ({nullShare}%)
        </dd>
        {summary.distinct !== null ? (
          <>
            <dt>Distinct</dt>
            <dd>{formatCount(summary.distinct)}</dd>
          </>
        ) : null}
        {summary.min !== null ? (
          <>
            <dt>Min</dt>
            <dd>{show(summary.min)}</dd>
            <dt>Max</dt>
            <dd>{show(summary.max)}</dd>
          </>
        ) : null}
      </dl>
      {summary.histogram ? (
        <svg class="chatdf-grid__hist" viewBox={`0 0 ${summary.histogram.counts.length * 10} 40`} preserveAspectRatio="none" role="img" aria-label="Histogram of values">
          {summary.histogram.counts.map((c, i) => {
            const h = (c / peak) * 38;
            return <rect key={i} x={i * 10 + 1} y={40 - h} width={8} height={h}><title>{formatCount(c)}</title></rect>;
          })}
        </svg>
      ) : null}
      {summary.top && summary.top.length ? (
        <ol class="chatdf-grid__top" aria-label="Most common values">
          {summary.top.map((t) => (
            <li key={String(t.value)}>
              <span class="chatdf-grid__top-value">{show(t.value)}</span>
              <span class="chatdf-grid__top-bar" style={{ width: `${Math.max(2, (t.count / peak) * 100)}%` }} />
              <span class="chatdf-grid__top-count">{formatCount(t.count)}</span>
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}

interface ActionProps {
  resultId: string;
  sort: SortSpec | null;
  filters: FilterSpec[];
  disabled: boolean;
}

/** "Copy all", "Download" (CSV / parquet, streamed in chunks) and "Copy as code". */
function ResultActions({ resultId, sort, filters, disabled }: ActionProps) {
  const { api, notify } = useWidget();
  const [working, setWorking] = useState<string | null>(null);

  async function run(what: string, work: () => Promise<void>) {
    setWorking(what);
    try {
      await work();
    } catch (err) {
      notify(err instanceof Error ? err.message : String(err), "error");
    } finally {
      setWorking(null);
    }
  }

  const copyAll = () =>
    run("copy", async () => {
      const reply = await api.copyAll(resultId, sort, filters);
      await copyText(reply.text);
      notify(
        reply.truncated
          ? `Copied the first ${formatCount(reply.rows)} of ${formatCount(reply.total_rows)} rows (CHATDF_COPY_MAX_ROWS). Download CSV or parquet for all of them.`
          : `Copied ${formatCount(reply.rows)} rows as tab-separated values.`,
      );
    });

  const download = (format: "csv" | "parquet") =>
    run(format, async () => {
      const parts: BlobPart[] = [];
      let offset = 0;
      let filename = `result.${format}`;
      for (;;) {
        const { result: chunk, buffers } = await api.download(resultId, format, offset, sort, filters);
        const buffer = buffers[0];
        if (buffer) parts.push(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength).slice());
        offset += chunk.bytes;
        filename = chunk.filename;
        if (chunk.done || chunk.bytes === 0) break;
      }
      const url = URL.createObjectURL(new Blob(parts, { type: format === "csv" ? "text/csv" : "application/octet-stream" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = filename;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      notify(`Downloaded ${filename}.`);
    });

  const copyCode = () =>
    run("code", async () => {
      const { code } = await api.code(resultId);
      await copyText(code);
      notify("Copied the Polars code for this result.");
    });

  return (
    <>
      <button
        type="button"
        class="chatdf-btn chatdf-btn--quiet"
        aria-label="Copy all rows"
        disabled={disabled || working !== null}
        onClick={copyAll}
        title="Copy every row (tab-separated, raw values)"
      >
        <Icon name="copy" /> {working === "copy" ? "Copying…" : "Copy"}
      </button>
      <details class="chatdf-grid__menu">
        <summary class="chatdf-btn chatdf-btn--quiet" aria-label="Download">
          <Icon name="download" /> {working === "csv" || working === "parquet" ? "Downloading…" : "Download"}
        </summary>
        <div class="chatdf-grid__menu-items">
          <button type="button" class="chatdf-btn chatdf-btn--quiet" disabled={working !== null} onClick={() => void download("csv")}>
            CSV
          </button>
          <button type="button" class="chatdf-btn chatdf-btn--quiet" disabled={working !== null} onClick={() => void download("parquet")}>
            Parquet
          </button>
        </div>
      </details>
      <button
        type="button"
        class="chatdf-btn chatdf-btn--quiet"
        aria-label="Copy as code"
        disabled={working !== null}
        onClick={copyCode}
        title="Copy the Polars code that recreates this result (chat.code)"
      >
        <Icon name="code" /> Code
      </button>
    </>
  );
}

/**
 * "Export to variable": asks for a name, then the kernel puts the result in the notebook.
 * A name that already holds a variable is refused with reason "exists"; the user
 * confirms, and the request goes again with `overwrite`.
 */
function ExportButton({ resultId }: { resultId: string }) {
  const { api, notify } = useWidget();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("df");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [replace, setReplace] = useState<{ name: string; message: string } | null>(null);
  if (!open) {
    return (
      <button
        type="button"
        class="chatdf-btn chatdf-btn--quiet"
        aria-label="Export to variable"
        title="Put the whole result in a notebook variable"
        onClick={() => setOpen(true)}
      >
        <Icon name="arrow-down" /> Export
      </button>
    );
  }
  async function send(target: string, overwrite: boolean) {
    setBusy(true);
    setProblem(null);
    try {
      await api.exportResult(target, resultId, overwrite);
      notify(`Saved as the variable ${target}.`);
      setOpen(false);
      setProblem(null);
    } catch (err) {
      if (err instanceof RpcError && err.details.reason === "exists") {
        setReplace({ name: target, message: err.message });
      } else {
        setProblem(err instanceof Error ? err.message : String(err));
      }
    } finally {
      setBusy(false);
    }
  }
  function submit(e?: Event) {
    e?.preventDefault();
    const trimmed = name.trim();
    if (!isVariableName(trimmed)) {
      setProblem("Use a Python name: letters, digits and _, not starting with a digit.");
      return;
    }
    void send(trimmed, false);
  }
  const confirm = replace ? (
    <ConfirmDialog
      title="Replace variable?"
      message={replace.message}
      confirmLabel={`Replace ${replace.name}`}
      onConfirm={() => void send(replace.name, true)}
      onClose={() => setReplace(null)}
    />
  ) : null;
  return (
    <form class="chatdf-export" onSubmit={submit}>
      <label>
        <span class="chatdf-sr">Variable name</span>
        <input
          class="chatdf-input chatdf-input--small"
          value={name}
          aria-label="Variable name"
          aria-invalid={problem ? true : undefined}
          onInput={(e) => setName(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Handled here: in a notebook cell JupyterLab takes Enter before the form sees it.
            if (e.key === "Escape") setOpen(false);
            else if (e.key === "Enter" && !e.isComposing) submit(e);
            else return;
            e.preventDefault();
            e.stopPropagation();
          }}
          ref={(el) => el?.focus({ preventScroll: true })}
        />
      </label>
      <button type="submit" class="chatdf-btn" disabled={busy}>
        Export
      </button>
      <button type="button" class="chatdf-icon-btn" aria-label="Cancel export" onClick={() => setOpen(false)}>
        <Icon name="x" />
      </button>
      {problem ? (
        <span class="chatdf-field-error" role="alert">
          {problem}
        </span>
      ) : null}
      {confirm}
    </form>
  );
}
