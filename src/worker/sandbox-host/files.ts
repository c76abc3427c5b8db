/**
 * Uploaded files on their way into a sandbox. The worker protocol hands out every upload as a view
 * into the one buffer its request frame arrived in (header included); copied into an isolate as
 * they are, each view would carry that whole buffer with it. Each file gets its own bytes first.
 */

/** `args` with each `files[field].bytes` that is a view into a larger buffer replaced by a copy of its own. */
export function withOwnFileBytes(args: unknown): unknown {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return args;
  const files = (args as { files?: unknown }).files;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) return args;
  let copied: Record<string, unknown> | undefined;
  for (const [field, file] of Object.entries(files)) {
    const bytes = (file as { bytes?: unknown } | null)?.bytes;
    if (!(bytes instanceof Uint8Array) || (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength)) continue;
    copied ??= { ...files };
    copied[field] = { ...(file as object), bytes: new Uint8Array(bytes) };
  }
  return copied === undefined ? args : { ...args, files: copied };
}
