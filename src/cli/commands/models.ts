import type { Command } from 'commander';
import type { EvaluationView, ModelVersionView, TensorView } from '../../api/types.js';
import { contextOf } from '../context.js';
import { bytes, cellText, clip, keyValues, shape, table, when, type Streams } from '../output.js';

/** "onnx", or "tfjs (from keras-h5, Keras 2.15.0)" when the upload was converted. */
function formatOf(v: Pick<ModelVersionView, 'format' | 'source_format'> & { keras_version?: string | null }): string {
  if (v.source_format === v.format) return v.format;
  return `${v.format} (from ${v.source_format}${v.keras_version ? `, Keras ${v.keras_version}` : ''})`;
}

function tensorRow(kind: string, t: TensorView): string[] {
  const notes: string[] = [];
  if (t.classes) notes.push(`classes ${t.classes.join(', ')}`);
  if (t.dtype === null) notes.push(`not returned${t.kind ? ` (${t.kind})` : ''}`);
  if (t.dim_names?.some((d) => d)) notes.push(`dims ${t.dim_names.map((d) => d ?? '?').join(', ')}`);
  return [kind, t.name, t.dtype ?? '-', shape(t.shape), notes.join('; ')];
}

/** `accuracy 1 on 2 samples (y_test as one-hot)`: the score and how y_test was read. */
export function evaluationText(e: EvaluationView): string {
  const kind = e.y_test_kind ? ` (y_test as ${e.y_test_kind.replace('_', '-')})` : '';
  return `${e.metric} ${e.value} on ${e.samples} sample${e.samples === 1 ? '' : 's'}${kind}`;
}

/** One version for people: its facts, then its inputs and outputs. */
export function versionBlock(v: ModelVersionView, latest: boolean): string {
  const facts = keyValues(
    [
      ['format', formatOf(v)],
      ['backend', v.backend],
      ['mining function', v.mining_function],
      ['description', v.description],
      ['size', bytes(v.size)],
      ['created', when(v.created)],
      ['evaluation', v.evaluation ? evaluationText(v.evaluation) : null],
      ['sample', v.sample === null ? null : clip(v.sample)],
    ],
    '  ',
  );
  const tensors = table(['kind', 'name', 'dtype', 'shape', 'notes'], [...v.inputs.map((t) => tensorRow('input', t)), ...v.outputs.map((t) => tensorRow('output', t))], '  ');
  return `${v.model_name} version ${v.model_version}${latest ? ' (latest)' : ''}\n${facts}\n\n${tensors}`;
}

export function registerModels(program: Command, io: Streams): void {
  program
    .command('models')
    .summary('list models, or show one model\'s versions')
    .description('List the models; with a name, show each of its versions with its inputs and outputs.')
    .argument('[name]', 'a model name')
    .action(async (name: string | undefined, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      if (name === undefined) {
        const models = await ctx.client.listModels();
        ctx.show(models, () =>
          models.length === 0
            ? 'no models'
            : table(
                ['name', 'latest', 'versions', 'format', 'size', 'created', 'description'],
                models.map((m) => [m.model_name, m.latest_version, m.versions.length, formatOf(m), bytes(m.size), when(m.created), m.description]),
              ),
        );
        return;
      }
      const model = await ctx.client.getModel(name);
      ctx.show(model, () => model.versions.map((v) => versionBlock(v, v.model_version === model.latest_version)).join('\n\n'));
    });

  program
    .command('versions')
    .summary('list a model\'s versions')
    .description('List the versions of a model, oldest first (--json: their metadata, as `models <name>` answers it under "versions").')
    .argument('<name>', 'the model name')
    .action(async (name: string, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      const model = await ctx.client.getModel(name);
      ctx.show(model.versions, () =>
        table(
          ['version', 'format', 'size', 'created', 'mining function', 'evaluation', 'description'],
          model.versions.map((v) => [
            v.model_version + (v.model_version === model.latest_version ? ' (latest)' : ''),
            formatOf(v),
            bytes(v.size),
            when(v.created),
            v.mining_function,
            v.evaluation ? `${v.evaluation.metric} ${v.evaluation.value}` : null,
            cellText(v.description),
          ]),
        ),
      );
    });
}
