/**
 * The floor of the throughput scenario: the least a Node server can do to answer inferbox's iris
 * request. One process, one Koa app, @koa/bodyparser, and one onnxruntime-node session of the same
 * model file inferbox serves (the version's serving copy, `model.serving.onnx`, with the ZipMap's
 * probability tensor as an output), run through onnxruntime-node's public API with the session
 * options inferbox uses. It answers the body inferbox answers:
 *   {"result":[{"output_label":[0],"output_probability":[{"0":0.868,"1":0.131,"2":0.00004}]}]}
 * Started by run.ts (floor.ts), not by hand:
 *   node --import tsx test/bench/floor-server.ts <model version dir> <port>
 * It prints "listening" on stdout once it accepts connections, and exits on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import * as ort from 'onnxruntime-node';

interface ServingNotes {
  readonly zipmaps: readonly { readonly output: string; readonly tensor: string; readonly classes: readonly (number | string)[] }[];
}

const [dir, port] = process.argv.slice(2);
if (dir === undefined || port === undefined) throw new Error('usage: floor-server.ts <model version dir> <port>');
const { zipmaps } = JSON.parse(readFileSync(join(dir, 'serving.json'), 'utf8')) as ServingNotes;
const zipmap = zipmaps[0];
if (zipmap === undefined) throw new Error(`${dir}/serving.json names no ZipMap output: not the iris model`);

const session = await ort.InferenceSession.create(join(dir, 'model.serving.onnx'), {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const input = session.inputNames[0]!;
const label = session.outputNames.find((n) => n !== zipmap.output && n !== zipmap.tensor)!;
const classes = zipmap.classes.map(String);
const width = classes.length;

const app = new Koa();
app.use(bodyParser({ enableTypes: ['json'] }));
app.use(async (ctx) => {
  const records = (ctx.request.body as { args: { X: Record<string, number[]>[] } }).args.X;
  const features = records[0]![input]!.length;
  const data = new Float32Array(records.length * features);
  records.forEach((r, i) => data.set(r[input]!, i * features));
  const out = await session.run({ [input]: new ort.Tensor('float32', data, [records.length, features]) }, [label, zipmap.tensor]);
  const labels = out[label]!.data as BigInt64Array;
  const probabilities = out[zipmap.tensor]!.data as Float32Array;
  ctx.body = {
    result: records.map((_, r) => ({
      [label]: [Number(labels[r])],
      [zipmap.output]: [Object.fromEntries(classes.map((c, i) => [c, probabilities[r * width + i]]))],
    })),
  };
});
app.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
// process.exit runs the exit handlers, so a CPU profile (see cpu-profile.ts) is written.
process.once('SIGTERM', () => process.exit(0));
