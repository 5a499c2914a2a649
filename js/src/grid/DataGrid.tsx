/**
 * The result grid: one page of a kept result at a time, asked from the kernel.
 *
 * Sorting happens in the kernel over the whole result (`chatdf/grid.py`); this
 * component keeps the sort, the page index and a small cache of decoded pages,
 * and prefetches the next page so "Next" renders at once. TanStack's table core
 * owns headers, cells and column sizes (resize by drag, fit by double-click).
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
import type { ResultRef } from "../model";
import type { PageHeader, SortSpec } from "../requests";
import { RpcError } from "../rpc";
import { ConfirmDialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { formatRange } from "../utils/format";
import { decodePage } from "./arrow";
import { cellText, isNumeric, isVariableName, nextSort, PAGE_ROWS, pageCount, pageKey, pageLabel, toTsv } from "./paging";

const features = tableFeatures({
  coreReactivityFeature: storeReactivityBindings(),
  columnSizingFeature,
  columnResizingFeature,
  rowSortingFeature,
});

type Row = unknown[];

interface Loaded {
  header: PageHeader;
  rows: Row[];
}

const MIN_WIDTH = 50;
const MAX_INITIAL_WIDTH = 320;

/** A first width from the header and the first page's text (about 7.5 px a character). */
function initialWidth(name: string, rows: Row[], index: number, cap = MAX_INITIAL_WIDTH): number {
  let chars = name.length + 3; // room for the sort icon
  for (const row of rows.slice(0, 50)) chars = Math.max(chars, (cellText(row[index]) ?? "null").length);
  return Math.min(cap, Math.max(70, Math.round(chars * 7.5 + 24)));
}

/** In a narrow container (the 250 px sidebar) no first width exceeds half of it, so two columns show. */
function widthCap(container: HTMLElement | null): number {
  const width = container?.clientWidth ?? 0;
  return width > 0 ? Math.max(70, Math.min(MAX_INITIAL_WIDTH, Math.floor((width - 2) / 2))) : MAX_INITIAL_WIDTH;
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
  const [sort, setSort] = useState<SortSpec | null>(null);
  const [page, setPage] = useState(0);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<RpcError | null>(null);
  const [loading, setLoading] = useState(false);
  const [, setTick] = useState(0);
  const cache = useRef(new Map<string, Promise<Loaded>>());
  const clickedAt = useRef<number | null>(null);
  const rootRef = useRef<HTMLDivElement>(null);

  // A new result (e.g. edited SQL was run): start over.
  useEffect(() => {
    cache.current = new Map();
    setPage(0);
    setSort(null);
    setLoaded(null);
    setError(null);
  }, [result.id]);

  function fetchPage(s: SortSpec | null, p: number): Promise<Loaded> {
    const key = pageKey(s, p);
    let pending = cache.current.get(key);
    if (!pending) {
      pending = api.page(result.id, p * PAGE_ROWS, PAGE_ROWS, s).then(({ result: header, buffers }) => {
        const decoded = buffers[0] ? decodePage(buffers[0]) : { columns: [], rows: [] };
        return { header, rows: decoded.rows };
      });
      pending.catch(() => cache.current.delete(key));
      cache.current.set(key, pending);
    }
    return pending;
  }

  useEffect(() => {
    if (!result.id) return;
    let current = true;
    setLoading(true);
    fetchPage(sort, page).then(
      (data) => {
        if (!current) return;
        setLoaded(data);
        setError(null);
        setLoading(false);
        if ((page + 1) * PAGE_ROWS < data.header.total_rows) fetchPage(sort, page + 1).catch(() => {});
      },
      (err: unknown) => {
        if (!current) return;
        setError(err instanceof RpcError ? err : new RpcError(String(err), "error"));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [result.id, sort, page]);

  // How long "Next" took to show rows (read by bench/ui.py).
  useLayoutEffect(() => {
    if (clickedAt.current !== null && loaded && rootRef.current) {
      rootRef.current.dataset.pageMs = (performance.now() - clickedAt.current).toFixed(2);
      clickedAt.current = null;
    }
  }, [loaded]);

  const columnsKey = loaded ? JSON.stringify(loaded.header.columns) : "";
  const columns = useMemo<ColumnDef<typeof features, Row>[]>(
    () =>
      (loaded?.header.columns ?? []).map((c, i) => ({
        id: String(i),
        header: c.name,
        accessorFn: (row: Row) => row[i],
        size: initialWidth(c.name, loaded?.rows ?? [], i, widthCap(rootRef.current)),
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
  table.setOptions((old) => ({ ...old, data: loaded?.rows ?? [] }));

  if (!result.id || (error && error.message.includes("no longer kept"))) {
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
  const pages = pageCount(total);
  const names = loaded?.header.columns.map((c) => c.name) ?? [];

  function go(p: number) {
    clickedAt.current = performance.now();
    setPage(Math.max(0, Math.min(pages - 1, p)));
  }

  function sortBy(name: string) {
    setSort((s) => nextSort(s, name));
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
  return (
    <div class="chatdf-grid" ref={rootRef} aria-busy={loading}>
      {error ? (
        <p class="chatdf-grid__error" role="alert">
          {error.message}
        </p>
      ) : null}
      <div class="chatdf-grid__scroll">
        <table class="chatdf-grid__table" style={{ width: `${table.getTotalSize()}px` }}>
          <thead>
            <tr>
              {headerGroup?.headers.map((header) => {
                const meta = loaded?.header.columns[Number(header.column.id)];
                const sorted = sort && meta && sort.column === meta.name ? (sort.descending ? "descending" : "ascending") : undefined;
                return (
                  <th
                    key={header.id}
                    data-col={header.column.id}
                    style={{ width: `${header.getSize()}px` }}
                    aria-sort={sorted ?? "none"}
                    class={meta && isNumeric(meta.friendly) ? "chatdf-num" : undefined}
                  >
                    <button
                      type="button"
                      class="chatdf-grid__sort"
                      title={meta ? `${meta.name} · ${meta.dtype} — click to sort` : undefined}
                      onClick={() => meta && sortBy(meta.name)}
                    >
                      <span class="chatdf-grid__name">{meta?.name}</span>
                      <Icon name={sorted === "ascending" ? "sort-asc" : sorted === "descending" ? "sort-desc" : "sort"} />
                    </button>
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
            {rows.map((row) => (
              <tr key={row.id}>
                {row.getAllCells().map((cell) => {
                  const meta = loaded?.header.columns[Number(cell.column.id)];
                  const text = cellText(cell.getValue());
                  return (
                    <td
                      key={cell.id}
                      data-col={cell.column.id}
                      class={meta && isNumeric(meta.friendly) ? "chatdf-num" : undefined}
                      title={text !== null && text.length > 24 ? text : undefined}
                    >
                      {text === null ? <span class="chatdf-null">null</span> : <span>{text}</span>}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        {loaded && total === 0 ? <p class="chatdf-grid__empty">No results</p> : null}
        {!loaded && loading ? <p class="chatdf-grid__empty">Loading rows…</p> : null}
      </div>
      <div class="chatdf-grid__footer">
        <span class="chatdf-grid__range" aria-live="polite">
          {formatRange(page * PAGE_ROWS, loaded?.rows.length ?? 0, total)}
        </span>
        <span class="chatdf-grid__pager">
          <button type="button" class="chatdf-icon-btn" aria-label="Previous page" disabled={page === 0} onClick={() => go(page - 1)}>
            <Icon name="chevron-left" />
          </button>
          <span class="chatdf-grid__page">{pageLabel(page, total)}</span>
          <button type="button" class="chatdf-icon-btn" aria-label="Next page" disabled={page >= pages - 1} onClick={() => go(page + 1)}>
            <Icon name="chevron-right" />
          </button>
        </span>
        <span class="chatdf-grid__actions">
          <button
            type="button"
            class="chatdf-btn chatdf-btn--quiet"
            disabled={!loaded}
            onClick={async () => {
              await copyText(toTsv(names, loaded?.rows ?? []));
              notify("Copied this page as tab-separated values.");
            }}
          >
            <Icon name="copy" /> Copy table
          </button>
          <ExportButton resultId={result.id} />
          {actions}
        </span>
      </div>
    </div>
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
      <button type="button" class="chatdf-btn chatdf-btn--quiet" onClick={() => setOpen(true)}>
        <Icon name="download" /> Export to variable
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
