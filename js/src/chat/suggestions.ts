/** Questions to offer, built from the loaded datasets' schemas (pure). */
import type { ColumnInfo, DatasetCard } from "../model";

const numeric = (c: ColumnInfo) => c.friendly === "Integer" || c.friendly === "Decimal";
const idLike = (c: ColumnInfo) => /(^|_)(id|key|index)$/i.test(c.name);

/** Example questions for the onboarding screen (the sample data is iris). */
export const EXAMPLE_QUESTIONS = [
  "Which species has the longest petals on average?",
  "How many flowers of each species are there?",
  "Show the 10 widest sepals",
];

/**
 * Up to `max` questions about the datasets, most specific first. The newest dataset
 * leads and the others take turns, so a dataset just added is always offered.
 */
export function suggestQuestions(cards: DatasetCard[], max = 4): string[] {
  const perCard: string[][] = [];
  for (const card of [...cards].reverse()) {
    if (card.status !== "ready") continue;
    const out: string[] = [];
    const measures = card.columns.filter((c) => numeric(c) && !idLike(c));
    const labels = card.columns.filter((c) => c.friendly === "Text");
    const times = card.columns.filter((c) => c.friendly === "Date" || c.friendly === "Timestamp");
    const [measure] = measures;
    const [label] = labels;
    const [time] = times;
    if (measure && label) out.push(`What is the average ${measure.name} by ${label.name} in ${card.name}?`);
    if (measure && time) out.push(`How does ${measure.name} change over ${time.name}?`);
    if (measure) out.push(`Show the top 10 rows of ${card.name} by ${measure.name}`);
    if (label) out.push(`How many rows are there for each ${label.name}?`);
    out.push(`How many rows does ${card.name} have?`);
    perCard.push(out);
  }
  const picked: string[] = [];
  for (let i = 0; perCard.some((list) => i < list.length); i++) {
    for (const list of perCard) if (i < list.length) picked.push(list[i]!);
  }
  return [...new Set(picked)].slice(0, max);
}
