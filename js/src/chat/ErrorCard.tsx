/**
 * A failed answer: a human first line, the raw text and details in a
 * disclosure, and "Try again". A usage limit (429) counts down the seconds the
 * kernel said to wait, with "Try again" disabled until then.
 */
import { useEffect, useState } from "preact/hooks";
import { Icon } from "../ui/icons";
import { humanError } from "../utils/errors";
import type { ErrorInfo } from "../model";

function wait(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

interface Props {
  error: ErrorInfo;
  onRetry?: () => void;
}

/** Seconds left until `retryAfter` seconds after mount; ticks once a second. */
function useCountdown(retryAfter: number | null): number {
  const [until] = useState(() => (retryAfter ? Date.now() + retryAfter * 1000 : 0));
  const [left, setLeft] = useState(() => (retryAfter ? Math.ceil(retryAfter) : 0));
  useEffect(() => {
    if (!until) return;
    const tick = () => setLeft(Math.max(0, Math.ceil((until - Date.now()) / 1000)));
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [until]);
  return left;
}

export function ErrorCard({ error, onRetry }: Props) {
  const details = error.details ?? {};
  const raw = Number(details.retry_after);
  const retryAfter = error.error_type === "rate_limit" && Number.isFinite(raw) && raw > 0 ? raw : null;
  const left = useCountdown(retryAfter);
  const { title, detail } = humanError(error.message, error.error_type);
  const shown = Object.entries(details).filter(([k, v]) => v !== null && v !== undefined && v !== "" && k !== "retry_after");
  const limited = error.error_type === "rate_limit";
  return (
    <div class={`chatdf-error${limited ? " chatdf-error--limit" : ""}`} role="alert">
      <p class="chatdf-error__message">{title}</p>
      {limited && retryAfter ? (
        <p class="chatdf-error__wait" aria-live="polite">
          {left > 0 ? `You can try again in ${wait(left)}.` : "You can try again now."}
        </p>
      ) : null}
      {detail || shown.length ? (
        <details class="chatdf-error__details">
          <summary>Details</summary>
          {detail ? <pre class="chatdf-error__raw">{detail}</pre> : null}
          <dl>
            <dt>Type</dt>
            <dd>{error.error_type}</dd>
            {shown.map(([k, v]) => (
              <>
                <dt key={`${k}-t`}>{k}</dt>
                <dd key={`${k}-d`}>{typeof v === "string" ? v : JSON.stringify(v)}</dd>
              </>
            ))}
          </dl>
        </details>
      ) : null}
      {onRetry ? (
        <button type="button" class="chatdf-btn" disabled={left > 0} onClick={onRetry}>
          <Icon name="refresh" /> {left > 0 ? `Try again (${left} s)` : "Try again"}
        </button>
      ) : null}
    </div>
  );
}
