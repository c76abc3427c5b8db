import type { TensorView } from '../../api/types.js';
import { shapeText } from '../payload.js';

/** Inputs or outputs as the seed's overview lists them: name, dtype, shape with -1 for free dimensions. */
export function TensorTable({ title, tensors }: { title: string; tensors: readonly TensorView[] }) {
  return (
    <section class="tensors">
      <h3>{title}</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">dtype</th>
            <th scope="col">shape</th>
          </tr>
        </thead>
        <tbody>
          {tensors.map((t) => (
            <tr key={t.name}>
              <td>
                <code>{t.name}</code>
              </td>
              <td>{t.dtype ?? t.kind ?? 'not a tensor'}</td>
              <td>
                <code>{shapeText(t.shape)}</code>
                {t.classes ? <span class="hint"> labels: {t.classes.join(', ')}</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
