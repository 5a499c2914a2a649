/**
 * Request/response over anywidget's custom messages.
 *
 * Wire format (identical in `chatdf/widget.py`):
 *
 *   browser -> kernel   { id, type, ...params }        a request
 *   kernel -> browser   { id, result }                 its answer
 *                       { id, error: { error_type, message, details } }
 *                       { type, ...fields }            an event (no id), e.g. streamed chat
 *   browser -> kernel   { id, type: "cancel" }         the caller gave up on request `id`
 *
 * Binary payloads (Arrow IPC pages) travel in the message `buffers`, never in
 * the JSON. Ids are a per-page random prefix plus a counter:
 * `crypto.randomUUID` only exists in secure contexts, and JupyterLab is often
 * served over plain http.
 */
import type { AnyModel } from "@anywidget/types";
import type { ErrorDetails, ErrorInfo } from "./model";

/** A request that failed: refused or failed in the kernel, timed out, or cancelled. */
export class RpcError extends Error {
  readonly errorType: string;
  readonly details: ErrorDetails;

  constructor(message: string, errorType: string, details: ErrorDetails = {}) {
    super(message);
    this.name = "RpcError";
    this.errorType = errorType;
    this.details = details;
  }
}

export interface Reply<T> {
  result: T;
  buffers: DataView[];
}

export interface RequestOptions {
  /** Give up after this many milliseconds (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** Aborting it rejects the request and asks the kernel to cancel it. */
  signal?: AbortSignal;
  buffers?: ArrayBuffer[] | ArrayBufferView[];
}

type EventHandler = (event: Record<string, unknown>, buffers: DataView[]) => void;

interface Pending {
  resolve: (reply: Reply<unknown>) => void;
  reject: (error: RpcError) => void;
}

const PREFIX = Math.random().toString(36).slice(2, 10);
let counter = 0;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** One client per model: correlates replies with requests and fans out events. */
export class RpcClient {
  /** Requests waiting for their reply, by id. */
  readonly #pending = new Map<string, Pending>();
  /** Event handlers by event `type`. */
  readonly #handlers = new Map<string, Set<EventHandler>>();
  readonly #model: AnyModel;
  readonly #timeoutMs: number;
  readonly #listener = (msg: unknown, buffers: DataView[] = []) => this.#receive(msg, buffers);

  constructor(model: AnyModel, { timeoutMs = 30_000 }: { timeoutMs?: number } = {}) {
    this.#model = model;
    this.#timeoutMs = timeoutMs;
    model.on("msg:custom", this.#listener);
  }

  /** Requests that have not been answered yet. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Send `{ id, type, ...params }` and resolve with the kernel's `result`. */
  request<T>(type: string, params: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<Reply<T>> {
    const id = `${PREFIX}-${++counter}`;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise<Reply<T>>((resolve, reject) => {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      if (signal.aborted) {
        reject(new RpcError("The request was cancelled before it was sent.", "cancelled"));
        return;
      }
      const onAbort = () => {
        this.#pending.delete(id);
        // Let the kernel stop work nobody is waiting for any more.
        this.#model.send({ id, type: "cancel" });
        reject(
          timeout.aborted
            ? new RpcError(`The kernel did not answer "${type}" within ${timeoutMs / 1000} s.`, "timeout")
            : new RpcError("The request was cancelled.", "cancelled"),
        );
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (reply) => {
          signal.removeEventListener("abort", onAbort);
          resolve(reply as Reply<T>);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      this.#model.send({ ...params, id, type }, undefined, options.buffers);
    });
  }

  /** Call `handler` for every kernel event of this `type`; returns the unsubscribe. */
  on(type: string, handler: EventHandler): () => void {
    let handlers = this.#handlers.get(type);
    if (!handlers) {
      handlers = new Set();
      this.#handlers.set(type, handlers);
    }
    handlers.add(handler);
    return () => handlers.delete(handler);
  }

  /** Stop listening and reject whatever is still waiting. */
  dispose(): void {
    this.#model.off("msg:custom", this.#listener);
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(new RpcError("The widget was closed.", "cancelled"));
    }
    this.#handlers.clear();
  }

  #receive(msg: unknown, buffers: DataView[]): void {
    if (!isObject(msg)) return;
    if (typeof msg.id === "string") {
      const pending = this.#pending.get(msg.id);
      // A late reply to a request that timed out or was cancelled.
      if (!pending) return;
      this.#pending.delete(msg.id);
      if (isObject(msg.error)) {
        const error = msg.error as Partial<ErrorInfo>;
        pending.reject(
          new RpcError(
            String(error.message ?? "The kernel reported an error."),
            String(error.error_type ?? "error"),
            isObject(error.details) ? error.details : {},
          ),
        );
      } else {
        pending.resolve({ result: msg.result, buffers });
      }
      return;
    }
    if (typeof msg.type === "string") {
      for (const handler of this.#handlers.get(msg.type) ?? []) handler(msg, buffers);
    }
  }
}

const clients = new WeakMap<AnyModel, RpcClient>();

/** The model's client, created by `initialize` and shared by all its views. */
export function rpcFor(model: AnyModel): RpcClient {
  let client = clients.get(model);
  if (!client) {
    client = new RpcClient(model);
    clients.set(model, client);
  }
  return client;
}

/** Dispose of the model's client (from `initialize`'s cleanup). */
export function closeRpc(model: AnyModel): void {
  clients.get(model)?.dispose();
  clients.delete(model);
}
