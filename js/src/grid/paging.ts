/** Pure helpers of the result grid: pages, sort cycle, cell text, TSV. */
import { formatCount } from "../utils/format";
import type { FilterSpec, SortSpec } from "../requests";

/** How many pages of `size` rows `total` rows make (at least 1, so an empty result shows "Page 1 of 1"). */
export function pageCount(total: number, size: number): number {
  return Math.max(1, Math.ceil(total / size));
}

/** `"Page 1 of 17"`. */
export function pageLabel(page: number, total: number, size: number): string {
  return `Page ${formatCount(page + 1)} of ${formatCount(pageCount(total, size))}`;
}

/** Clicking a header: ascending, then descending, then the query's own order. One column at a time. */
export function nextSort(current: SortSpec | null, column: string): SortSpec | null {
  if (!current || current.column !== column) return { column, descending: false };
  if (!current.descending) return { column, descending: true };
  return null;
}

/** Rows per page the grid offers (the kernel allows up to 500). */
export const PAGE_SIZES = [50, 100, 500] as const;

/** The key a page is cached under. */
export function pageKey(sort: SortSpec | null, page: number, size?: number, filters: FilterSpec[] = []): string {
  const filtered = filters.length ? `?${JSON.stringify(filters)}` : "";
  const sized = size === undefined ? "" : `@${size}`;
  return `${sort ? `${sort.descending ? "-" : "+"}${sort.column}` : ""}#${page}${sized}${filtered}`;
}

/** A filter in words, for its chip: `region contains "east"`, `amount ≥ 100`, `x is empty`. */
export function filterLabel(f: FilterSpec): string {
  const ops: Record<FilterSpec["op"], string> = {
    contains: "contains",
    eq: "=",
    ne: "≠",
    gt: ">",
    ge: "≥",
    lt: "<",
    le: "≤",
    is_null: "is empty",
    not_null: "is not empty",
  };
  if (f.op === "is_null" || f.op === "not_null") return `${f.column} ${ops[f.op]}`;
  return `${f.column} ${ops[f.op]} ${f.op === "contains" ? JSON.stringify(f.value ?? "") : (f.value ?? "")}`;
}

const NUMERIC = new Set(["Integer", "Decimal"]);

export function isNumeric(friendly: string): boolean {
  return NUMERIC.has(friendly);
}

const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6, useGrouping: false });

/** What a cell shows; `null` for a missing value (shown as an italic, muted "null"). */
export function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    return Number.isInteger(value) ? String(value) : decimal.format(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    return String(value);
  }
}

/** Exact text for copying (numbers unrounded, null as empty). */
function rawText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return cellText(value) ?? "";
}

/** Tabs and newlines inside a value would break the table: they become spaces. */
function tsvField(text: string): string {
  return text.replace(/[\t\r\n]+/g, " ");
}

/** The current page as tab-separated values with a header line (pastes into spreadsheets). */
export function toTsv(columns: string[], rows: unknown[][]): string {
  const lines = [columns.map(tsvField).join("\t")];
  for (const row of rows) lines.push(row.map((v) => tsvField(rawText(v))).join("\t"));
  return lines.join("\n");
}

/** A Python identifier that is not a keyword: what "Export to variable" accepts. */
export function isVariableName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PY_KEYWORDS.has(name);
}

const PY_KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
);
