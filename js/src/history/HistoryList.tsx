/** Stored conversations: open one, rename it inline, delete it (with confirm). */
import { useEffect, useState } from "preact/hooks";
import { useWidget } from "../context";
import type { ConversationItem } from "../model";
import { ConfirmDialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { relativeTime } from "../utils/format";

interface Props {
  items: ConversationItem[];
  currentId: string | undefined;
}

export function HistoryList({ items, currentId }: Props) {
  const { api, notify } = useWidget();
  const [editing, setEditing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<ConversationItem | null>(null);
  const [, tick] = useState(0);

  // Keep "5 min ago" true while the widget stays open.
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 60_000);
    return () => clearInterval(timer);
  }, []);

  const fail = (err: unknown) => notify(err instanceof Error ? err.message : String(err), "error");

  if (!items.length) return <p class="chatdf-empty chatdf-history__empty">No conversations yet.</p>;
  return (
    <>
      <ul class="chatdf-history" aria-label="Conversation history">
        {items.map((item) => {
          const title = item.title || "Untitled conversation";
          const active = item.id === currentId;
          return (
            <li key={item.id} class={`chatdf-history__item${active ? " chatdf-history__item--active" : ""}`}>
              {editing === item.id ? (
                <RenameField
                  initial={item.title ?? ""}
                  onSave={(value) => {
                    setEditing(null);
                    if (value && value !== item.title) api.renameConversation(item.id, value).catch(fail);
                  }}
                  onCancel={() => setEditing(null)}
                />
              ) : (
                <button
                  type="button"
                  class="chatdf-history__open"
                  aria-current={active ? "true" : undefined}
                  title={title}
                  onClick={() => !active && api.openConversation(item.id).catch(fail)}
                >
                  <span class="chatdf-history__title">{title}</span>
                  <span class="chatdf-history__meta">
                    {relativeTime(item.updated_at)} · {questionLabel(item.question_count ?? 0)}
                  </span>
                </button>
              )}
              {editing !== item.id ? (
                <span class="chatdf-history__tools">
                  <button type="button" class="chatdf-icon-btn" aria-label={`Rename ${title}`} onClick={() => setEditing(item.id)}>
                    <Icon name="pencil" />
                  </button>
                  <button type="button" class="chatdf-icon-btn" aria-label={`Delete ${title}`} onClick={() => setDeleting(item)}>
                    <Icon name="trash" />
                  </button>
                </span>
              ) : null}
            </li>
          );
        })}
      </ul>
      {deleting ? (
        <ConfirmDialog
          title="Delete conversation"
          message={
            <>
              Delete <strong>{deleting.title || "Untitled conversation"}</strong> and its messages? This cannot be undone.
            </>
          }
          confirmLabel="Delete"
          onConfirm={() => api.deleteConversation(deleting.id).catch(fail)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </>
  );
}

function RenameField({ initial, onSave, onCancel }: { initial: string; onSave: (v: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(initial);
  return (
    <input
      class="chatdf-input chatdf-input--small chatdf-history__rename"
      value={value}
      maxLength={200}
      aria-label="Conversation title"
      ref={(el) => {
        if (el && document.activeElement !== el) {
          el.focus();
          el.select();
        }
      }}
      onInput={(e) => setValue(e.currentTarget.value)}
      onKeyDown={(e) => {
        if (e.key === "Enter") onSave(value.trim());
        if (e.key === "Escape") {
          e.stopPropagation();
          onCancel();
        }
      }}
      onBlur={() => onSave(value.trim())}
    />
  );
}

/** "1 question", "3 questions": what a person counts (not stored messages). */
export function questionLabel(n: number): string {
  return `${n} question${n === 1 ? "" : "s"}`;
}
