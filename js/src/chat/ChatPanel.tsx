/** The centre panel: onboarding or the conversation, and the question box. */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { useWidget } from "../context";
import { useTrait } from "../hooks/useTrait";
import { PrivacyBadge } from "./PrivacyBadge";
import type { DatasetCard, Usage } from "../model";
import { Icon } from "../ui/icons";
import { formatDuration, formatShape } from "../utils/format";
import { ChatInput } from "./ChatInput";
import { KeyEntry } from "./KeyEntry";
import { AssistantMessage, UserMessage } from "./Message";
import { EXAMPLE_QUESTIONS, suggestQuestions } from "./suggestions";
import { Follow } from "./follow";

/** Shown under the box and by the disabled example questions while there is no key. */
export const NO_KEY = "Questions need a Gemini API key: paste one below.";

/** Why the question box is disabled, or null when questions can be asked. */
export function inputBlocker(hasKey: boolean, usage: Partial<Usage>, team = false): string | null {
  if (!hasKey && team) return "Sign in to ask questions: use Sign in with Google (bottom left), or run chat.sign_in().";
  if (!hasKey) return NO_KEY;
  if (usage.exhausted) {
    const wait = usage.resets_in_seconds ? ` Questions are accepted again in ${formatDuration(usage.resets_in_seconds)}.` : "";
    return `Daily usage limit reached.${wait}`;
  }
  return null;
}

function Onboarding({ onPick, blocker }: { onPick: (question: string) => void; blocker: string | null }) {
  const { api, notify } = useWidget();
  const [loading, setLoading] = useState(false);
  return (
    <div class="chatdf-onboarding">
      <h2 class="chatdf-onboarding__title">Chat with your data</h2>
      <p class="chatdf-onboarding__text">
        Add a parquet or CSV file by URL or path in the Datasets panel, or pass a DataFrame with <code>chat.add(df)</code>. Then ask
        questions in plain English: answers come with the SQL and the rows behind them.
      </p>
      <button
        type="button"
        class="chatdf-btn chatdf-btn--primary"
        disabled={loading}
        onClick={async () => {
          setLoading(true);
          try {
            await api.loadSample();
          } catch (err) {
            notify(err instanceof Error ? err.message : String(err), "error");
          } finally {
            setLoading(false);
          }
        }}
      >
        <Icon name="database" /> {loading ? "Loading sample data…" : "Try with sample data"}
      </button>
      <p class="chatdf-onboarding__hint">Then try one of these (the sample is the iris flower dataset):</p>
      <QuestionChips label="Example questions" questions={EXAMPLE_QUESTIONS} onPick={onPick} blocker={blocker} />
    </div>
  );
}

/** Questions as buttons; picking one puts it in the box. Disabled, with the reason said, when asking is not possible. */
function QuestionChips(props: { label: string; questions: readonly string[]; onPick: (q: string) => void; blocker: string | null }) {
  return (
    <>
      <ul class="chatdf-chips" aria-label={props.label}>
        {props.questions.map((q) => (
          <li key={q}>
            <button type="button" class="chatdf-chip" disabled={props.blocker !== null} title={props.blocker ?? undefined} onClick={() => props.onPick(q)}>
              {q}
            </button>
          </li>
        ))}
      </ul>
      {props.blocker ? <p class="chatdf-chips__why">{`Disabled. ${props.blocker}`}</p> : null}
    </>
  );
}

function Suggestions({ cards, onPick, blocker }: { cards: DatasetCard[]; onPick: (q: string) => void; blocker: string | null }) {
  const questions = suggestQuestions(cards);
  if (!questions.length) return null;
  return (
    <div class="chatdf-suggestions">
      <p class="chatdf-suggestions__title">
        <Icon name="sparkle" /> Suggested questions
      </p>
      <QuestionChips label="Suggested questions" questions={questions} onPick={onPick} blocker={blocker} />
    </div>
  );
}

interface Props {
  /** In a narrow container the datasets are in another tab: show a compact line here. */
  narrow?: boolean;
  onShowDatasets?: () => void;
}

export function ChatPanel({ narrow = false, onShowDatasets }: Props) {
  const { model, api, live, notify } = useWidget();
  const messages = useTrait(model, "_messages") ?? [];
  const cards = useTrait(model, "_datasets") ?? [];
  const busy = useTrait(model, "_busy") ?? false;
  const hasKey = useTrait(model, "_has_key") ?? false;
  const team = useTrait(model, "_account")?.team ?? false;
  const usage = useTrait(model, "_usage") ?? {};
  const conversation = useTrait(model, "_conversation") ?? {};
  const [draft, setDraft] = useState("");
  const [, setTick] = useState(0);
  const list = useRef<HTMLDivElement>(null);
  const follow = useRef(new Follow()).current;
  const [showJump, setShowJump] = useState(false);

  // Streamed tokens are not synced state: re-render when the live turn changes.
  useEffect(() => live.subscribe(() => setTick((n) => n + 1)), [live]);

  // Follow new text while the reader is at the bottom; stop when they scroll up.
  // An empty chat (onboarding) starts at its top: its heading must not be scrolled away.
  const empty = messages.length === 0;
  useLayoutEffect(() => {
    const el = list.current;
    if (el && !empty) follow.follow(el);
  });

  // A grid or chart grows after its rows arrive, without a render here: keep following then too.
  useEffect(() => {
    const el = list.current;
    const content = el?.firstElementChild;
    if (!el || !content || empty || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => follow.follow(el));
    observer.observe(content);
    return () => observer.disconnect();
  }, [empty]);

  function onScroll() {
    const el = list.current;
    if (!el) return;
    setShowJump(!follow.onScroll(el));
  }

  function jump() {
    const el = list.current;
    if (!el) return;
    follow.pin();
    el.scrollTo({ top: el.scrollHeight, behavior: "smooth" });
    setShowJump(false);
  }

  async function ask(question: string) {
    follow.pin();
    try {
      await api.ask(question);
      setDraft("");
    } catch (err) {
      notify(err instanceof Error ? err.message : String(err), "error");
    }
  }

  const blocker = inputBlocker(hasKey, usage, team);
  // Until the store names it, a conversation is called by its first question.
  const title = conversation.title || messages.find((m) => m.role === "user")?.text || "New conversation";
  const ready = cards.some((c) => c.status === "ready");
  return (
    <section class="chatdf-chat" aria-label="Chat">
      <header class="chatdf-chat__header">
        <h2 class="chatdf-chat__title" title={title}>
          {title}
        </h2>
        {narrow && ready ? (
          <ul class="chatdf-using" aria-label="Datasets in use">
            {cards
              .filter((c) => c.status === "ready")
              .map((c) => (
                <li key={c.id}>
                  <button type="button" class="chatdf-using__chip" onClick={onShowDatasets} title="Show datasets">
                    {c.name} · {formatShape(c.row_count, c.column_count)}
                  </button>
                </li>
              ))}
          </ul>
        ) : null}
        <PrivacyBadge model={model} />
      </header>
      <div class="chatdf-chat__scroll" ref={list} onScroll={onScroll}>
        {messages.length === 0 ? (
          ready ? (
            <Suggestions cards={cards} onPick={(q) => setDraft(q)} blocker={blocker} />
          ) : (
            <Onboarding onPick={(q) => setDraft(q)} blocker={blocker} />
          )
        ) : (
          <ol class="chatdf-messages" aria-label="Messages" aria-live="polite">
            {messages.map((m) =>
              m.role === "user" ? (
                <UserMessage key={m.id} message={m} />
              ) : (
                <AssistantMessage key={m.id} message={m} live={live.get(m.id)} onRetry={ask} />
              ),
            )}
          </ol>
        )}
      </div>
      {showJump ? (
        <button type="button" class="chatdf-jump" onClick={jump} aria-label="Scroll to bottom">
          <Icon name="arrow-down" /> Scroll to bottom
        </button>
      ) : null}
      {!hasKey && !team ? <KeyEntry /> : null}
      <ChatInput value={draft} onChange={setDraft} onSend={ask} onStop={() => api.stop().catch(() => {})} busy={busy} disabledReason={blocker} reasonShown={!hasKey && !team} />
    </section>
  );
}
