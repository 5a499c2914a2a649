/** One message: the user's question, or the assistant's answer with its result and SQL. */
import { useMemo, useState } from "preact/hooks";
import { AnswerChart } from "../chart/AnswerChart";
import { useWidget } from "../context";
import { DataGrid } from "../grid/DataGrid";
import type { ChatMessage } from "../model";
import { SqlPanel } from "../sql/SqlPanel";
import { Dialog } from "../ui/Dialog";
import type { LiveTurn } from "../state/live";
import { phaseLabel } from "../state/live";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { ErrorCard } from "./ErrorCard";
import { renderMarkdown } from "./markdown";

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div class="chatdf-md" dangerouslySetInnerHTML={{ __html: html }} />;
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="chatdf-icon-btn chatdf-msg__copy"
      aria-label={label}
      title={copied ? "Copied" : label}
      onClick={async () => {
        await copyText(text);
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      <Icon name={copied ? "sparkle" : "copy"} />
    </button>
  );
}

export function UserMessage({ message }: { message: ChatMessage }) {
  return (
    <li class="chatdf-msg chatdf-msg--user" aria-label="Your question">
      <div class="chatdf-msg__bubble">{message.text}</div>
      <CopyButton text={message.text} label="Copy question" />
    </li>
  );
}

interface AssistantProps {
  message: ChatMessage;
  live: LiveTurn | undefined;
  onRetry: (question: string) => void;
}

export function AssistantMessage({ message, live, onRetry }: AssistantProps) {
  const { api, notify } = useWidget();
  const [showSql, setShowSql] = useState(false);
  const [expanded, setExpanded] = useState(false);
  const [charting, setCharting] = useState(false);
  const streaming = message.status === "streaming";
  const streamed = streaming ? (live?.text ?? "") : message.text;
  // A stored failed turn keeps the error as its text too: show it once, in the card.
  const text = message.status === "error" && message.error && streamed.trim() === message.error.message.trim() ? "" : streamed;
  // The grid shows as soon as the query finishes, not when the prose does.
  const result = message.result ?? (streaming ? live?.result : null) ?? null;
  const phase = streaming ? phaseLabel(live ?? { phase: "thinking", slow: false }) : null;
  const lastSql = message.result?.sql ?? message.sql[message.sql.length - 1] ?? null;

  async function run(sql: string) {
    await api.runSql(sql, message.id);
  }

  return (
    <li class={`chatdf-msg chatdf-msg--assistant${streaming ? " chatdf-msg--streaming" : ""}`} aria-label="Answer" aria-busy={streaming}>
      {text ? <Markdown text={text} /> : null}
      {phase ? (
        <p class="chatdf-phase" role="status">
          <span class="chatdf-spinner" aria-hidden="true" />
          {phase}
          {live?.phase === "running_query" && live.sql ? <code class="chatdf-phase__sql">{live.sql}</code> : null}
        </p>
      ) : null}
      {message.status === "stopped" ? <p class="chatdf-note">Stopped — the answer above is partial.</p> : null}
      {message.status === "error" && message.error ? (
        <ErrorCard error={message.error} onRetry={message.question ? () => onRetry(message.question!) : undefined} />
      ) : null}
      {!streaming && (message.chart || charting) ? (
        <AnswerChart chart={message.chart ?? null} result={message.result} building={charting} onStopBuilding={() => setCharting(false)} messageId={message.id} />
      ) : null}
      {result ? (
        <DataGrid
          result={result}
          onRerun={() => run(result.sql).catch((err) => notify(String(err?.message ?? err), "error"))}
          actions={
            result.id && !streaming ? (
              <button type="button" class="chatdf-btn chatdf-btn--quiet" aria-pressed={charting} onClick={() => setCharting((v) => !v)}>
                <Icon name="chart" /> Chart this
              </button>
            ) : null
          }
        />
      ) : null}
      {expanded && message.result ? (
        <Dialog title="Result" class="chatdf-dialog--full" onClose={() => setExpanded(false)}>
          <DataGrid result={message.result} onRerun={() => run(message.result!.sql).catch((err) => notify(String(err?.message ?? err), "error"))} />
        </Dialog>
      ) : null}
      {!streaming && (lastSql || text || message.result) ? (
        <div class="chatdf-msg__actions">
          {message.result ? (
            <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" onClick={() => setExpanded(true)}>
              <Icon name="expand" /> Expand result
            </button>
          ) : null}
          {lastSql ? (
            <button
              type="button"
              class="chatdf-btn chatdf-btn--quiet chatdf-btn--small"
              aria-expanded={showSql}
              onClick={() => setShowSql((v) => !v)}
            >
              <Icon name="code" /> {showSql ? "Hide SQL" : "Show SQL"}
            </button>
          ) : null}
          {text ? <CopyButton text={text} label="Copy answer" /> : null}
        </div>
      ) : null}
      {showSql && lastSql ? (
        <SqlPanel sql={lastSql} earlier={message.sql.slice(0, -1)} onRun={run} onClose={() => setShowSql(false)} />
      ) : null}
    </li>
  );
}
