// @vitest-environment happy-dom
import { tableFromArrays, tableToIPC } from "@uwdata/flechette";
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { mountApp } from "../src/app";
import type { WidgetModel } from "../src/model";
import { LIMITS, ModelDouble } from "./model-double";

function state(over: Partial<WidgetModel> = {}): WidgetModel {
  return {
    _datasets: [],
    _max_datasets: 5,
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

/** Let promises and the renders they cause settle. */
async function settle() {
  for (let i = 0; i < 5; i++) await act(() => new Promise((resolve) => setTimeout(resolve, 0)));
}

/** Play the kernel: answer the last request of `type` with a result or an error. */
function reply(model: ModelDouble<WidgetModel>, type: string, answer: Record<string, unknown>, buffers: DataView[] = []) {
  const request = [...model.sent].reverse().find((m) => m.content.type === type);
  if (!request) throw new Error(`no ${type} request was sent`);
  act(() => model.kernelSends({ id: request.content.id, ...answer }, buffers));
  return request.content;
}

async function showGrid() {
  const model = new ModelDouble<WidgetModel>(state({ _messages: [answer] }));
  const el = document.createElement("div");
  document.body.append(el);
  act(() => {
    mountApp(el, model.asModel());
  });
  await settle();
  const bytes = tableToIPC(tableFromArrays({ city: ["Oslo", "Lima"] }), { format: "stream" })!;
  const header = { result_id: "r1", offset: 0, rows: 2, total_rows: 2, columns: [{ name: "city", dtype: "String", friendly: "Text" }], sort: null, bytes: bytes.byteLength };
  reply(model, "page", { result: header }, [new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  await settle();
  return { model, el };
}

function button(el: HTMLElement, text: string): HTMLButtonElement {
  const found = [...el.querySelectorAll("button")].find((b) => b.textContent?.trim() === text || b.getAttribute("aria-label") === text);
  if (!found) throw new Error(`no button "${text}" in ${el.textContent}`);
  return found as HTMLButtonElement;
}

async function exportAs(el: HTMLElement, name: string) {
  act(() => button(el, "Export to variable").click());
  const input = el.querySelector<HTMLInputElement>("input[aria-label='Variable name']")!;
  act(() => {
    input.value = name;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  // Enter is handled on the input itself: in a notebook cell JupyterLab takes it first.
  act(() => {
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
  });
  await settle();
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("export to variable", () => {
  it("asks before replacing an existing variable, then sends again with overwrite", async () => {
    const { model, el } = await showGrid();
    await exportAs(el, "helper");
    const first = reply(model, "export", {
      error: { error_type: "ExportError", message: "'helper' holds a function; replace it?", details: { reason: "exists", name: "helper", holds: "function" } },
    });
    expect(first).toMatchObject({ name: "helper", result_id: "r1", overwrite: false });
    await settle();

    const dialog = el.querySelector("dialog")!;
    expect(dialog.textContent).toContain("'helper' holds a function; replace it?");
    act(() => button(dialog as HTMLElement, "Replace helper").click());
    await settle();
    const second = reply(model, "export", { result: { name: "helper" } });
    expect(second).toMatchObject({ name: "helper", overwrite: true });
    await settle();
    expect(el.querySelector("dialog")).toBeNull();
    expect(el.textContent).toContain("Saved as the variable helper.");
  });

  it("cancelling the question sends nothing more and keeps the form open", async () => {
    const { model, el } = await showGrid();
    await exportAs(el, "df");
    reply(model, "export", { error: { error_type: "ExportError", message: "'df' holds a polars DataFrame; replace it?", details: { reason: "exists" } } });
    await settle();
    act(() => button(el.querySelector("dialog") as HTMLElement, "Cancel").click());
    await settle();
    expect(model.sent.filter((m) => m.content.type === "export")).toHaveLength(1);
    expect(el.querySelector("dialog")).toBeNull();
    expect(el.querySelector("input[aria-label='Variable name']")).not.toBeNull();
  });

  it("shows the kernel's reason when a name is refused", async () => {
    const { model, el } = await showGrid();
    await exportAs(el, "print");
    reply(model, "export", {
      error: { error_type: "ExportError", message: "'print' is a Python builtin; binding it would break later cells that use it. Choose another name (e.g. print_df).", details: { reason: "builtin" } },
    });
    await settle();
    expect(el.querySelector("dialog")).toBeNull();
    expect(el.querySelector("[role=alert]")!.textContent).toContain("'print' is a Python builtin");
  });
});
