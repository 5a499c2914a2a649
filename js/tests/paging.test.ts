import { tableToIPC, tableFromArrays } from "@uwdata/flechette";
import { describe, expect, it } from "vitest";
import { decodePage } from "../src/grid/arrow";
import { cellText, isVariableName, nextSort, pageCount, pageKey, pageLabel, toTsv } from "../src/grid/paging";

describe("pages", () => {
  it("counts pages of 50 and labels them", () => {
    expect([pageCount(0, 50), pageCount(50, 50), pageCount(51, 50), pageCount(847, 50)]).toEqual([1, 1, 2, 17]);
    expect(pageLabel(0, 847, 50)).toBe("Page 1 of 17");
    expect(pageLabel(199_999, 10_000_000, 50)).toBe("Page 200,000 of 200,000");
  });

  it("cycles a column's sort ascending, descending, off; another column starts over", () => {
    let sort = nextSort(null, "price");
    expect(sort).toEqual({ column: "price", descending: false });
    sort = nextSort(sort, "price");
    expect(sort).toEqual({ column: "price", descending: true });
    expect(nextSort(sort, "price")).toBeNull();
    expect(nextSort(sort, "city")).toEqual({ column: "city", descending: false });
  });

  it("caches pages per sort", () => {
    expect(pageKey(null, 3)).toBe("#3");
    expect(pageKey({ column: "a", descending: true }, 0)).not.toBe(pageKey({ column: "a", descending: false }, 0));
  });
});

describe("cells", () => {
  it("show nulls as null, numbers compactly, big integers exactly", () => {
    expect(cellText(null)).toBeNull();
    expect(cellText(undefined)).toBeNull();
    expect([cellText(5.1), cellText(0.1 + 0.2), cellText(3), cellText(Number.NaN)]).toEqual(["5.1", "0.3", "3", "NaN"]);
    expect(cellText(9007199254740993n)).toBe("9007199254740993");
    expect([cellText(true), cellText("<b>x</b>")]).toEqual(["true", "<b>x</b>"]);
  });

  it("copy as TSV with exact numbers and no stray tabs or newlines", () => {
    const tsv = toTsv(["name", "value"], [["a\tb", 0.1 + 0.2], ["line\nbreak", null]]);
    expect(tsv).toBe("name\tvalue\na b\t0.30000000000000004\nline break\t");
  });

  it("accept only Python names for export", () => {
    expect(["df", "_x1", "result_2"].every(isVariableName)).toBe(true);
    expect(["1df", "my df", "class", "", "a-b"].some(isVariableName)).toBe(false);
  });
});

describe("Arrow pages", () => {
  it("decode to rows in column order, with int64 as bigint", () => {
    const bytes = tableToIPC(
      tableFromArrays({ id: [1, 2], city: ["Oslo", null] }),
      { format: "stream" },
    )!;
    const page = decodePage(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    expect(page.columns).toEqual(["id", "city"]);
    expect(page.rows.map((r) => r[1])).toEqual(["Oslo", null]);
  });
});
