/**
 * The answer being streamed, built from the kernel's chat events.
 *
 * The kernel forwards every controller event as `{type: "event", message_id,
 * event}` (see `ChatDF._forward_event`). Tokens are not synced state: they
 * accumulate here, per model, so every view of the widget shows the same text.
 * When the turn ends the kernel writes the final message into `_messages`, and
 * views switch to that.
 */
import type { RpcClient } from "../rpc";
import type { PhaseEvent, WireEvent } from "../wire.gen";

export type Phase = "thinking" | "running_query" | "preparing_response" | "writing";

/** A controller event as JSON (`chatdf/events.py`, typed in `wire.gen.ts`). */
export type ChatEvent = WireEvent;

export interface LiveTurn {
  messageId: string;
  text: string;
  phase: Phase | null;
  /** The query running now (during `running_query`). */
  sql: string | null;
  /** The kernel said the turn is taking longer than expected. */
  slow: boolean;
  done: boolean;
  /** The last query's result, shown as soon as the query finishes (before the prose). */
  result: { id: string; sql: string; total_rows: number | null; column_count: null } | null;
}

export function emptyTurn(messageId: string): LiveTurn {
  return { messageId, text: "", phase: "thinking", sql: null, slow: false, done: false, result: null };
}

/** The turn after one more event (pure). */
export function applyEvent(turn: LiveTurn, event: ChatEvent): LiveTurn {
  switch (event.type) {
    case "token":
      // Text arriving means the model is writing, whatever phase came before.
      return { ...turn, text: turn.text + (event.text ?? ""), phase: turn.done ? null : "writing", sql: null };
    case "phase":
      return { ...turn, phase: event.phase ?? turn.phase, sql: event.phase === "running_query" ? (event.sql ?? null) : null };
    case "tool_call_finished": {
      const id = event.result_id;
      if (typeof id !== "string" || !id) return turn;
      const sql = typeof event.sql === "string" ? event.sql : (turn.result?.sql ?? "");
      const rows = typeof event.total_rows === "number" ? event.total_rows : null;
      return { ...turn, result: { id, sql, total_rows: rows, column_count: null } };
    }
    case "slow":
      return { ...turn, slow: true };
    case "answer":
      return { ...turn, text: typeof event.text === "string" ? event.text : turn.text, done: true, phase: null };
    default:
      return turn;
  }
}

/**
 * What the loading indicator says for a turn; null once the turn is done (so
 * nothing flashes between the last event and the final message).
 */
export function phaseLabel(turn: Pick<LiveTurn, "phase" | "slow"> & { done?: boolean }): string | null {
  if (turn.done) return null;
  if (turn.slow) return "Taking longer than expected…";
  switch (turn.phase) {
    case "running_query":
      return "Running query…";
    case "preparing_response":
      return "Reading the result…";
    case "writing":
      return "Writing the answer…";
    case null:
      return null;
    default:
      return "Thinking…";
  }
}

type Listener = () => void;

/** Live turns of one model, shared by its views. */
export class LiveStore {
  readonly #turns = new Map<string, LiveTurn>();
  readonly #listeners = new Set<Listener>();
  readonly #unsubscribe: () => void;

  constructor(rpc: RpcClient) {
    this.#unsubscribe = rpc.on("event", (msg) => {
      const messageId = msg.message_id;
      const event = msg.event as ChatEvent | undefined;
      if (typeof messageId !== "string" || !event || typeof event.type !== "string") return;
      if (!this.#turns.has(messageId)) {
        // A new turn: earlier ones are final in `_messages` by now.
        for (const [id, turn] of this.#turns) if (turn.done) this.#turns.delete(id);
      }
      this.#turns.set(messageId, applyEvent(this.#turns.get(messageId) ?? emptyTurn(messageId), event));
      for (const listener of this.#listeners) listener();
    });
  }

  get(messageId: string): LiveTurn | undefined {
    return this.#turns.get(messageId);
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  dispose(): void {
    this.#unsubscribe();
    this.#listeners.clear();
  }
}
