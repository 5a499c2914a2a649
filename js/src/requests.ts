/**
 * Typed requests to the kernel. Each request's type and fields come from the
 * pydantic models in `chatdf/messages.py` (`wire.gen.ts`, generated), whose
 * handler is `ChatDF._on_<type>`: a field the kernel would refuse does not compile.
 */
import type { ConversationItem, Dataset, DatasetCard, ResultRef } from "./model";
import type { ChartHeader } from "./chart/api";
import type { Reply, RequestOptions, RpcClient } from "./rpc";
import type { RequestParams, RequestType, SortSpec } from "./wire.gen";

export type { SortSpec };

/** One per-column filter, applied by the kernel to the whole result (like a sort). */
export interface FilterSpec {
  column: string;
  op: "contains" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "is_null" | "not_null";
  value?: string | null;
}

/** A column's summary over the whole (filtered) result (`chatdf/result_tools.py`). */
export interface ColumnSummary {
  column: string;
  dtype: string;
  rows: number;
  nulls: number;
  distinct: number | null;
  min: string | number | boolean | null;
  max: string | number | boolean | null;
  histogram: { low: number; high: number; counts: number[] } | null;
  top: { value: string | number | boolean | null; count: number }[] | null;
}

/** "Copy all": the view as tab-separated text, cut at `limit` rows (`CHATDF_COPY_MAX_ROWS`). */
export interface CopyAllReply {
  text: string;
  rows: number;
  total_rows: number;
  truncated: boolean;
  limit: number;
}

/** One chunk of a download; the bytes are the buffer. */
export interface DownloadChunk {
  offset: number;
  size: number;
  bytes: number;
  done: boolean;
  filename: string;
}

/** The JSON part of a page reply; the rows are the Arrow IPC buffer. */
export interface PageHeader {
  result_id: string;
  offset: number;
  rows: number;
  total_rows: number;
  columns: { name: string; dtype: string; friendly: string }[];
  sort: SortSpec | null;
  bytes: number;
}

/** Long enough for a slow URL or a sort of ten million rows (or binning them for a chart). */
const SLOW_MS = 120_000;

export class Api {
  constructor(readonly rpc: RpcClient) {}

  /** Request `type` with its fields (checked against the kernel's schema); `T` is the reply. */
  #call<T>(): <K extends RequestType>(type: K, params: RequestParams<K>, timeoutMs?: number) => Promise<T> {
    return async (type, params, timeoutMs) => {
      const reply = await this.rpc.request<T>(type, { ...params }, timeoutMs ? { timeoutMs } : {});
      return reply.result;
    };
  }

  /** The same check for a reply that carries buffers (pages, downloads, charts): the whole `Reply`. */
  #reply<T>(): <K extends RequestType>(type: K, params: RequestParams<K>, options?: RequestOptions) => Promise<Reply<T>> {
    return (type, params, options) => this.rpc.request<T>(type, { ...params }, options);
  }

  sync = () => this.#call<{ busy: boolean }>()("sync", {});
  ask = (question: string) => this.#call<{ message_id: string }>()("ask", { question });
  stop = () => this.#call<{ stopped: boolean }>()("stop", {});

  /** Team mode: a new sign-in at the gateway; open `url` and check it shows `user_code`. */
  signIn = () => this.#call<{ url: string; user_code: string }>()("sign_in", {});
  signOut = () => this.#call<Record<string, never>>()("sign_out", {});
  /** A Gemini key for this kernel session only: the kernel keeps it in memory, never in state. */
  setKey = (key: string) => this.#call<Record<string, never>>()("set_key", { key });

  addDataset = (source: string, name?: string | null, card?: string) =>
    this.#call<DatasetCard>()("add_dataset", { source, name: name || null, card: card ?? null }, SLOW_MS);
  loadSample = () => this.#call<DatasetCard>()("load_sample", {}, SLOW_MS);
  removeDataset = (name: string) => this.#call<{ removed: string }>()("remove_dataset", { name });
  renameDataset = (old: string, name: string) => this.#call<DatasetCard>()("rename_dataset", { old, new: name });
  refreshDataset = (name: string) => this.#call<DatasetCard>()("refresh_dataset", { name }, SLOW_MS);
  schema = (name: string) => this.#call<Dataset>()("schema", { name });
  /** Null counts and a few sample values per column, computed in a worker. */
  columnStats = (name: string) =>
    this.#call<{ columns: { name: string; nulls: number; samples: string[] }[] }>()("column_stats", { name }, SLOW_MS);

  page(
    resultId: string,
    offset: number,
    limit: number,
    sort: SortSpec | null,
    filters: FilterSpec[] = [],
    signal?: AbortSignal,
  ): Promise<Reply<PageHeader>> {
    return this.#reply<PageHeader>()("page", { result_id: resultId, offset, limit, sort, filters }, { timeoutMs: SLOW_MS, signal });
  }
  summary = (resultId: string, column: string, filters: FilterSpec[]) =>
    this.#call<ColumnSummary>()("summary", { result_id: resultId, column, filters }, SLOW_MS);
  copyAll = (resultId: string, sort: SortSpec | null, filters: FilterSpec[]) =>
    this.#call<CopyAllReply>()("copy_all", { result_id: resultId, sort, filters }, SLOW_MS);
  download(resultId: string, format: "csv" | "parquet", offset: number, sort: SortSpec | null, filters: FilterSpec[]) {
    return this.#reply<DownloadChunk>()("download", { result_id: resultId, format, offset, sort, filters }, { timeoutMs: SLOW_MS });
  }
  /** A kept chart (the model's, by the id in its message): the spec with its data in the buffer. */
  chart = (chartId: string) => this.#reply<ChartHeader>()("chart", { chart_id: chartId }, { timeoutMs: SLOW_MS });
  /** The user's own spec over a kept result, checked and bound by the kernel (no model call). */
  /** `messageId`: the answer it is drawn under; the chart becomes that answer's saved chart. */
  drawChart = (resultId: string, spec: Record<string, unknown>, messageId: string | null = null) =>
    this.#reply<ChartHeader>()("draw_chart", { result_id: resultId, spec, message_id: messageId }, { timeoutMs: SLOW_MS });
  /** Give an answer a kept chart back, or none (closing "Chart this"); saved with it too. */
  setAnswerChart = (messageId: string, chartId: string | null) =>
    this.#call<{ chart: unknown }>()("set_answer_chart", { message_id: messageId, chart_id: chartId });
  code = (resultId: string) => this.#call<{ code: string }>()("code", { result_id: resultId }, SLOW_MS);
  runSql = (sql: string, messageId: string | null) =>
    this.#call<ResultRef & { elapsed_ms: number }>()("run_sql", { sql, message_id: messageId }, SLOW_MS);
  /** `overwrite`: replace an existing variable (the kernel refuses with reason "exists" otherwise). */
  exportResult = (name: string, resultId: string, overwrite = false) =>
    this.#call<{ name: string }>()("export", { name, result_id: resultId, overwrite }, SLOW_MS);

  newChat = () => this.#call<Record<string, never>>()("new_chat", {});
  openConversation = (id: string) => this.#call<{ id: string }>()("open_conversation", { conversation_id: id }, SLOW_MS);
  renameConversation = (id: string, title: string) =>
    this.#call<ConversationItem>()("rename_conversation", { conversation_id: id, title });
  deleteConversation = (id: string) => this.#call<Record<string, never>>()("delete_conversation", { conversation_id: id });
  clearHistory = () => this.#call<{ removed: number }>()("clear_history", {});
}
