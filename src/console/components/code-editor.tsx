import { autocompletion, completeFromList } from '@codemirror/autocomplete';
import { javascript, localCompletionSource } from '@codemirror/lang-javascript';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { useEffect, useRef } from 'preact/hooks';
import { scriptCompletions } from '../completions.js';

/** A text to put in the editor; a new `id` replaces the editor's text with it (a loaded script, a generated template). */
export interface EditorDocument {
  readonly id: number;
  readonly text: string;
}

/**
 * The script editor: CodeMirror 6 with JavaScript/TypeScript highlighting (scripts may be either:
 * the server strips types) and completion of the sandbox's API. The editor owns its text and
 * reports each change; the page replaces the text only by passing a document with a new id. (A
 * text prop compared with the editor's would ping-pong: effects run after typing has moved on, so
 * a stale value would overwrite the newer text, which is reported back, and so on.)
 */
export function CodeEditor({ document, onChange, label }: { document: EditorDocument; onChange: (text: string) => void; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: document.text,
        extensions: [
          basicSetup,
          javascript({ typescript: true }),
          // Our API first; then names the script itself defines, and JavaScript's keywords.
          autocompletion({ override: [scriptCompletions, localCompletionSource, completeFromList(['async', 'await', 'function', 'return', 'const', 'let', 'for', 'if', 'else'])] }),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) changed.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    return () => editor.destroy();
  }, []);

  const shown = useRef(document.id);
  useEffect(() => {
    const editor = view.current;
    if (editor && shown.current !== document.id) {
      shown.current = document.id;
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: document.text } });
    }
  }, [document.id]);

  return <div class="code-editor" ref={host} data-testid="code-editor" />;
}
