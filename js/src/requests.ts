/**
 * Typed requests to the kernel. Each `type` string is the same as the pydantic
 * model's in `chatdf/messages.py`, whose handler is `ChatDF._on_<type>`.
 */
import type { ConversationItem, Dataset, DatasetCard, ResultRef } from "./model";
import type { Reply, RpcClient } from "./rpc";

/** One sorted column; the kernel sorts the whole result, nulls last. */
export interface SortSpec {
  column: string;
  descending: boolean;
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

/** Long enough for a slow URL or a sort of ten million rows. */
const SLOW_MS = 120_000;

export class Api {
  constructor(readonly rpc: RpcClient) {}

  async #call<T>(type: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    const reply = await this.rpc.request<T>(type, params, timeoutMs ? { timeoutMs } : {});
    return reply.result;
  }

  sync = () => this.#call<{ busy: boolean }>("sync");
  ask = (question: string) => this.#call<{ message_id: string }>("ask", { question });
  stop = () => this.#call<{ stopped: boolean }>("stop");

  /** Team mode: a new sign-in at the gateway; open `url` and check it shows `user_code`. */
  signIn = () => this.#call<{ url: string; user_code: string }>("sign_in");
  signOut = () => this.#call<Record<string, never>>("sign_out");
  /** A Gemini key for this kernel session only: the kernel keeps it in memory, never in state. */
  setKey = (key: string) => this.#call<Record<string, never>>("set_key", { key });

  addDataset = (source: string, name?: string | null, card?: string) =>
    this.#call<DatasetCard>("add_dataset", { source, name: name || null, card: card ?? null }, SLOW_MS);
  loadSample = () => this.#call<DatasetCard>("load_sample", {}, SLOW_MS);
  removeDataset = (name: string) => this.#call<{ removed: string }>("remove_dataset", { name });
  renameDataset = (old: string, name: string) => this.#call<DatasetCard>("rename_dataset", { old, new: name });
  refreshDataset = (name: string) => this.#call<DatasetCard>("refresh_dataset", { name }, SLOW_MS);
  schema = (name: string) => this.#call<Dataset>("schema", { name });
  /** Null counts and a few sample values per column, computed in a worker. */
  columnStats = (name: string) =>
    this.#call<{ columns: { name: string; nulls: number; samples: string[] }[] }>("column_stats", { name }, SLOW_MS);

  page(resultId: string, offset: number, limit: number, sort: SortSpec | null, signal?: AbortSignal): Promise<Reply<PageHeader>> {
    return this.rpc.request<PageHeader>("page", { result_id: resultId, offset, limit, sort }, { timeoutMs: SLOW_MS, signal });
  }
  runSql = (sql: string, messageId: string | null) =>
    this.#call<ResultRef & { elapsed_ms: number }>("run_sql", { sql, message_id: messageId }, SLOW_MS);
  /** `overwrite`: replace an existing variable (the kernel refuses with reason "exists" otherwise). */
  exportResult = (name: string, resultId: string, overwrite = false) =>
    this.#call<{ name: string }>("export", { name, result_id: resultId, overwrite }, SLOW_MS);

  newChat = () => this.#call<Record<string, never>>("new_chat");
  openConversation = (id: string) => this.#call<{ id: string }>("open_conversation", { conversation_id: id }, SLOW_MS);
  renameConversation = (id: string, title: string) =>
    this.#call<ConversationItem>("rename_conversation", { conversation_id: id, title });
  deleteConversation = (id: string) => this.#call<Record<string, never>>("delete_conversation", { conversation_id: id });
  clearHistory = () => this.#call<{ removed: number }>("clear_history");
}
