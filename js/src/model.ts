/**
 * The widget's synced traits as TypeScript sees them.
 *
 * Mirrors `chatdf/widget.py` and the records of `chatdf/messages.py`. Sync
 * direction: every underscored trait flows kernel -> browser only, except
 * `_layout`, which the browser writes (debounced, see app.tsx); `theme` flows
 * both ways. Result rows are never synced: they arrive as Arrow IPC pages over
 * custom messages (see requests.ts and grid/).
 */
import type { AnyModel } from "@anywidget/types";

export type Theme = "system" | "light" | "dark";

/** Plain-English column types, as `chatdf.models.friendly_type` names them. */
export type FriendlyType = "Text" | "Integer" | "Decimal" | "Date" | "Timestamp" | "Boolean" | "List" | "Struct" | "Other";

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

/**
 * What the kernel put in an `error`: a `ChatDFError.to_payload()`. The one error
 * type of the front end (request replies, cards, messages). Decide on
 * `details.reason`, never on the message text.
 */
export interface ErrorInfo {
  error_type: string;
  message: string;
  details?: ErrorDetails;
}

/** `details` of an error: a machine-readable `reason` plus fields that depend on it. */
export interface ErrorDetails {
  reason?: string;
  [field: string]: unknown;
}

/** Reasons meaning a result is no longer kept in the kernel (run its SQL again). */
const RESULT_GONE = new Set(["evicted", "unknown_result", "no_result"]);

export function isResultGone(details: ErrorDetails | undefined): boolean {
  return typeof details?.reason === "string" && RESULT_GONE.has(details.reason);
}

/** A dataset card: a registered dataset, or an add in flight or failed (`messages.dataset_card`). */
export interface DatasetCard extends Omit<Dataset, "row_count" | "column_count"> {
  /** The dataset name when ready; a card id while loading or after an error. */
  id: string;
  status: "loading" | "ready" | "error";
  error: ErrorInfo | null;
  row_count: number | null;
  column_count: number | null;
  /** The name asked for when the card was added (kept for Retry). */
  requested_name?: string | null;
}

/** A kept query result as the transcript refers to it (`messages.ResultRef`). */
export interface ResultRef {
  /** Empty when the result is known only from history (run its SQL again to see it). */
  id: string;
  sql: string;
  total_rows: number | null;
  column_count: number | null;
}

/** `messages.ChatMessage.chart`: `ChartRecord.summary()`. */
export interface ChartSummary {
  id: string;
  title: string | null;
  mark: string | null;
  rows: number;
  source_rows: number;
  result_id: string | null;
  reduced: boolean;
}

/** One transcript message (`messages.ChatMessage`). */
export interface ChatMessage {
  id: string;
  role: "user" | "assistant";
  text: string;
  status: "complete" | "streaming" | "stopped" | "error";
  sql: string[];
  result: ResultRef | null;
  /** The chart drawn for the answer (no data: the browser asks for it by id). */
  chart?: ChartSummary | null;
  error: ErrorInfo | null;
  /** On an assistant message: the question it answers, for "Try again". */
  question: string | null;
}

/** One line of the history list (`messages.conversation_item`). */
export interface ConversationItem {
  id: string;
  title: string | null;
  /** ISO 8601 with time zone. */
  updated_at: string;
  message_count: number;
  question_count?: number;
}

export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  cost: number;
}

/** Token usage over the rolling 24 hours (`chatdf.usage.UsageSummary`). */
export interface Usage {
  used: number;
  /** 0: unlimited. */
  limit: number;
  percent: number;
  remaining: number | null;
  resets_in_seconds: number;
  cost: number;
  per_model: Record<string, ModelUsage>;
  warning: boolean;
  exhausted: boolean;
}

/** Team mode: the chatdf gateway and who is signed in (email empty while signed out). */
export interface Account {
  team: boolean;
  gateway: string;
  email: string;
  name: string;
}

/** Which panels are collapsed, and the tab shown in a narrow container. */
export interface Layout {
  left?: boolean;
  right?: boolean;
  tab?: "chat" | "datasets" | "history";
  /** The widget's height in a cell after the person dragged its corner (px). */
  height?: number;
}

/** `chatdf.limits.for_browser()`. */
export interface Limits {
  /** Longest question, in characters. */
  question_chars: number;
  /** Longest SQL text, in characters. */
  sql_chars: number;
  /** Longest dataset name. */
  name_chars: number;
  /** What a dataset name must match (a JavaScript-compatible regular expression). */
  name_pattern: string;
  /** Rows per grid page. */
  page_rows: number;
  /** Most rows one page request may ask for. */
  max_page_rows: number;
}

/** Every synced trait of `chatdf.widget.ChatDF`. */
export interface WidgetModel {
  _datasets: DatasetCard[];
  /** How many datasets a session may hold (`CHATDF_MAX_DATASETS`). */
  _max_datasets: number;
  /** Limits the kernel enforces (`chatdf/limits.py`); read them, never repeat them. */
  _limits: Limits;
  _messages: ChatMessage[];
  /** `{id, title}` of the current conversation; empty before the first question. */
  _conversation: { id?: string; title?: string | null };
  _conversations: ConversationItem[];
  /** Empty until the kernel has read the store. */
  _usage: Partial<Usage>;
  _busy: boolean;
  /** A Gemini key is set or, in team mode, the person is signed in. */
  _has_key: boolean;
  /** Team mode only (empty otherwise); never holds a token. */
  _account: Partial<Account>;
  /** `schema`: privacy mode, the model sees no cell values (`CHATDF_PRIVACY`); absent means `full`. */
  _privacy?: "full" | "schema";
  _layout: Layout;
  theme: Theme;
}

export type Model = AnyModel<WidgetModel>;
