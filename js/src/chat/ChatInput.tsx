/** The question box: Enter sends, Shift+Enter adds a line; Stop while an answer streams. */
import { useEffect, useRef } from "preact/hooks";
import { formatCount } from "../utils/format";
import { Icon } from "../ui/icons";

export const MAX_CHARS = 2000;
export const COUNTER_FROM = 1800;

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
  const canSend = !busy && !disabled && value.trim().length > 0 && length <= MAX_CHARS;

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
          maxLength={MAX_CHARS}
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
        {length >= COUNTER_FROM ? (
          <span class={`chatdf-counter${length >= MAX_CHARS ? " chatdf-counter--full" : ""}`} aria-live="polite">
            {formatCount(length)} / {formatCount(MAX_CHARS)}
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
