/**
 * Errors in words a person can act on. The kernel's messages are specific but
 * some carry a library's raw text (a Polars SQL error, lowercase, with every
 * column name in a JSON array): the first line shown is a human sentence, and
 * the raw text goes in a "Details" disclosure. Pure functions only.
 */

export interface HumanError {
  /** One sentence, capitalized. */
  title: string;
  /** The original text, when the title is not all of it. */
  detail: string | null;
}

const MAX_TITLE = 200;

function sentence(text: string): string {
  const trimmed = text.trim();
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  const clipped = first.length > MAX_TITLE ? `${first.slice(0, MAX_TITLE - 1)}…` : first;
  return /[.!?…:]$/.test(clipped) ? clipped : `${clipped}.`;
}

/** The missing column a "not found" message names, if any. */
export function missingColumn(message: string): string | null {
  const found =
    /unable to find column "([^"]+)"/i.exec(message) ??
    /column "([^"]+)" (?:not found|does not exist)/i.exec(message) ??
    /ColumnNotFound(?:Error)?:\s*"?([^"\s;]+)"?/i.exec(message);
  return found ? found[1]! : null;
}

/** A human first line and the raw details, for an error of `errorType`. */
export function humanError(message: string, errorType = ""): HumanError {
  const text = message.trim();
  // The wait is counted down on the card; Gemini's own words go in the details.
  if (errorType === "rate_limit") return { title: "Gemini's rate limit or quota was reached.", detail: text };
  const column = missingColumn(text);
  if (column !== null) {
    return { title: `The query uses a column that does not exist: "${column}".`, detail: text };
  }
  // Cut at the first line break, or where a raw list of names begins.
  const cut = text.search(/\n|;\s*valid (?:columns|fields)|:\s*\[|\s*\[\s*"/i);
  const head = cut > 0 ? text.slice(0, cut) : text;
  const lowercaseStart = /^[a-z]/.test(head);
  // A sentence of our own (capitalized, one line) is shown whole.
  if (cut <= 0 && !lowercaseStart) return { title: text, detail: null };
  const title = errorType === "sql" && lowercaseStart ? `The query failed: ${head.trim()}` : head;
  return { title: sentence(title), detail: text };
}

/** Where in `sql` the error is (0-based offsets), when the error says or names it. */
export function errorRange(sql: string, details: Record<string, unknown>, message: string): { from: number; to: number } | null {
  const line = Number(details.line);
  const col = Number(details.column ?? details.col);
  if (Number.isInteger(line) && line >= 1 && Number.isInteger(col) && col >= 1) {
    const lines = sql.split("\n");
    if (line <= lines.length) {
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      // sqlglot's column is where the bad token ends: mark the word that ends there.
      const row = lines[line - 1]!;
      const end = Math.min(col, row.length);
      let begin = end;
      while (begin > 0 && /[\w"]/.test(row.charAt(begin - 1))) begin--;
      if (begin === end) begin = Math.max(0, end - 1);
      return { from: start + begin, to: start + Math.max(end, begin + 1) };
    }
  }
  const column = missingColumn(message);
  if (column) {
    const at = new RegExp(`(?<![\\w"])"?${column.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"?(?![\\w"])`, "i").exec(sql);
    if (at) return { from: at.index, to: at.index + at[0].length };
  }
  return null;
}
