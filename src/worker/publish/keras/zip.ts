import { unzipSync } from 'fflate';
import { ServeError } from '../../../errors.js';

/** "PK\x03\x04", the local file header every zip starts with. */
export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Default cap on what one archive may inflate to: the store's default model size limit. */
export const DEFAULT_MAX_UNZIPPED_BYTES = 2 ** 30;

function unzip(bytes: Uint8Array, what: string, filter: (name: string, originalSize: number) => boolean): Record<string, Uint8Array> {
  try {
    return unzipSync(bytes, { filter: (file) => filter(file.name, file.originalSize) });
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('MODEL_INVALID', `${what} is not a readable zip archive: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** The names of the files in a zip, without inflating any. */
export function listZipEntries(bytes: Uint8Array, what: string): string[] {
  const names: string[] = [];
  unzip(bytes, what, (name) => {
    names.push(name);
    return false;
  });
  return names;
}

/**
 * The wanted files of a zip, inflated. The sizes the archive declares are capped by `maxBytes`; fflate
 * inflates each file into a buffer of its declared size, so a lying header cannot exceed the cap.
 */
export function readZipEntries(bytes: Uint8Array, what: string, want: (name: string) => boolean, maxBytes = DEFAULT_MAX_UNZIPPED_BYTES): Map<string, Uint8Array> {
  let total = 0;
  const files = unzip(bytes, what, (name, originalSize) => {
    if (!want(name)) return false;
    total += originalSize;
    if (total > maxBytes) throw new ServeError('REQUEST_TOO_LARGE', `${what} inflates to more than ${maxBytes} bytes`);
    return true;
  });
  return new Map(Object.entries(files));
}
