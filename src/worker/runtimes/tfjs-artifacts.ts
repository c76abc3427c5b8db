import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { ServeError } from '../../errors.js';

/** Which of tfjs's two model kinds a model.json holds. */
export type TfjsModelKind = 'layers-model' | 'graph-model';

/** The parts of a TF.js model.json we read; see tfjs-core's io/types.ts ModelJSON. */
interface ModelJson {
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
  readonly modelTopology?: Record<string, unknown>;
  readonly weightsManifest?: readonly { paths: readonly string[]; weights: readonly io.WeightsManifestEntry[] }[];
  readonly signature?: Record<string, unknown>;
  readonly userDefinedMetadata?: Record<string, unknown>;
  readonly modelInitializer?: Record<string, unknown>;
  readonly initializerSignature?: Record<string, unknown>;
}

export interface TfjsArtifacts {
  readonly kind: TfjsModelKind;
  readonly artifacts: io.ModelArtifacts;
}

function invalid(message: string, cause?: unknown): ServeError {
  return new ServeError('MODEL_INVALID', message, undefined, cause === undefined ? undefined : { cause });
}

/** layers-model or graph-model, from `format`, or from the topology's shape for old converters that omit it. */
export function tfjsModelKind(json: { format?: unknown; modelTopology?: unknown }): TfjsModelKind | null {
  if (json.format === 'layers-model' || json.format === 'graph-model') return json.format;
  const topology = json.modelTopology;
  if (typeof topology !== 'object' || topology === null) return null;
  if (Array.isArray((topology as { node?: unknown }).node)) return 'graph-model';
  if ('class_name' in topology || 'model_config' in topology) return 'layers-model';
  return null;
}

/**
 * A weight shard path from model.json, resolved inside the model's directory. Paths are relative to
 * model.json (as tfjs's http loader treats them); one that leaves the directory is refused.
 */
function shardPath(dir: string, mainFile: string, path: string): string {
  const relative = normalize(join(dirname(mainFile), path));
  if (isAbsolute(path) || relative === '..' || relative.startsWith(`..${sep}`) || path.includes('://')) {
    throw invalid(`model.json lists weight file "${path}", which is not a file beside it`);
  }
  return join(dir, relative);
}

/**
 * Reads model.json and its weight shards from disk into tfjs ModelArtifacts (the work tfjs's
 * file:// and http loaders do, without URLs: tfjs's IOHandler interface takes artifacts directly).
 */
export async function readTfjsArtifacts(dir: string, mainFile: string): Promise<TfjsArtifacts> {
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(join(dir, mainFile), 'utf8')) as ModelJson;
  } catch (err) {
    throw invalid(`${mainFile} is not a readable TF.js model.json: ${(err as Error).message}`, err);
  }
  if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw invalid(`${mainFile} has no modelTopology: not a TF.js model.json`);
  }
  const kind = tfjsModelKind(json);
  if (kind === null) throw invalid(`${mainFile} is neither a TF.js layers model nor a graph model (format "${String(json.format)}")`);

  const groups = json.weightsManifest ?? [];
  const weightSpecs = groups.flatMap((group) => group.weights);
  const shards: Buffer[] = [];
  for (const group of groups) {
    for (const path of group.paths) {
      const file = shardPath(dir, mainFile, path);
      try {
        shards.push(await readFile(file));
      } catch (err) {
        throw invalid(`weight file "${path}" listed in ${mainFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
      }
    }
  }
  const weightData = Buffer.concat(shards);
  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology as io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    format: json.format ?? kind,
  };
  if (json.generatedBy !== undefined) artifacts.generatedBy = json.generatedBy;
  if (typeof json.convertedBy === 'string') artifacts.convertedBy = json.convertedBy;
  // Converter 1.x kept the signature inside userDefinedMetadata; 2.x moved it to the top level.
  const signature = json.signature ?? (json.userDefinedMetadata?.['signature'] as Record<string, unknown> | undefined);
  if (signature !== undefined) artifacts.signature = signature;
  if (json.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = json.userDefinedMetadata as io.ModelArtifacts['userDefinedMetadata'];
  if (json.modelInitializer !== undefined) artifacts.modelInitializer = json.modelInitializer;
  if (json.initializerSignature !== undefined) artifacts.initializerSignature = json.initializerSignature;
  return { kind, artifacts };
}

/** A tfjs IOHandler that hands over artifacts already read (tf.loadLayersModel / loadGraphModel take one). */
export function fromArtifacts(artifacts: io.ModelArtifacts): io.IOHandler {
  return { load: async () => artifacts };
}
