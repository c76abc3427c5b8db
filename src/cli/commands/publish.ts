import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { contextOf } from '../context.js';
import { evaluationText } from './models.js';
import { checkReadable, testTable } from '../inputs.js';
import { progressBar, PROGRESS_MIN_BYTES, type Streams } from '../output.js';

interface PublishFlags {
  name: string;
  miningFunction?: string;
  description?: string;
  xTest?: string;
  yTest?: string;
  progress: boolean;
}

/** Bytes a path uploads: a file's size, or the files directly in a folder. */
function uploadBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + statSync(join(path, e.name)).size, 0);
}

export function registerPublish(program: Command, io: Streams): void {
  program
    .command('publish')
    .summary('publish a model file as a new version')
    .description(
      'Publish a model: a new version of --name. The files are one .onnx, Keras .h5 or .keras file, a TF.js model.json with its weight files, a zip of any of these, or a folder of them.',
    )
    .argument('<file...>', 'the model file(s), or a folder')
    .requiredOption('-n, --name <name>', 'the model name')
    .option('--mining-function <function>', 'e.g. classification, regression')
    .option('--description <text>', 'free text')
    .option('--x-test <json|file>', 'test inputs: a .json file, a .csv file of numbers, or JSON text (records [{"input": [...]}], rows [[...]] or {"columns", "data"})')
    .option('--y-test <json|file>', 'one target per x-test row: a .json file, a .csv file, or JSON text; with --x-test the version is scored')
    .addOption(new Option('--no-progress', `no progress bar on stderr (shown for uploads of ${PROGRESS_MIN_BYTES / 2 ** 20} MB or more)`))
    .action(async (files: string[], flags: PublishFlags, command: Command) => {
      const ctx = contextOf(command, io);
      for (const file of files) checkReadable(file, 'publish', true);
      const xTest = flags.xTest !== undefined ? testTable(flags.xTest, '--x-test', 'x') : undefined;
      const yTest = flags.yTest !== undefined ? testTable(flags.yTest, '--y-test', 'y') : undefined;
      const total = files.reduce((sum, f) => sum + uploadBytes(f), 0);
      const bar = flags.progress && total >= PROGRESS_MIN_BYTES ? progressBar(io, `uploading ${flags.name}`) : undefined;
      let answer;
      try {
        answer = await ctx.client.publish(files.length === 1 ? files[0]! : files, {
          name: flags.name,
          ...(flags.description !== undefined ? { description: flags.description } : {}),
          ...(flags.miningFunction !== undefined ? { miningFunction: flags.miningFunction } : {}),
          ...(xTest !== undefined ? { xTest } : {}),
          ...(yTest !== undefined ? { yTest } : {}),
          ...(bar !== undefined ? { onProgress: (sent: number, all: number) => bar.update(sent, all) } : {}),
        });
      } finally {
        bar?.done();
      }
      ctx.show(answer, () => {
        const published = `published ${answer.model_name} version ${answer.model_version}`;
        return answer.evaluation ? `${published}\nevaluation: ${evaluationText(answer.evaluation)}` : published;
      });
    });
}
