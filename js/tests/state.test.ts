import { describe, expect, it } from "vitest";
import { inputBlocker } from "../src/chat/ChatPanel";
import { suggestQuestions } from "../src/chat/suggestions";
import { usageLevel } from "../src/history/UsageBar";
import type { DatasetCard } from "../src/model";
import { RpcClient } from "../src/rpc";
import { applyEvent, emptyTurn, LiveStore, phaseLabel } from "../src/state/live";
import { formatDuration, formatTokens } from "../src/utils/format";
import { ModelDouble } from "./model-double";

describe("a streamed turn", () => {
  it("accumulates tokens and follows the phases to the answer", () => {
    let turn = emptyTurn("m1");
    expect(phaseLabel(turn)).toBe("Thinking…");
    turn = applyEvent(turn, { type: "token", text: "Hel" });
    turn = applyEvent(turn, { type: "phase", phase: "running_query", sql: "SELECT 1" });
    expect(phaseLabel(turn)).toBe("Running query…");
    expect(turn.sql).toBe("SELECT 1");
    turn = applyEvent(turn, { type: "phase", phase: "preparing_response" });
    expect([phaseLabel(turn), turn.sql]).toEqual(["Reading the result…", null]);
    turn = applyEvent(turn, { type: "token", text: "lo" });
    turn = applyEvent(turn, { type: "slow", elapsed: 31 });
    expect(phaseLabel(turn)).toBe("Taking longer than expected…");
    turn = applyEvent(turn, { type: "answer", text: "Hello." });
    expect([turn.text, turn.done]).toEqual(["Hello.", true]);
  });

  it("is shared by the views of a model and drops finished turns when a new one starts", () => {
    const model = new ModelDouble({});
    const store = new LiveStore(new RpcClient(model.asModel()));
    let renders = 0;
    store.subscribe(() => renders++);
    model.kernelSends({ type: "event", message_id: "a", event: { type: "token", text: "One" } });
    model.kernelSends({ type: "event", message_id: "a", event: { type: "answer", text: "One." } });
    model.kernelSends({ type: "event", message_id: "b", event: { type: "token", text: "Two" } });
    model.kernelSends({ type: "event", event: { type: "token" } }); // no message id: ignored
    expect(store.get("a")).toBeUndefined();
    expect(store.get("b")?.text).toBe("Two");
    expect(renders).toBe(3);
  });
});

const card = (over: Partial<DatasetCard>): DatasetCard => ({
  id: "sales",
  name: "sales",
  source: "/data/sales.parquet",
  kind: "parquet",
  status: "ready",
  error: null,
  row_count: 10,
  column_count: 3,
  columns: [],
  ...over,
});

describe("suggested questions", () => {
  it("are built from the column types of ready datasets", () => {
    const questions = suggestQuestions([
      card({
        columns: [
          { name: "order_id", dtype: "Int64", friendly: "Integer" },
          { name: "region", dtype: "String", friendly: "Text" },
          { name: "amount", dtype: "Float64", friendly: "Decimal" },
          { name: "day", dtype: "Date", friendly: "Date" },
        ],
      }),
      card({ id: "c2", name: "broken", status: "error" }),
    ]);
    expect(questions).toEqual([
      "What is the average amount by region in sales?",
      "How does amount change over day?",
      "Show the top 10 rows of sales by amount",
      "How many rows are there for each region?",
    ]);
  });

  it("offer a newly added dataset first, taking turns with the earlier ones", () => {
    const iris = card({
      id: "iris",
      name: "iris",
      columns: [
        { name: "petal_length", dtype: "Float64", friendly: "Decimal" },
        { name: "species", dtype: "String", friendly: "Text" },
      ],
    });
    const trips = card({ id: "trips", name: "trips", columns: [{ name: "fare", dtype: "Float64", friendly: "Decimal" }] });
    const questions = suggestQuestions([iris, trips]);
    expect(questions[0]).toBe("Show the top 10 rows of trips by fare");
    expect(questions[1]).toBe("What is the average petal_length by species in iris?");
    expect(questions.filter((q) => q.includes("trips"))).toHaveLength(2);
  });

  it("fall back to a row count for a table without measures", () => {
    expect(suggestQuestions([card({ columns: [] })])).toEqual(["How many rows does sales have?"]);
  });
});

describe("the question box", () => {
  it("is blocked without a key or at the usage limit, with the reason", () => {
    expect(inputBlocker(false, {})).toContain("Gemini API key");
    expect(inputBlocker(true, { exhausted: true, resets_in_seconds: 3 * 3600 + 300 })).toBe(
      "Daily usage limit reached. Questions are accepted again in 3 h 5 min.",
    );
    expect(inputBlocker(true, { exhausted: false })).toBeNull();
    expect(inputBlocker(false, {}, true)).toContain("Sign in with Google");
    expect(inputBlocker(true, {}, true)).toBeNull();
  });

  it("shows usage levels and compact token counts", () => {
    expect(usageLevel({ warning: false, exhausted: false })).toBe("normal");
    expect(usageLevel({ warning: true, exhausted: false })).toBe("warning");
    expect(usageLevel({ warning: true, exhausted: true })).toBe("limit");
    expect([formatTokens(950), formatTokens(12_345), formatTokens(4_500_000)]).toEqual(["950", "12k", "4.5M"]);
    expect([formatDuration(20), formatDuration(240), formatDuration(3700)]).toEqual(["20 s", "4 min", "1 h 1 min"]);
  });
});
