/**
 * "Chart this": a first chart from the result's column types, and the spec for
 * the user's own choice of mark, x, y and colour. Pure functions; the kernel
 * checks and binds the spec as it does the model's.
 */

export interface Column {
  name: string;
  /** The friendly type the grid shows (`models.friendly_type`). */
  friendly: string;
}

export type Mark = "bar" | "line" | "point" | "area" | "histogram";

export const MARKS: { value: Mark; label: string }[] = [
  { value: "bar", label: "Bar" },
  { value: "line", label: "Line" },
  { value: "area", label: "Area" },
  { value: "point", label: "Scatter" },
  { value: "histogram", label: "Histogram" },
];

export interface Choice {
  mark: Mark;
  x: string | null;
  /** null: count the rows. */
  y: string | null;
  color: string | null;
}

type Kind = "temporal" | "quantitative" | "nominal";

export function kindOf(friendly: string): Kind | null {
  if (friendly === "Integer" || friendly === "Decimal") return "quantitative";
  if (friendly === "Date" || friendly === "Timestamp") return "temporal";
  if (friendly === "Text" || friendly === "Boolean") return "nominal";
  return null; // lists, structs: nothing a chart can plot
}

/** temporal + numeric → line, category + numeric → bar, two numerics → scatter, one numeric → histogram. */
export function suggest(columns: Column[]): Choice | null {
  const of = (kind: Kind) => columns.filter((c) => kindOf(c.friendly) === kind).map((c) => c.name);
  const [time] = of("temporal");
  const [first = null, second = null] = of("quantitative");
  const [category] = of("nominal");
  if (time && first) return { mark: "line", x: time, y: first, color: null };
  if (category && first) return { mark: "bar", x: category, y: first, color: null };
  if (first && second) return { mark: "point", x: first, y: second, color: null };
  if (first) return { mark: "histogram", x: first, y: null, color: null };
  if (category) return { mark: "bar", x: category, y: null, color: null };
  if (time) return { mark: "bar", x: time, y: null, color: null };
  return null;
}

/** A field name as Vega-Lite reads it: dots and brackets would mean nesting. */
export function fieldRef(name: string): string {
  return name.replace(/[.[\]\\]/g, (c) => `\\${c}`);
}

/** The Vega-Lite spec (no data) for a choice. */
export function toSpec(choice: Choice, columns: Column[]): Record<string, unknown> {
  const kind = (name: string): Kind => kindOf(columns.find((c) => c.name === name)?.friendly ?? "") ?? "nominal";
  const encoding: Record<string, unknown> = {};
  if (choice.mark === "histogram") {
    if (choice.x) encoding.x = { field: fieldRef(choice.x), type: "quantitative", bin: true, title: choice.x };
    encoding.y = { aggregate: "count", type: "quantitative", title: "Rows" };
  } else {
    if (choice.x) {
      const x: Record<string, unknown> = { field: fieldRef(choice.x), type: kind(choice.x), title: choice.x };
      // Categories read best largest first.
      if (choice.mark === "bar" && kind(choice.x) === "nominal" && choice.y) x.sort = "-y";
      encoding.x = x;
    }
    encoding.y = choice.y
      ? { field: fieldRef(choice.y), type: kind(choice.y), title: choice.y }
      : { aggregate: "count", type: "quantitative", title: "Rows" };
  }
  if (choice.color) encoding.color = { field: fieldRef(choice.color), type: kind(choice.color), title: choice.color };
  const mark = choice.mark === "histogram" ? "bar" : choice.mark;
  return { mark: { type: mark, tooltip: true }, encoding };
}
