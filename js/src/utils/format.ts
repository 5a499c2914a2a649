/** Number, size and time formatting shared by every panel. Pure functions only. */

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** `1234` -> `"1,234"`; anything that is not a finite number -> `"?"`. */
export function formatCount(n: number | null | undefined): string {
  return typeof n === "number" && Number.isFinite(n) ? integer.format(n) : "?";
}

function plural(n: number | null | undefined, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/**
 * A table's shape: `"1,234 rows × 5 cols"` on cards, or with `long`
 * `"133,433 rows × 23 columns"` in the schema dialog.
 */
export function formatShape(rows: number | null | undefined, cols: number | null | undefined, long = false): string {
  const colWords: [string, string] = long ? ["column", "columns"] : ["col", "cols"];
  return `${plural(rows, "row", "rows")} × ${plural(cols, ...colWords)}`;
}

/** `"Showing 1–50 of 847 rows"` for the page starting at row `offset` (0-based). */
export function formatRange(offset: number, pageRows: number, total: number): string {
  if (total === 0 || pageRows === 0) return `Showing 0 of ${plural(total, "row", "rows")}`;
  return `Showing ${formatCount(offset + 1)}–${formatCount(offset + pageRows)} of ${plural(total, "row", "rows")}`;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const dateFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" });

/**
 * How long ago `then` was, for the history list: `"just now"`, `"5 min ago"`,
 * `"2 h ago"`, `"3 d ago"`, then the date (`"4 Mar 2026"`). Times in the
 * future (clock skew between kernel and browser) count as now.
 */
export function relativeTime(then: Date | number | string, now: Date | number = Date.now()): string {
  const at = new Date(then).getTime();
  if (Number.isNaN(at)) return "";
  const elapsed = new Date(now).getTime() - at;
  if (elapsed < 45_000) return "just now";
  if (elapsed < HOUR) return `${Math.max(1, Math.round(elapsed / MINUTE))} min ago`;
  if (elapsed < DAY) return `${Math.floor(elapsed / HOUR)} h ago`;
  if (elapsed < 7 * DAY) return `${Math.floor(elapsed / DAY)} d ago`;
  return dateFormat.format(at);
}

/** A query's run time: `"850 ms"`, `"1.2 s"`, `"2 min 5 s"`. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < MINUTE) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / MINUTE);
  return `${minutes} min ${Math.round((ms - minutes * MINUTE) / 1000)} s`;
}

/** A wait in words: `"3 h 5 min"`, `"4 min"`, `"20 s"` (as the kernel's messages say it). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours) return `${hours} h ${minutes} min`;
  return minutes ? `${minutes} min` : `${s % 60} s`;
}

/** Token counts: `"950"`, `"12.3k"`, `"4.5M"`. */
export function formatTokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}
