/**
 * The SQL behind an answer: highlighted by CodeMirror, editable, and "Run"
 * re-executes it in the kernel through the same read-only guard, replacing the
 * result shown under the message.
 */
import { useRef, useState } from "preact/hooks";
import type { EditorHandle } from "../chunks/editor";
import { RpcError } from "../rpc";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { errorRange, humanError } from "../utils/errors";
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
  const [problem, setProblem] = useState<RpcError | null>(null);
  const [copied, setCopied] = useState(false);

  async function run() {
    const text = view.current?.getText().trim() ?? "";
    if (!text || running) return;
    setRunning(true);
    setProblem(null);
    view.current?.markError(null);
    try {
      await onRun(text);
    } catch (err) {
      const failure = err instanceof RpcError ? err : new RpcError(err instanceof Error ? err.message : String(err), "error");
      setProblem(failure);
      // Mark where the error is, when the kernel says (line/column) or names a missing column.
      const editor = view.current;
      const range = editor ? errorRange(editor.getText(), failure.details, failure.message) : null;
      if (editor && range) editor.markError(range);
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
      {problem ? <SqlError error={problem} /> : null}
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

/** A failed run: a human first line, the raw message in a disclosure. */
function SqlError({ error }: { error: RpcError }) {
  const { title, detail } = humanError(error.message, error.errorType);
  return (
    <div class="chatdf-sql__error" role="alert">
      <p class="chatdf-sql__error-title">{title}</p>
      {detail ? (
        <details class="chatdf-error__details">
          <summary>Details</summary>
          <pre class="chatdf-error__raw">{detail}</pre>
        </details>
      ) : null}
    </div>
  );
}
