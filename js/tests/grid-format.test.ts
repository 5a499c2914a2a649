import { describe, expect, it } from "vitest";
import { columnFormat, formatCell } from "../src/grid/format";
import { filterLabel, pageKey } from "../src/grid/paging";

describe("per-column number formats", () => {
  it("groups thousands and gives a column one number of decimals", () => {
    const values = [12075718.32, 5.5, 3, null];
    const format = columnFormat("revenue", "Decimal", values);
    expect(values.map((v) => formatCell(v, format))).toEqual(["12,075,718.32", "5.50", "3.00", null]);
  });

  it("groups integers and bigints but not years or ids", () => {
    const plain = columnFormat("population", "Integer", []);
    expect(formatCell(1234567, plain)).toBe("1,234,567");
    expect(formatCell(12345678901234567890n, plain)).toBe("12,345,678,901,234,567,890");
    expect(formatCell(2024, columnFormat("year", "Integer", []))).toBe("2024");
    expect(formatCell(10042, columnFormat("customer_id", "Integer", []))).toBe("10042");
  });

  it("leaves text, dates and special floats as they are", () => {
    expect(formatCell("2024-01-02", columnFormat("day", "Date", ["2024-01-02"]))).toBe("2024-01-02");
    const f = columnFormat("x", "Decimal", [Number.NaN, 1.25]);
    expect(formatCell(Number.NaN, f)).toBe("NaN");
    expect(formatCell(Number.POSITIVE_INFINITY, f)).toBe("inf");
    expect(f.decimals).toBe(2);
  });
});

describe("grid view keys and filter chips", () => {
  it("keys pages by size and filters", () => {
    expect(pageKey(null, 2)).toBe("#2");
    expect(pageKey({ column: "a", descending: true }, 0, 100, [{ column: "b", op: "is_null" }])).toBe(
      '-a#0@100?[{"column":"b","op":"is_null"}]',
    );
  });

  it("says a filter in words", () => {
    expect(filterLabel({ column: "region", op: "contains", value: "east" })).toBe('region contains "east"');
    expect(filterLabel({ column: "amount", op: "ge", value: "100" })).toBe("amount ≥ 100");
    expect(filterLabel({ column: "x", op: "not_null" })).toBe("x is not empty");
  });
});
