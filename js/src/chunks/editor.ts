/**
 * The code editor chunk (CodeMirror 6): SQL under an answer, JSON for a chart's
 * spec. Built as its own file (chatdf/static/editor.js) and fetched over the
 * comm the first time an editor opens (see ./load.ts), so the first view does
 * not carry it. Plain DOM in, a small handle out: no Preact in here.
 */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { sql as sqlLanguage, PostgreSQL } from "@codemirror/lang-sql";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, type DecorationSet, EditorView, keymap, placeholder } from "@codemirror/view";
import { tags } from "@lezer/highlight";

// Colours come from CSS variables so the light, dark and JupyterLab themes all apply.
const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: "var(--chatdf-sql-keyword)", fontWeight: "600" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--chatdf-sql-string)" },
  { tag: [tags.number, tags.bool, tags.null], color: "var(--chatdf-sql-number)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--chatdf-fg-muted)", fontStyle: "italic" },
  { tag: [tags.operator, tags.punctuation], color: "var(--chatdf-fg-muted)" },
  { tag: [tags.function(tags.variableName), tags.standard(tags.name)], color: "var(--chatdf-sql-function)" },
  { tag: tags.propertyName, color: "var(--chatdf-sql-function)" },
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

// An error's position, underlined until the text changes (SqlPanel sets it after a failed run).
const markEffect = StateEffect.define<{ from: number; to: number } | null>();
const errorMark = Decoration.mark({ class: "chatdf-sql__error-mark", attributes: { title: "The error is here" } });
const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    for (const effect of tr.effects) {
      if (effect.is(markEffect)) return effect.value ? Decoration.set([errorMark.range(effect.value.from, effect.value.to)]) : Decoration.none;
    }
    return tr.docChanged ? Decoration.none : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

export interface EditorOptions {
  doc: string;
  language: "sql" | "json";
  /** The accessible name of the text area. */
  label: string;
  placeholder?: string;
  /** Ctrl/Cmd+Enter. */
  onRun?: () => void;
}

export interface EditorHandle {
  getText(): string;
  setText(text: string): void;
  focus(): void;
  /** Underline `from`..`to` (offsets in the text) as the error's place; null clears it. */
  markError(range: { from: number; to: number } | null): void;
  destroy(): void;
}

export function createEditor(parent: HTMLElement, options: EditorOptions): EditorHandle {
  const language = options.language === "sql" ? sqlLanguage({ dialect: PostgreSQL, upperCaseKeywords: true }) : json();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc,
      extensions: [
        history(),
        keymap.of([
          { key: "Mod-Enter", run: () => (options.onRun?.(), true) },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        language,
        syntaxHighlighting(highlight),
        EditorView.lineWrapping,
        placeholder(options.placeholder ?? ""),
        theme,
        errorField,
        EditorView.contentAttributes.of({ "aria-label": options.label }),
      ],
    }),
  });
  return {
    getText: () => view.state.doc.toString(),
    setText(text) {
      if (view.state.doc.toString() !== text) {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      }
    },
    focus: () => view.focus(),
    markError(range) {
      const fits = range && range.from < range.to && range.to <= view.state.doc.length;
      view.dispatch({ effects: fits ? [markEffect.of(range), EditorView.scrollIntoView(range.from)] : markEffect.of(null) });
    },
    destroy: () => view.destroy(),
  };
}
