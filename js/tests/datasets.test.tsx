// @vitest-environment happy-dom
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { mountApp } from "../src/app";
import type { Dataset, WidgetModel } from "../src/model";
import { ModelDouble } from "./model-double";

const iris: Dataset = {
  name: "iris",
  source: "/data/iris.parquet",
  kind: "parquet",
  row_count: 1234,
  column_count: 2,
  columns: [
    { name: "sepal_length", dtype: "Float64", friendly: "Decimal" },
    { name: "species", dtype: "String", friendly: "Text" },
  ],
};

function show(state: Partial<WidgetModel> = {}) {
  const model = new ModelDouble<WidgetModel>({
    _datasets: [],
    _max_datasets: 5,
    _status: "",
    theme: "system",
    ...state,
  });
  const el = document.createElement("div");
  document.body.append(el);
  let unmount = () => {};
  // act() runs effects now, as the browser would after the first paint.
  act(() => {
    unmount = mountApp(el, model.asModel());
  });
  return { model, el, unmount };
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("dataset panel", () => {
  it("explains how to add the first dataset", () => {
    const { el } = show();
    expect(el.querySelector("h3")!.textContent).toBe("Datasets (0/5)");
    expect(el.textContent).toContain("No datasets yet — add one with chat.add(...)");
  });

  it("shows a card per dataset with its shape and its columns", () => {
    const { el } = show({ _datasets: [iris], _max_datasets: 3 });
    expect(el.querySelector("h3")!.textContent).toBe("Datasets (1/3)");
    expect(el.querySelector("summary")!.textContent).toBe("iris · 1,234 rows × 2 cols");
    const columns = [...el.querySelectorAll(".chatdf-column")].map((li) => li.textContent);
    expect(columns).toEqual(["sepal_lengthDecimal", "speciesText"]);
    expect(el.querySelector(".chatdf-column__type")!.getAttribute("title")).toBe("Float64");
  });

  it("follows the kernel's changes to datasets, status and theme", () => {
    const { model, el } = show();
    act(() => {
      model.set("_datasets", [iris, { ...iris, name: "iris2", row_count: 1, column_count: 1 }]);
      model.set("_status", "Loading table3…");
      model.set("theme", "dark");
    });
    expect(el.querySelector("h3")!.textContent).toBe("Datasets (2/5)");
    expect(el.querySelectorAll("summary")[1]!.textContent).toBe("iris2 · 1 row × 1 col");
    expect(el.querySelector('[role="status"]')!.textContent).toBe("Loading table3…");
    expect(el.querySelector(".chatdf")!.getAttribute("data-theme")).toBe("dark");
  });

  it("renders dataset names as text, never as markup", () => {
    const { el } = show({ _datasets: [{ ...iris, name: "<img src=x onerror=alert(1)>" }] });
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector(".chatdf-card__name")!.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("unsubscribes and empties the element on unmount", () => {
    const { model, el, unmount } = show();
    expect(model.listenerCount("change:_datasets")).toBe(1);
    act(() => unmount());
    expect(model.listenerCount("change:_datasets")).toBe(0);
    expect(el.innerHTML).toBe("");
  });
});
