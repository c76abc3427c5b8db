import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * scikit-learn classifiers converted by skl2onnx end in a ZipMap: a sequence of {class: probability}
 * maps, which onnxruntime-node cannot return ("Non tensor type is temporarily not supported").
 * At publish we add the ZipMap's input (the probability tensor) as an extra graph output and
 * record the classes, so the runtime fetches the tensor and rebuilds the maps itself.
 */

/** One ZipMap output served from its probability tensor. */
export interface ZipMapOutput {
  /** The model's output name, e.g. "output_probability". */
  readonly output: string;
  /** The tensor feeding the ZipMap, exposed as an extra graph output, e.g. "probabilities". */
  readonly tensor: string;
  /** Class labels, in the tensor's column order. */
  readonly classes: readonly (number | string)[];
}

/** What the serving copy of a model changes, kept next to it as serving.json. */
export interface ServingNotes {
  readonly zipmaps: readonly ZipMapOutput[];
}

export const SERVING_NOTES = 'serving.json';
export const SERVING_MODEL = 'model.serving.onnx';

function classesOf(node: onnxProto.onnx.INodeProto): (number | string)[] | null {
  for (const attr of node.attribute ?? []) {
    if (attr.name === 'classlabels_int64s' && attr.ints) return attr.ints.map((v) => Number(v.toString()));
    if (attr.name === 'classlabels_strings' && attr.strings) return attr.strings.map((b) => Buffer.from(b).toString('utf8'));
  }
  return null;
}

/**
 * Writes `model.serving.onnx` and `serving.json` when the model has ZipMap outputs; returns the
 * file to serve and the files it wrote (none when the model needs no change).
 */
export async function prepareOnnxForServing(dir: string, mainFile: string): Promise<{ mainFile: string; written: string[]; metadataProps: Record<string, string> }> {
  const model = onnx.ModelProto.decode(await readFile(join(dir, mainFile)));
  // The model's own key/value notes (e.g. WinML's Image.BitmapPixelFormat), read while it is decoded anyway.
  const metadataProps = Object.fromEntries((model.metadataProps ?? []).filter((p) => p.key).map((p) => [p.key!, p.value ?? '']));
  const graph = model.graph;
  if (!graph) return { mainFile, written: [], metadataProps };
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const zipmaps: ZipMapOutput[] = [];
  for (const node of graph.node ?? []) {
    const output = node.output?.[0];
    const tensor = node.input?.[0];
    if (node.opType !== 'ZipMap' || !output || !tensor || !outputs.has(output)) continue;
    const classes = classesOf(node);
    if (!classes) continue;
    zipmaps.push({ output, tensor, classes });
    if (!outputs.has(tensor)) {
      graph.output!.push(onnx.ValueInfoProto.create({ name: tensor, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
    }
  }
  if (zipmaps.length === 0) return { mainFile, written: [], metadataProps };
  await writeFile(join(dir, SERVING_MODEL), onnx.ModelProto.encode(model).finish());
  await writeFile(join(dir, SERVING_NOTES), JSON.stringify({ zipmaps } satisfies ServingNotes, null, 2));
  return { mainFile: SERVING_MODEL, written: [SERVING_MODEL, SERVING_NOTES], metadataProps };
}

export async function readServingNotes(dir: string): Promise<ServingNotes> {
  try {
    return JSON.parse(await readFile(join(dir, SERVING_NOTES), 'utf8')) as ServingNotes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { zipmaps: [] };
    throw err;
  }
}
