/**
 * An in-memory stand-in for the model anywidget hands to `initialize`/`render`
 * in the browser: `get`/`set` with `change:` events, and custom messages in
 * both directions. Tests play the kernel through `kernelSends` and `sent`.
 */
import type { AnyModel } from "@anywidget/types";
import type { Limits, WidgetModel } from "../src/model";

/** What `chatdf.limits.for_browser()` sends in `_limits`. */
export const LIMITS: Limits = {
  question_chars: 2000,
  sql_chars: 100_000,
  name_chars: 63,
  name_pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
  page_rows: 50,
  max_page_rows: 500,
};

type Handler = (...args: any[]) => void;

export class ModelDouble<T extends Record<string, any> = WidgetModel> {
  /** What the browser sent to the kernel, oldest first. */
  readonly sent: { content: any; buffers?: unknown[] }[] = [];
  readonly #state: T;
  readonly #handlers = new Map<string, Set<Handler>>();

  constructor(state: T) {
    this.#state = { ...state };
  }

  get<K extends keyof T>(key: K): T[K] {
    return this.#state[key];
  }

  set<K extends keyof T>(key: K, value: T[K]): void {
    this.#state[key] = value;
    this.#emit(`change:${String(key)}`);
  }

  on(event: string, handler: Handler): void {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event)!.add(handler);
  }

  off(event?: string | null, handler?: Handler | null): void {
    if (!event) this.#handlers.clear();
    else if (!handler) this.#handlers.delete(event);
    else this.#handlers.get(event)?.delete(handler);
  }

  save_changes(): void {}

  send(content: any, _callbacks?: unknown, buffers?: unknown[]): void {
    this.sent.push({ content, buffers });
  }

  /** Deliver a custom message as if the kernel had sent it. */
  kernelSends(content: unknown, buffers: DataView[] = []): void {
    this.#emit("msg:custom", content, buffers);
  }

  listenerCount(event: string): number {
    return this.#handlers.get(event)?.size ?? 0;
  }

  get widget_manager(): never {
    throw new Error("not used by chatdf");
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const handler of [...(this.#handlers.get(event) ?? [])]) handler(...args);
  }

  asModel(): AnyModel<T> {
    return this as unknown as AnyModel<T>;
  }
}

/** A widget's synced state as a fresh kernel sends it, with `over` applied. */
export function widgetState(over: Partial<WidgetModel> = {}): WidgetModel {
  return {
    _datasets: [],
    _max_datasets: 20,
    _limits: LIMITS,
    _messages: [],
    _conversation: {},
    _conversations: [],
    _usage: {},
    _busy: false,
    _has_key: true,
    _account: {},
    _layout: {},
    theme: "system",
    ...over,
  };
}
