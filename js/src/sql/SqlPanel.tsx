/**
 * The SQL behind an answer: highlighted by CodeMirror, editable, and "Run"
 * re-executes it in the kernel through the same read-only guard, replacing the
 * result shown under the message.
 */
import { useRef, useState } from "preact/hooks";
import type { EditorHandle } from "../chunks/editor";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { CodeEditor } from "./CodeEditor";

interface Props {
  sql: string;
  /** Earlier queries of the same answer (failed or superseded), shown for context. */
  earlier?: string[];
  onRun: (sql: string) => Promise<void>;
  onClose: () => void;
}

export function SqlPanel({ sql, earlier = [], onRun, onClose }: Props) {
  const view = useRef<EditorHandle | null>(null);
  const [running, setRunning] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);

  async function run() {
    const text = view.current?.getText().trim() ?? "";
    if (!text || running) return;
    setRunning(true);
    setProblem(null);
    try {
      await onRun(text);
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    } finally {
      setRunning(false);
    }
  }

  return (
    <section
      class="chatdf-sql"
      aria-label="SQL"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <header class="chatdf-sql__bar">
        <span class="chatdf-sql__title">SQL</span>
        <span class="chatdf-sql__hint">Edit and run (Ctrl+Enter); read-only queries only</span>
        <button
          type="button"
          class="chatdf-icon-btn"
          aria-label="Copy SQL"
          title={copied ? "Copied" : "Copy SQL"}
          onClick={async () => {
            await copyText(view.current?.getText() ?? sql);
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          }}
        >
          <Icon name="copy" />
        </button>
        <button type="button" class="chatdf-btn chatdf-btn--primary chatdf-btn--small" onClick={run} disabled={running}>
          <Icon name="play" /> {running ? "Running…" : "Run"}
        </button>
        <button type="button" class="chatdf-icon-btn" aria-label="Close SQL" onClick={onClose}>
          <Icon name="x" />
        </button>
      </header>
      <CodeEditor doc={sql} language="sql" label="SQL query (editable)" placeholder="SELECT …" onRun={run} editorRef={view} />
      {copied ? (
        <p class="chatdf-sql__note" role="status">
          Copied to the clipboard.
        </p>
      ) : null}
      {problem ? (
        <p class="chatdf-sql__error" role="alert">
          {problem}
        </p>
      ) : null}
      {earlier.length ? (
        <details class="chatdf-sql__earlier">
          <summary>Earlier queries in this answer ({earlier.length})</summary>
          {earlier.map((q, i) => (
            <pre key={i}>{q}</pre>
          ))}
        </details>
      ) : null}
    </section>
  );
}
