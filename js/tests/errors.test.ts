import { describe, expect, it } from "vitest";
import { applyEvent, emptyTurn, phaseLabel } from "../src/state/live";
import { errorRange, humanError } from "../src/utils/errors";

describe("errors in words", () => {
  it("turns a raw Polars column error into a sentence, keeping the raw text as details", () => {
    const raw = 'unable to find column "regoin"; valid columns: ["region", "amount", "day"]';
    expect(humanError(raw, "sql")).toEqual({ title: 'The query uses a column that does not exist: "regoin".', detail: raw });
  });

  it("capitalizes and cuts other raw messages; leaves kernel sentences alone", () => {
    expect(humanError("sql parser error: expected ident\nat line 3", "sql").title).toBe("The query failed: sql parser error: expected ident.");
    const plain = "The query ran out of memory in its worker.";
    expect(humanError(plain, "memory")).toEqual({ title: plain, detail: null });
    const limit = "Gemini rate limit or quota reached (429 RESOURCE_EXHAUSTED: quota). Try again in about 42 s.";
    expect(humanError(limit, "rate_limit")).toEqual({ title: "Gemini's rate limit or quota was reached.", detail: limit });
  });

  it("finds the error position from line/column or the missing column", () => {
    const sql = "SELECT regoin,\n  SUM(amount)\nFROM sales";
    expect(errorRange(sql, {}, 'unable to find column "regoin"; valid columns: []')).toEqual({ from: 7, to: 13 });
    expect(errorRange(sql, { line: 2, column: 5 }, "Could not parse")).toEqual({ from: 17, to: 20 });
    expect(errorRange(sql, {}, "something else")).toBeNull();
  });
});

describe("phase labels", () => {
  it("follow the turn and show the result before the prose", () => {
    let turn = emptyTurn("m");
    expect(phaseLabel(turn)).toBe("Thinking…");
    turn = applyEvent(turn, { type: "phase", phase: "running_query", sql: "SELECT 1" });
    expect(phaseLabel(turn)).toBe("Running query…");
    turn = applyEvent(turn, { type: "tool_call_finished", call_id: "c1", name: "execute_sql", result_id: "r1", sql: "SELECT 1", total_rows: 1 });
    expect(turn.result).toEqual({ id: "r1", sql: "SELECT 1", total_rows: 1, column_count: null });
    turn = applyEvent(turn, { type: "phase", phase: "preparing_response" });
    expect(phaseLabel(turn)).toBe("Reading the result…");
    turn = applyEvent(turn, { type: "token", text: "Here" });
    expect(phaseLabel(turn)).toBe("Writing the answer…");
    turn = applyEvent(turn, { type: "answer", text: "Here it is" });
    expect(phaseLabel(turn)).toBeNull();
  });
});
