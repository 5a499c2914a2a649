/**
 * The widget's synced traits as TypeScript sees them.
 *
 * Mirrors `chatdf/widget.py`. Sync direction: `_datasets`, `_max_datasets`
 * and `_status` flow kernel -> browser only; `theme` flows both ways (the
 * settings menu writes it). Result rows are never synced; they arrive as
 * pages over custom messages (see rpc.ts).
 */
import type { AnyModel } from "@anywidget/types";

export type Theme = "system" | "light" | "dark";

/** Plain-English column types, as `chatdf.models.friendly_type` names them. */
export type FriendlyType =
  | "Text"
  | "Integer"
  | "Decimal"
  | "Date"
  | "Timestamp"
  | "Boolean"
  | "List"
  | "Struct"
  | "Other";

/** One column of a dataset (`chatdf.models.ColumnInfo`). */
export interface ColumnInfo {
  name: string;
  /** Polars dtype as text, e.g. `Int64` or `Datetime(time_unit='us', time_zone=None)`. */
  dtype: string;
  friendly: FriendlyType;
}

/** One registered dataset (`chatdf.models.Dataset.model_dump()`). */
export interface Dataset {
  name: string;
  /** URL, path or glob; `<DataFrame>` for in-memory data. */
  source: string;
  kind: "url" | "parquet" | "csv" | "frame";
  row_count: number;
  column_count: number;
  columns: ColumnInfo[];
}

/** Every synced trait of `chatdf.widget.ChatDF`. */
export interface WidgetModel {
  _datasets: Dataset[];
  /** How many datasets a session may hold (`CHATDF_MAX_DATASETS`). */
  _max_datasets: number;
  /** One line about what the kernel is doing; empty when idle. */
  _status: string;
  theme: Theme;
}

export type Model = AnyModel<WidgetModel>;
