// @vitest-environment happy-dom
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { mountApp } from "../src/app";
import { tableNameProblem } from "../src/limits";
import type { WidgetModel } from "../src/model";
import { LIMITS, ModelDouble, widgetState } from "./model-double";

afterEach(() => {
  document.body.innerHTML = "";
});

describe("limits come from the kernel's _limits trait", () => {
  it("caps the question box at the kernel's question length", () => {
    const model = new ModelDouble<WidgetModel>(widgetState({ _limits: { ...LIMITS, question_chars: 10 } }));
    const el = document.createElement("div");
    document.body.append(el);
    act(() => {
      mountApp(el, model.asModel());
    });
    expect(el.querySelector<HTMLTextAreaElement>("textarea")!.maxLength).toBe(10);
  });

  it("checks table names with the kernel's rules", () => {
    expect(tableNameProblem("a".repeat(63), LIMITS)).toBeNull();
    expect(tableNameProblem("a".repeat(64), LIMITS)).toBe("At most 63 characters.");
    expect(tableNameProblem("a".repeat(9), { ...LIMITS, name_chars: 8 })).toBe("At most 8 characters.");
    expect(tableNameProblem("2024", LIMITS)).toBe("Letters, digits and _ only, not starting with a digit.");
  });
});
