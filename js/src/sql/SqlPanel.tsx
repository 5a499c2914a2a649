/**
 * The SQL behind an answer: highlighted by CodeMirror, editable, and "Run"
 * re-executes it in the kernel through the same read-only guard, replacing the
 * result shown under the message.
 */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { sql as sqlLanguage, PostgreSQL } from "@codemirror/lang-sql";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, type DecorationSet, EditorView, keymap, placeholder } from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { useEffect, useRef, useState } from "preact/hooks";
import { RpcError } from "../rpc";
import { Icon } from "../ui/icons";
import { copyText } from "../utils/clipboard";
import { errorRange, humanError } from "../utils/errors";

// The error's position, underlined in the editor until the text changes.
const markError = StateEffect.define<{ from: number; to: number } | null>();
const errorMark = Decoration.mark({ class: "chatdf-sql__error-mark", attributes: { title: "The error is here" } });
const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    for (const effect of tr.effects) {
      if (effect.is(markError)) return effect.value ? Decoration.set([errorMark.range(effect.value.from, effect.value.to)]) : Decoration.none;
    }
    return tr.docChanged ? Decoration.none : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// Colours come from CSS variables so the light, dark and JupyterLab themes all apply.
const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: "var(--chatdf-sql-keyword)", fontWeight: "600" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--chatdf-sql-string)" },
  { tag: [tags.number, tags.bool, tags.null], color: "var(--chatdf-sql-number)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--chatdf-fg-muted)", fontStyle: "italic" },
  { tag: [tags.operator, tags.punctuation], color: "var(--chatdf-fg-muted)" },
  { tag: [tags.function(tags.variableName), tags.standard(tags.name)], color: "var(--chatdf-sql-function)" },
]);

const theme = EditorView.theme({
  "&": { fontSize: "var(--chatdf-code-size)", background: "transparent", color: "var(--chatdf-fg)" },
  ".cm-content": { fontFamily: "var(--chatdf-mono)", caretColor: "var(--chatdf-fg)", padding: "8px 0" },
  ".cm-line": { padding: "0 10px" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": { maxHeight: "240px", overflow: "auto" },
  ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": { background: "var(--chatdf-selection) !important" },
  ".cm-cursor": { borderLeftColor: "var(--chatdf-fg)" },
});

interface Props {
  sql: string;
  /** Earlier queries of the same answer (failed or superseded), shown for context. */
  earlier?: string[];
  onRun: (sql: string) => Promise<void>;
  onClose: () => void;
}

export function SqlPanel({ sql, earlier = [], onRun, onClose }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const [running, setRunning] = useState(false);
  const [problem, setProblem] = useState<RpcError | null>(null);
  const [copied, setCopied] = useState(false);
  const runRef = useRef<() => void>(() => {});

  useEffect(() => {
    if (!host.current) return;
    const editor = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: sql,
        extensions: [
          history(),
          keymap.of([
            { key: "Mod-Enter", run: () => (runRef.current(), true) },
            ...defaultKeymap,
            ...historyKeymap,
          ]),
          sqlLanguage({ dialect: PostgreSQL, upperCaseKeywords: true }),
          syntaxHighlighting(highlight),
          EditorView.lineWrapping,
          placeholder("SELECT …"),
          theme,
          errorField,
          EditorView.contentAttributes.of({ "aria-label": "SQL query (editable)" }),
        ],
      }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
  }, []);

  // A new query from the kernel (e.g. after Run) replaces the text.
  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== sql) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: sql } });
    }
  }, [sql]);

  async function run() {
    const text = view.current?.state.doc.toString().trim() ?? "";
    if (!text || running) return;
    setRunning(true);
    setProblem(null);
    view.current?.dispatch({ effects: markError.of(null) });
    try {
      await onRun(text);
    } catch (err) {
      const failure = err instanceof RpcError ? err : new RpcError(err instanceof Error ? err.message : String(err), "error");
      setProblem(failure);
      const editor = view.current;
      const range = editor ? errorRange(editor.state.doc.toString(), failure.details, failure.message) : null;
      if (editor && range && range.to <= editor.state.doc.length) {
        editor.dispatch({ effects: [markError.of(range), EditorView.scrollIntoView(range.from)] });
      }
    } finally {
      setRunning(false);
    }
  }
  runRef.current = run;

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
            await copyText(view.current?.state.doc.toString() ?? sql);
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
      <div class="chatdf-sql__editor" ref={host} />
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
