/** The question box: Enter sends, Shift+Enter adds a line; Stop while an answer streams. */
import { useEffect, useRef } from "preact/hooks";
import { formatCount } from "../utils/format";
import { useLimits } from "../limits";
import { Icon } from "../ui/icons";

/** The counter shows from this share of the limit on. */
export const COUNTER_FROM = 0.9;

interface Props {
  value: string;
  onChange: (value: string) => void;
  onSend: (question: string) => void;
  onStop: () => void;
  busy: boolean;
  /** Why asking is not possible now (no key, usage limit); the box is disabled with this text. */
  disabledReason: string | null;
  /** The reason is already on screen right above (the key form): don't say it twice. */
  reasonShown?: boolean;
}

export function ChatInput({ value, onChange, onSend, onStop, busy, disabledReason, reasonShown = false }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const disabled = disabledReason !== null;
  const length = value.length;
  const maxChars = useLimits().question_chars;
  const canSend = !busy && !disabled && value.trim().length > 0 && length <= maxChars;

  // Grow with the text up to a few lines (after every render: the width may have changed too).
  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  });

  function send() {
    if (canSend) onSend(value.trim());
  }

  return (
    <form
      class="chatdf-input-bar"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <div class="chatdf-input-wrap">
        <textarea
          ref={area}
          class="chatdf-chat-input"
          rows={1}
          value={value}
          maxLength={maxChars}
          disabled={disabled}
          placeholder="Ask a question about your data…"
          aria-label="Ask a question"
          aria-describedby={disabled && !reasonShown ? "chatdf-input-reason" : undefined}
          onInput={(e) => onChange(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }}
        />
        {length >= COUNTER_FROM * maxChars ? (
          <span class={`chatdf-counter${length >= maxChars ? " chatdf-counter--full" : ""}`} aria-live="polite">
            {formatCount(length)} / {formatCount(maxChars)}
          </span>
        ) : null}
        {busy ? (
          <button type="button" class="chatdf-send chatdf-send--stop" aria-label="Stop answering" title="Stop" onClick={onStop}>
            <Icon name="stop" />
          </button>
        ) : (
          <button type="submit" class="chatdf-send" aria-label="Send question" title="Send (Enter)" disabled={!canSend}>
            <Icon name="send" />
          </button>
        )}
      </div>
      {disabled && reasonShown ? null : disabled ? (
        <p id="chatdf-input-reason" class="chatdf-input-reason">
          {disabledReason}
        </p>
      ) : (
        <p class="chatdf-input-hint">Enter sends · Shift+Enter: new line</p>
      )}
    </form>
  );
}
