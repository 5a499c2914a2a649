import { describe, expect, it } from "vitest";
import { fieldRef, suggest, toSpec } from "../src/chart/suggest";

const col = (name: string, friendly: string) => ({ name, friendly });

describe("Chart this: a first chart from the column types", () => {
  it("temporal + numeric makes a line", () => {
    expect(suggest([col("day", "Date"), col("region", "Text"), col("sales", "Decimal")])).toEqual({ mark: "line", x: "day", y: "sales", color: null });
  });
  it("category + numeric makes a bar", () => {
    expect(suggest([col("species", "Text"), col("n", "Integer")])).toMatchObject({ mark: "bar", x: "species", y: "n" });
  });
  it("two numerics make a scatter, one a histogram", () => {
    expect(suggest([col("a", "Decimal"), col("b", "Integer")])).toMatchObject({ mark: "point", x: "a", y: "b" });
    expect(suggest([col("a", "Decimal"), col("tags", "List")])).toMatchObject({ mark: "histogram", x: "a", y: null });
  });
  it("text only counts rows; nothing plottable suggests nothing", () => {
    expect(suggest([col("name", "Text")])).toMatchObject({ mark: "bar", x: "name", y: null });
    expect(suggest([col("s", "Struct")])).toBeNull();
  });
});

describe("the spec for a choice", () => {
  const columns = [col("species", "Text"), col("petal.length", "Decimal")];
  it("types fields from the columns, sorts bars and turns tooltips on", () => {
    const spec = toSpec({ mark: "bar", x: "species", y: "petal.length", color: "species" }, columns);
    expect(spec).toEqual({
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: { field: "species", type: "nominal", title: "species", sort: "-y" },
        y: { field: "petal\\.length", type: "quantitative", title: "petal.length" },
        color: { field: "species", type: "nominal", title: "species" },
      },
    });
  });
  it("a histogram bins x and counts rows", () => {
    const spec = toSpec({ mark: "histogram", x: "petal.length", y: null, color: null }, columns);
    expect(spec.mark).toEqual({ type: "bar", tooltip: true });
    expect(spec.encoding).toMatchObject({ x: { bin: true, type: "quantitative" }, y: { aggregate: "count" } });
  });
  it("escapes what Vega-Lite would read as nesting", () => {
    expect(fieldRef("a.b[0]")).toBe("a\\.b\\[0\\]");
  });
});
