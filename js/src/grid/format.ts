/**
 * How the grid shows values, per column: thousands separators, one number of
 * decimals for a whole column (so decimal points line up in a right-aligned,
 * tabular-figure column), dates as the kernel wrote them for their type.
 * Display only: copying and exporting use the raw values (`paging.ts`, kernel).
 */
import { cellText } from "./paging";

export interface ColumnFormat {
  kind: "integer" | "float" | "other";
  /** Decimals every value of the column gets (floats). */
  decimals: number;
  /** Thousands separators (not for years and ids, which read wrong as "2,024"). */
  group: boolean;
}

const MAX_DECIMALS = 6;
const NO_GROUPING = /(^|[_\s])(year|yr|id|zip|code)$|^id$|Id$|_id$/i;

/** The decimals a number needs, up to `MAX_DECIMALS` ("12.50" needs 1, 1e-9 needs 6). */
function decimalsOf(value: number): number {
  if (!Number.isFinite(value) || Number.isInteger(value)) return 0;
  const text = value.toFixed(MAX_DECIMALS).replace(/0+$/, "");
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** A column's format from its name, its type and the values on the page. */
export function columnFormat(name: string, friendly: string, values: unknown[]): ColumnFormat {
  const group = !NO_GROUPING.test(name);
  if (friendly === "Integer") return { kind: "integer", decimals: 0, group };
  if (friendly === "Decimal" && values.some((v) => typeof v === "number")) {
    let decimals = 0;
    for (const v of values) if (typeof v === "number") decimals = Math.max(decimals, decimalsOf(v));
    return { kind: "float", decimals, group };
  }
  return { kind: "other", decimals: 0, group: false };
}

const formatters = new Map<string, Intl.NumberFormat>();

function formatter(decimals: number, group: boolean): Intl.NumberFormat {
  const key = `${decimals}:${group}`;
  let found = formatters.get(key);
  if (!found) {
    found = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
      useGrouping: group,
    });
    formatters.set(key, found);
  }
  return found;
}

/** What a cell shows under its column's format; `null` for a missing value. */
export function formatCell(value: unknown, format: ColumnFormat): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && Number.isFinite(value) && format.kind !== "other") {
    return formatter(format.kind === "float" ? format.decimals : 0, format.group).format(value);
  }
  if (typeof value === "bigint" && format.kind === "integer") {
    return format.group ? value.toLocaleString("en-US") : value.toString();
  }
  return cellText(value);
}
