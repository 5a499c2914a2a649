// @vitest-environment happy-dom
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { mountApp } from "../src/app";
import type { WidgetModel } from "../src/model";
import { ModelDouble, widgetState } from "./model-double";

const answer = {
  id: "a",
  role: "assistant" as const,
  text: "Two cities.",
  status: "complete" as const,
  sql: ["SELECT city FROM t"],
  result: { id: "r1", sql: "SELECT city FROM t", total_rows: 2, column_count: 1 },
  error: null,
  question: "Which cities?",
};

async function settle() {
  for (let i = 0; i < 5; i++) await act(() => new Promise((resolve) => setTimeout(resolve, 0)));
}

async function gridAfterPageError(error: Record<string, unknown>) {
  const model = new ModelDouble<WidgetModel>(widgetState({ _messages: [answer] }));
  const el = document.createElement("div");
  document.body.append(el);
  act(() => {
    mountApp(el, model.asModel());
  });
  await settle();
  const request = [...model.sent].reverse().find((m) => m.content.type === "page")!;
  act(() => model.kernelSends({ id: request.content.id, error }));
  await settle();
  return el;
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("the grid reads why a page failed from details.reason, not the message", () => {
  it.each(["evicted", "unknown_result"])("a result the kernel no longer keeps (%s) offers Run again", async (reason) => {
    const el = await gridAfterPageError({
      error_type: "QueryError",
      message: "Result r1 was dropped to keep the session's memory bounded. Run its SQL again.",
      details: { reason, result_id: "r1" },
    });
    expect(el.querySelector(".chatdf-grid--gone")).not.toBeNull();
    expect(el.textContent).toContain("Run again");
  });

  it("another failure that happens to mention 'no longer kept' shows its message", async () => {
    const el = await gridAfterPageError({
      error_type: "QueryError",
      message: "Column x is no longer kept in the sort.",
      details: { reason: "sort" },
    });
    expect(el.querySelector(".chatdf-grid--gone")).toBeNull();
    expect(el.querySelector(".chatdf-grid__error")!.textContent).toContain("Column x is no longer kept");
  });
});
