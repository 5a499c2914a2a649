// @vitest-environment happy-dom
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mountApp } from "../src/app";
import type { DatasetCard, WidgetModel } from "../src/model";
import { LIMITS, ModelDouble } from "./model-double";

const iris: DatasetCard = {
  id: "iris",
  name: "iris",
  source: "/data/iris.parquet",
  kind: "parquet",
  status: "ready",
  error: null,
  row_count: 1234,
  column_count: 2,
  columns: [
    { name: "sepal_length", dtype: "Float64", friendly: "Decimal" },
    { name: "species", dtype: "String", friendly: "Text" },
  ],
};

export function state(over: Partial<WidgetModel> = {}): WidgetModel {
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

function show(over: Partial<WidgetModel> = {}) {
  const model = new ModelDouble<WidgetModel>(state(over));
  const el = document.createElement("div");
  document.body.append(el);
  let unmount = () => {};
  act(() => {
    unmount = mountApp(el, model.asModel());
  });
  return { model, el, unmount };
}

const sent = (model: ModelDouble<WidgetModel>, type: string) => model.sent.map((m) => m.content).filter((c) => c.type === type);

afterEach(() => {
  document.body.innerHTML = "";
});

describe("dataset panel", () => {
  it("counts datasets and explains how to add the first", () => {
    const { el } = show();
    expect(el.querySelector(".chatdf-datasets h3")!.textContent).toBe("Datasets (0/5)");
    expect(el.textContent).toContain("No datasets yet");
    expect(el.querySelector<HTMLInputElement>(".chatdf-add input")!.placeholder).toBe("Paste a parquet or CSV URL or path…");
  });

  it("shows loaded, loading and failed cards, and Retry re-sends the add", () => {
    const failed: DatasetCard = {
      ...iris,
      id: "card-1",
      name: "bad.parquet",
      source: "http://127.0.0.1/bad.parquet",
      status: "error",
      error: { error_type: "DatasetError", message: "Not a parquet file" },
      row_count: null,
      column_count: null,
    };
    const { el, model } = show({ _datasets: [iris, { ...failed, id: "card-2", status: "loading", error: null }, failed], _max_datasets: 3 });
    expect(el.querySelector(".chatdf-datasets h3")!.textContent).toBe("Datasets (2/3)");
    expect(el.querySelector(".chatdf-card__open")!.textContent).toBe("iris · 1,234 rows × 2 cols");
    expect(el.querySelector(".chatdf-card--loading")!.textContent).toContain("Loading…");
    expect(el.querySelector(".chatdf-card__error")!.textContent).toBe("Not a parquet file");
    act(() => [...el.querySelectorAll("button")].find((b) => b.textContent?.includes("Retry"))!.click());
    expect(sent(model, "add_dataset")).toEqual([
      expect.objectContaining({ source: "http://127.0.0.1/bad.parquet", card: "card-1" }),
    ]);
  });

  it("renders dataset names as text, never as markup", () => {
    const { el } = show({ _datasets: [{ ...iris, name: "<img src=x onerror=alert(1)>" }] });
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector(".chatdf-card__name")!.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("unsubscribes and empties the element on unmount", () => {
    const { model, el, unmount } = show();
    expect(model.listenerCount("change:_datasets")).toBeGreaterThan(0);
    act(() => unmount());
    expect(model.listenerCount("change:_datasets")).toBe(0);
    expect(el.innerHTML).toBe("");
  });
});

describe("chat panel", () => {
  it("offers sample data when there is nothing to ask about", () => {
    const { el, model } = show();
    const button = [...el.querySelectorAll("button")].find((b) => b.textContent?.includes("Try with sample data"))!;
    act(() => button.click());
    expect(sent(model, "load_sample")).toHaveLength(1);
  });

  it("shows the transcript: user text as text, answers as sanitized markdown", () => {
    const { el } = show({
      _messages: [
        { id: "u", role: "user", text: "<b>hi</b>", status: "complete", sql: [], result: null, error: null, question: null },
        {
          id: "a",
          role: "assistant",
          text: "**Bold** answer",
          status: "complete",
          sql: ["SELECT 1"],
          result: null,
          error: null,
          question: "hi",
        },
      ],
    });
    expect(el.querySelector(".chatdf-msg__bubble")!.textContent).toBe("<b>hi</b>");
    const answer = el.querySelector(".chatdf-md")!;
    expect(answer.querySelector("strong")!.textContent).toBe("Bold");
    expect(el.textContent).toContain("Show SQL");
  });

  it("without a key: one message, a field for a session key, a link, and examples that say why", () => {
    const { el } = show({ _has_key: false });
    const box = el.querySelector<HTMLTextAreaElement>("textarea")!;
    expect(box.disabled).toBe(true);
    expect(el.querySelector(".chatdf-input-reason")).toBeNull(); // said once, by the key form
    const form = el.querySelector(".chatdf-key")!;
    expect(form.querySelector<HTMLInputElement>('input[type="password"]')).not.toBeNull();
    expect(form.querySelector("a")!.getAttribute("href")).toBe("https://aistudio.google.com/apikey");
    expect([...el.querySelectorAll<HTMLButtonElement>(".chatdf-chip")].every((b) => b.disabled)).toBe(true);
    expect(el.querySelector(".chatdf-chips__why")!.textContent).toContain("Gemini API key");
  });
});

describe("account area", () => {
  const team = { team: true, gateway: "https://chatdf.example.edu" };

  it("shows no account stub in single-user mode", () => {
    const { el } = show();
    expect(el.querySelector(".chatdf-account")).toBeNull();
    expect(el.textContent).not.toContain("Local session");
    expect(el.textContent).not.toContain("Sign in with Google");
  });

  it("signs in: opens the gateway's page in a new tab and shows the code it must show", async () => {
    const tab = { opener: {} as unknown, location: { href: "" }, close: vi.fn() };
    const open = vi.spyOn(window, "open").mockReturnValue(tab as unknown as Window);
    const { el, model } = show({ _account: { ...team, email: "", name: "" }, _has_key: false });
    expect(el.querySelector(".chatdf-input-reason")!.textContent).toContain("Sign in with Google");
    const button = [...el.querySelectorAll("button")].find((b) => b.textContent === "Sign in with Google")!;
    act(() => button.click());
    expect(open).toHaveBeenCalledWith("", "_blank");
    expect(tab.opener).toBeNull(); // the sign-in page gets no handle on JupyterLab
    const [request] = sent(model, "sign_in");
    const url = "https://chatdf.example.edu/sign-in?code=BDFG-HJKL";
    await act(async () => {
      model.kernelSends({ id: request.id, result: { url, user_code: "BDFG-HJKL" } });
      await Promise.resolve();
    });
    expect(tab.location.href).toBe(url);
    expect(el.querySelector(".chatdf-account__code")!.textContent).toContain("BDFG-HJKL");
    expect(el.querySelector<HTMLAnchorElement>(".chatdf-account__code a")!.href).toBe(url);

    act(() => model.set("_account", { ...team, email: "ada@example.edu", name: "Ada Lovelace" }));
    expect(el.querySelector(".chatdf-account")!.textContent).toContain("ada@example.edu");
    expect(el.querySelector(".chatdf-account__code")).toBeNull();
    open.mockRestore();
  });

  it("signs out", () => {
    const { el, model } = show({ _account: { ...team, email: "ada@example.edu", name: "Ada" } });
    act(() => [...el.querySelectorAll("button")].find((b) => b.textContent === "Sign out")!.click());
    expect(sent(model, "sign_out")).toHaveLength(1);
  });
});
