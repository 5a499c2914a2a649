// @vitest-environment happy-dom
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

function show(over: Partial<WidgetModel> = {}) {
  const model = new ModelDouble<WidgetModel>(state(over));
  const el = document.createElement("div");
  document.body.append(el);
  act(() => {
    mountApp(el, model.asModel());
  });
  return { model, el };
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("privacy badge", () => {
  it("is absent in full mode and when the kernel sends no privacy trait", () => {
    expect(show().el.querySelector(".chatdf-privacy")).toBeNull();
    expect(show({ _privacy: "full" }).el.querySelector(".chatdf-privacy")).toBeNull();
  });

  it("shows in the chat header in schema mode and explains itself", () => {
    const { el } = show({ _privacy: "schema" });
    const badge = el.querySelector(".chatdf-chat__header .chatdf-privacy")!;
    expect(badge.textContent).toBe("Schema only");
    expect(badge.getAttribute("title")).toContain("never cell values");
  });
});
