/**
 * A CodeMirror editor loaded on demand (the "editor" chunk, see chunks/load.ts).
 * Until the chunk arrives the text shows read-only, so nothing jumps or is lost.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { EditorHandle } from "../chunks/editor";
import { loadChunk } from "../chunks/load";
import { useWidget } from "../context";

interface Props {
  doc: string;
  language: "sql" | "json";
  label: string;
  placeholder?: string;
  onRun?: () => void;
  /** Receives the editor once it is ready (null when it goes). */
  editorRef: { current: EditorHandle | null };
}

export function CodeEditor({ doc, language, label, placeholder, onRun, editorRef }: Props) {
  const { api } = useWidget();
  const host = useRef<HTMLDivElement>(null);
  const runRef = useRef(onRun);
  runRef.current = onRun;
  const docRef = useRef(doc);
  docRef.current = doc;
  const [problem, setProblem] = useState<string | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let editor: EditorHandle | null = null;
    let gone = false;
    loadChunk(api.rpc, "editor").then(
      ({ createEditor }) => {
        if (gone || !host.current) return;
        host.current.textContent = "";
        editor = createEditor(host.current, { doc: docRef.current, language, label, placeholder, onRun: () => runRef.current?.() });
        editorRef.current = editor;
        setReady(true);
      },
      (err) => !gone && setProblem(`The editor did not load: ${err instanceof Error ? err.message : String(err)}`),
    );
    return () => {
      gone = true;
      editor?.destroy();
      editorRef.current = null;
    };
  }, []);

  // New text from the kernel (e.g. after Run) replaces the editor's.
  useEffect(() => editorRef.current?.setText(doc), [doc]);

  return (
    <>
      <div class="chatdf-sql__editor" ref={host}>
        {ready ? null : <pre class="chatdf-sql__loading">{doc}</pre>}
      </div>
      {problem ? (
        <p class="chatdf-sql__error" role="alert">
          {problem}
        </p>
      ) : null}
    </>
  );
}
