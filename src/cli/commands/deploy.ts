import { InvalidArgumentError, Option, type Command } from 'commander';
import { contextOf } from '../context.js';
import { labelsFile, preprocessBlock, readText } from '../inputs.js';
import { clip, keyValues, labelRows, preprocessRows, type Streams } from '../output.js';

/** commander's parser for a positive whole number. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

interface DeployFlags {
  name: string;
  version?: string;
  replicas?: number;
  script?: boolean;
  scriptFile?: string;
  timeoutMs?: number;
  memoryLimitMb?: number;
  maxRecords?: number;
  maxElements?: number;
  preprocess?: string;
  labels?: string;
  topK?: number;
  scores?: 'auto' | 'probabilities' | 'softmax' | 'sigmoid';
  requestTimeoutMs?: number;
  maxQueue?: number;
  maxBatchSize?: number;
  maxDelayUs?: number;
}

/** commander's parser for a whole number of 0 or more. */
function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of 0 or more');
  return n;
}

/** The deployment's `scores` choices (docs/api/deployments.md#labels). */
export const SCORES = ['auto', 'softmax', 'sigmoid', 'probabilities'] as const;

export function registerDeploy(program: Command, io: Streams): void {
  program
    .command('deploy')
    .summary('deploy a model version behind an endpoint')
    .description('Deploy a model version as --name; answers its endpoint, its token (shown once) and a payload to call it with.')
    .argument('<model>', 'the model name')
    .requiredOption('-n, --name <deployment>', 'the deployment name')
    .option('-v, --version <version>', 'the model version (default: the latest)')
    .option('--replicas <n>', 'runtime workers that serve it (with a script: its sandboxes)', positiveInt)
    .addOption(new Option('--script', 'run the version\'s saved script').conflicts('scriptFile'))
    .addOption(new Option('--script-file <file>', 'run this script (JavaScript or TypeScript)').conflicts('script'))
    .option('--timeout-ms <ms>', 'time limit of one script call', positiveInt)
    .option('--memory-limit-mb <mb>', 'memory limit of the script\'s sandbox', positiveInt)
    .option('--max-records <n>', 'most records one call may carry', positiveInt)
    .option('--max-elements <n>', 'most values one call\'s arguments may hold', positiveInt)
    .option('--preprocess <block>', 'image preprocessing per image input: JSON text or a .json file (default: the block the version implies, if any)')
    .option('--labels <file>', 'a label file: one label per line, or a .json list / index_to_name.json (no script)')
    .option('--top-k <n>', 'how many labels each record answers (with --labels)', positiveInt)
    .addOption(new Option('--scores <how>', 'how label scores are made (with --labels): auto detects probabilities from the sample').choices(SCORES))
    .option('--request-timeout-ms <ms>', 'the deadline of one call from its arrival (504 past it)', positiveInt)
    .option('--max-queue <n>', 'calls that may wait for a worker (503 beyond)', nonNegativeInt)
    .option('--max-batch-size <n>', 'dynamic batching: most rows one model run takes from concurrent calls (1: off)', positiveInt)
    .option('--max-delay-us <us>', 'dynamic batching: microseconds a run may wait for more calls', nonNegativeInt)
    .action(async (model: string, flags: DeployFlags, command: Command) => {
      const ctx = contextOf(command, io);
      const script = flags.scriptFile !== undefined ? readText(flags.scriptFile, '--script-file') : flags.script ? true : undefined;
      const preprocess = flags.preprocess !== undefined ? preprocessBlock(flags.preprocess, '--preprocess') : undefined;
      const labels = flags.labels !== undefined ? labelsFile(flags.labels, '--labels') : undefined;
      const answer = await ctx.client.deploy({
        modelName: model,
        deploymentName: flags.name,
        ...(flags.version !== undefined ? { modelVersion: flags.version } : {}),
        ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
        ...(script !== undefined ? { script } : {}),
        ...(flags.timeoutMs !== undefined ? { timeoutMs: flags.timeoutMs } : {}),
        ...(flags.memoryLimitMb !== undefined ? { memoryLimitMb: flags.memoryLimitMb } : {}),
        ...(flags.maxRecords !== undefined ? { maxRecords: flags.maxRecords } : {}),
        ...(flags.maxElements !== undefined ? { maxElements: flags.maxElements } : {}),
        ...(preprocess !== undefined ? { preprocess } : {}),
        ...(labels !== undefined ? { labels } : {}),
        ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
        ...(flags.scores !== undefined ? { scores: flags.scores } : {}),
        ...(flags.requestTimeoutMs !== undefined ? { requestTimeoutMs: flags.requestTimeoutMs } : {}),
        ...(flags.maxQueue !== undefined ? { maxQueue: flags.maxQueue } : {}),
        ...(flags.maxBatchSize !== undefined ? { maxBatchSize: flags.maxBatchSize } : {}),
        ...(flags.maxDelayUs !== undefined ? { maxDelayUs: flags.maxDelayUs } : {}),
      });
      ctx.show(answer, () =>
        keyValues([
          ['deployment', answer.deployment_name],
          ['model', `${answer.model_name} version ${answer.model_version}`],
          ['script', answer.has_script ? `yes, ${answer.replicas} replica${answer.replicas === 1 ? '' : 's'}, ${answer.timeout_ms} ms, ${answer.memory_limit_mb} MB` : 'no'],
          ...preprocessRows(answer),
          ...labelRows(answer),
          ['endpoint', answer.endpoint_url],
          ['token', `${answer.access_token}  (shown once; \`inferbox token ${answer.deployment_name}\` makes a new one)`],
          ['payload', clip(answer.payload)],
        ]),
      );
    });
}
