import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { CallBody, FormField } from '../api.js';
import { Field } from './tabs.js';

let nextId = 0;
interface Row extends FormField {
  readonly id: number;
}
const row = (name: string, type: 'text' | 'file'): Row => ({ id: nextId++, name, type, text: '', file: null });

/**
 * A request body as a user builds it: JSON text, or a form whose fields are each text or a file
 * (a PNG under the image input's name, as the seed's "test as API" does). `fileFields` are the
 * fields a form starts with, e.g. the model's image inputs.
 */
export function CallForm({
  initialJson,
  fileFields,
  busy,
  submitLabel,
  onSubmit,
  onRandom,
  children,
}: {
  initialJson: string;
  fileFields: readonly string[];
  busy: boolean;
  submitLabel: string;
  onSubmit: (body: CallBody) => void;
  /** Shown as a "Random payload" button when given: answers new JSON text. */
  onRandom?: () => string;
  children?: ComponentChildren;
}) {
  const [kind, setKind] = useState<'json' | 'form'>('json');
  const [json, setJson] = useState(initialJson);
  const [rows, setRows] = useState<Row[]>(() => (fileFields.length > 0 ? fileFields.map((f) => row(f, 'file')) : [row('', 'file')]));
  const update = (id: number, change: Partial<FormField>) => setRows((rs) => rs.map((r) => (r.id === id ? { ...r, ...change } : r)));

  const submit = (e: Event) => {
    e.preventDefault();
    onSubmit(kind === 'json' ? { kind, json } : { kind, fields: rows });
  };

  return (
    <form class="call-form" onSubmit={submit}>
      {children}
      <fieldset class="body-kind">
        <legend>Body</legend>
        <label>
          <input type="radio" name="body-kind" value="json" checked={kind === 'json'} onChange={() => setKind('json')} /> JSON
        </label>
        <label>
          <input type="radio" name="body-kind" value="form" checked={kind === 'form'} onChange={() => setKind('form')} /> Form (files and text fields)
        </label>
      </fieldset>
      {kind === 'json' ? (
        <Field label="Request body (JSON)" hint='{ "args": { "X": [ record, ... ] } }: records name each input.'>
          <textarea class="json-body" rows={12} spellcheck={false} value={json} onInput={(e) => setJson(e.currentTarget.value)} data-testid="json-body" />
        </Field>
      ) : (
        <div class="form-fields">
          {rows.map((r, i) => (
            <div class="form-field" key={r.id}>
              <Field label={`Field ${i + 1} name`}>
                <input value={r.name} onInput={(e) => update(r.id, { name: e.currentTarget.value })} placeholder="e.g. input_1" data-testid="form-field-name" />
              </Field>
              <Field label="Kind">
                <select value={r.type} onChange={(e) => update(r.id, { type: e.currentTarget.value as 'text' | 'file' })} data-testid="form-field-kind">
                  <option value="file">file</option>
                  <option value="text">text</option>
                </select>
              </Field>
              {r.type === 'file' ? (
                <Field label="File">
                  <input type="file" onChange={(e) => update(r.id, { file: e.currentTarget.files?.[0] ?? null })} data-testid="form-field-file" />
                </Field>
              ) : (
                <Field label="Value">
                  <input value={r.text} onInput={(e) => update(r.id, { text: e.currentTarget.value })} data-testid="form-field-text" />
                </Field>
              )}
              <button type="button" class="secondary" aria-label={`Remove field ${i + 1}`} onClick={() => setRows((rs) => rs.filter((x) => x.id !== r.id))}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" class="secondary" onClick={() => setRows((rs) => [...rs, row('', 'text')])}>
            Add a field
          </button>
        </div>
      )}
      <div class="actions">
        {onRandom && kind === 'json' ? (
          <button type="button" class="secondary" onClick={() => setJson(onRandom())}>
            Random payload
          </button>
        ) : null}
        <button type="submit" disabled={busy} data-testid="submit-call">
          {busy ? 'Running…' : submitLabel}
        </button>
      </div>
    </form>
  );
}
