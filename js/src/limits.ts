/**
 * Limits the kernel enforces, read from the synced `_limits` trait
 * (`chatdf/limits.py`, defined once there): the browser caps inputs and pages
 * with the kernel's numbers instead of repeating them.
 */
import { useWidget } from "./context";
import { useTrait } from "./hooks/useTrait";
import type { Limits } from "./model";

export function useLimits(): Limits {
  return useTrait(useWidget().model, "_limits");
}

/** Why `name` cannot be a table name, or null (the kernel checks again, with reserved words). */
export function tableNameProblem(name: string, limits: Limits): string | null {
  if (!name) return "Enter a name.";
  if (name.length > limits.name_chars) return `At most ${limits.name_chars} characters.`;
  if (!new RegExp(limits.name_pattern).test(name)) return "Letters, digits and _ only, not starting with a digit.";
  return null;
}
