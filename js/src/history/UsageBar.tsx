/** Tokens used in the rolling 24 hours: normal, warning at 80%, or at the limit; with details. */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Usage } from "../model";
import { formatCount, formatDuration, formatTokens } from "../utils/format";

export type UsageLevel = "normal" | "warning" | "limit";

export function usageLevel(usage: Partial<Usage>): UsageLevel {
  if (usage.exhausted) return "limit";
  if (usage.warning) return "warning";
  return "normal";
}

export function UsageBar({ usage }: { usage: Partial<Usage> }) {
  const [open, setOpen] = useState(false);
  // The countdown runs from when the kernel last told us.
  const receivedAt = useMemo(() => Date.now(), [usage]);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!open && !usage.exhausted) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [open, usage.exhausted]);

  if (usage.used === undefined) return null;
  const limit = usage.limit ?? 0;
  const percent = limit ? Math.min(100, usage.percent ?? 0) : 0;
  const level = usageLevel(usage);
  const left = Math.max(0, (usage.resets_in_seconds ?? 0) - Math.floor((now - receivedAt) / 1000));
  const label = limit
    ? level === "limit"
      ? "Usage limit reached"
      : `${percent > 0 && percent < 1 ? "<1" : Math.round(percent)}% of daily tokens used`
    : `${formatTokens(usage.used)} tokens today`;

  return (
    <div class={`chatdf-usage chatdf-usage--${level}`}>
      <button type="button" class="chatdf-usage__summary" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
        <span class="chatdf-usage__label">{label}</span>
        {limit ? (
          <span
            class="chatdf-usage__track"
            role="progressbar"
            aria-label="Daily token usage"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(percent)}
          >
            <span class="chatdf-usage__fill" style={{ width: `${percent}%` }} />
          </span>
        ) : null}
      </button>
      {open ? (
        <dl class="chatdf-usage__details">
          <dt>Used</dt>
          <dd>
            {formatCount(usage.used)}
            {limit ? ` of ${formatCount(limit)}` : ""} tokens
          </dd>
          {usage.remaining !== null && usage.remaining !== undefined ? (
            <>
              <dt>Remaining</dt>
              <dd>{formatCount(usage.remaining)}</dd>
            </>
          ) : null}
          {left > 0 ? (
            <>
              <dt>{level === "limit" ? "Resets in" : "Oldest drops in"}</dt>
              <dd>{formatDuration(left)}</dd>
            </>
          ) : null}
          {Object.entries(usage.per_model ?? {}).map(([name, m]) => (
            <>
              <dt key={`${name}-t`}>{name}</dt>
              <dd key={`${name}-d`}>
                {formatTokens(m.input_tokens)} in · {formatTokens(m.output_tokens)} out
                {m.cost ? ` · $${m.cost.toFixed(4)}` : ""}
              </dd>
            </>
          ))}
        </dl>
      ) : null}
    </div>
  );
}
