/**
 * The privacy-mode badge in the chat header: shown when the kernel runs with
 * `privacy="schema"` (`_privacy` trait), so the person knows the model sees
 * names and types only and reads the numbers in the result table.
 */
import { useTrait } from "../hooks/useTrait";
import type { Model } from "../model";
import "./privacy-badge.css";

const LOCK = "M4.5 7.5h7v6h-7zM6 7.5V5.5a2 2 0 0 1 4 0v2";

export function PrivacyBadge({ model }: { model: Model }) {
  const privacy = useTrait(model, "_privacy") ?? "full";
  if (privacy !== "schema") return null;
  return (
    <span
      class="chatdf-privacy"
      role="note"
      aria-label="Privacy mode: schema only"
      title="Privacy mode: Gemini sees table and column names, types and row counts, never cell values. Answers point you to the result table."
    >
      <svg class="chatdf-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <path d={LOCK} fill="none" stroke="currentColor" stroke-width="1.4" stroke-linejoin="round" />
      </svg>
      <span class="chatdf-privacy__label">Schema only</span>
    </span>
  );
}
