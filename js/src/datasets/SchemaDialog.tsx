/** A dataset's schema: rename (SQL identifier rules), shape, columns with friendly types, refresh. */
import { useEffect, useState } from "preact/hooks";
import { useWidget } from "../context";
import { tableNameProblem, useLimits } from "../limits";
import type { ColumnInfo, DatasetCard } from "../model";
import { Dialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { formatCount, formatShape } from "../utils/format";


interface Props {
  dataset: DatasetCard;
  onRenamed: (name: string) => void;
  onClose: () => void;
}

export function SchemaDialog({ dataset, onRenamed, onClose }: Props) {
  const { api } = useWidget();
  const limits = useLimits();
  const [name, setName] = useState(dataset.name);
  const [problem, setProblem] = useState<string | null>(null);
  const [columns, setColumns] = useState<ColumnInfo[]>(dataset.columns);
  const [refreshing, setRefreshing] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [stats, setStats] = useState<Map<string, { nulls: number; samples: string[] }> | null>(null);
  const current = dataset.name;

  // Null counts and samples come from a query in a worker; the names show meanwhile.
  useEffect(() => {
    let live = true;
    api.columnStats(current).then(
      (r) => live && setStats(new Map(r.columns.map((c) => [c.name, c]))),
      () => live && setStats(new Map()),
    );
    return () => {
      live = false;
    };
  }, [current, columns]);

  // Synced cards carry at most 100 columns: ask for the rest.
  useEffect(() => {
    if ((dataset.column_count ?? 0) > dataset.columns.length) {
      api.schema(dataset.name).then((d) => setColumns(d.columns), () => {});
    }
  }, []);

  useEffect(() => setColumns(dataset.columns), [dataset.columns]);

  async function rename(e: Event) {
    e.preventDefault();
    const wanted = name.trim();
    if (wanted === current) return;
    const local = tableNameProblem(wanted, limits);
    if (local) {
      setProblem(local);
      return;
    }
    try {
      const card = await api.renameDataset(current, wanted);
      onRenamed(card.name);
      setProblem(null);
      setSaved(`Renamed to ${card.name}.`);
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    }
  }

  async function refresh() {
    setRefreshing(true);
    try {
      const card = await api.refreshDataset(current);
      setColumns(card.columns);
      setSaved("Schema refreshed.");
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    } finally {
      setRefreshing(false);
    }
  }

  return (
    <Dialog
      title={`Dataset ${current}`}
      onClose={onClose}
      class="chatdf-schema"
      footer={
        <button type="button" class="chatdf-btn" onClick={refresh} disabled={refreshing}>
          <Icon name="refresh" /> {refreshing ? "Refreshing…" : "Refresh schema"}
        </button>
      }
    >
      <form class="chatdf-rename" onSubmit={rename}>
        <label class="chatdf-field">
          <span class="chatdf-field__label">Table name</span>
          <span class="chatdf-rename__row">
            <input
              class="chatdf-input"
              value={name}
              aria-invalid={problem ? true : undefined}
              aria-describedby="chatdf-rename-help"
              onInput={(e) => {
                setName(e.currentTarget.value);
                setSaved(null);
              }}
            />
            <button type="submit" class="chatdf-btn" disabled={name.trim() === current}>
              Rename
            </button>
          </span>
        </label>
        <p id="chatdf-rename-help" class={problem ? "chatdf-field-error" : "chatdf-field__help"} role={problem ? "alert" : undefined}>
          {problem ?? saved ?? "Used in SQL: letters, digits and _, not starting with a digit."}
        </p>
      </form>
      <p class="chatdf-schema__shape">{formatShape(dataset.row_count, dataset.column_count, true)}</p>
      <p class="chatdf-schema__source" title={dataset.source}>
        {dataset.source}
      </p>
      <ul class="chatdf-columns" aria-label={`Columns of ${current}`}>
        {columns.map((column) => {
          const s = stats?.get(column.name);
          return (
            <li key={column.name} class="chatdf-column">
              <span class="chatdf-column__head">
                <span class="chatdf-column__name">{column.name}</span>
                <span class="chatdf-column__type" title={column.dtype}>
                  {column.friendly}
                </span>
              </span>
              <span class="chatdf-column__stats">
                {stats === null
                  ? "Counting nulls…"
                  : s
                    ? `${s.nulls === 0 ? "no nulls" : `${formatCount(s.nulls)} null${s.nulls === 1 ? "" : "s"}`}${
                        s.samples.length ? ` · e.g. ${s.samples.join(", ")}` : ""
                      }`
                    : ""}
              </span>
            </li>
          );
        })}
      </ul>
    </Dialog>
  );
}
