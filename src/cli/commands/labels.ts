import { Option, type Command } from 'commander';
import type { DeploymentView } from '../../api/types.js';
import { contextOf } from '../context.js';
import { checkReadable, preprocessBlock } from '../inputs.js';
import { keyValues, labelRows, preprocessRows, type Streams } from '../output.js';
import { positiveInt, SCORES } from './deploy.js';

const summary = (d: DeploymentView) => keyValues([['deployment', d.deployment_name], ...preprocessRows(d), ...labelRows(d)]);

export function registerLabels(program: Command, io: Streams): void {
  program
    .command('labels')
    .summary('upload a deployment\'s label file, or print its labels')
    .description(
      'With a file, set the deployment\'s labels from it (PUT .../labels): one label per line (class 0 first), or a .json list or ' +
        'TorchServe\'s index_to_name.json; its output then answers [{label, score}] per record, best first. Without, print the labels by output.',
    )
    .argument('<deployment>', 'the deployment name')
    .argument('[file]', 'the label file')
    .option('--output <name>', 'the output the labels name (when the model has several)')
    .option('--top-k <n>', 'how many labels each record answers', positiveInt)
    .addOption(new Option('--scores <how>', 'how label scores are made: auto detects probabilities from the sample').choices(SCORES))
    .action(async (name: string, file: string | undefined, flags: { output?: string; topK?: number; scores?: (typeof SCORES)[number] }, command: Command) => {
      const ctx = contextOf(command, io);
      if (file === undefined) {
        const labels = await ctx.client.getLabels(name);
        ctx.show(labels, () => keyValues([['top_k', labels.top_k], ...Object.entries(labels.labels).map(([output, names]) => [output, names.join(', ')] as [string, string])]));
        return;
      }
      checkReadable(file, 'labels');
      const d = await ctx.client.putLabelsFile(name, file, { ...(flags.output !== undefined ? { output: flags.output } : {}), ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
        ...(flags.scores !== undefined ? { scores: flags.scores } : {}),
      });
      ctx.show(d, () => summary(d));
    });

  program
    .command('preprocess')
    .summary('set or remove a deployment\'s image preprocessing block')
    .description(
      'Set the deployment\'s preprocess block (PATCH): JSON text or a .json file, e.g. \'{"input": {"scale": 0.00392156862745098}}\' ' +
        '(docs/uploads.md); "none" removes it, so uploads are fed raw 0..255 pixels.',
    )
    .argument('<deployment>', 'the deployment name')
    .argument('<block>', 'JSON text, a .json file, or none')
    .action(async (name: string, block: string, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      const d = await ctx.client.patchDeployment(name, { preprocess: block === 'none' ? null : preprocessBlock(block, 'preprocess') });
      ctx.show(d, () => summary(d));
    });
}
