/**
 * What the prelude knows about each upload's file object. Its own module because two others read
 * it: files.ts makes the file objects, and copy-out.ts must recognise one in a result (a file
 * leaves as its name, type and size, never its bytes); keeping the map here keeps those two
 * modules free of an import cycle.
 */
export interface FileState {
  /** The upload's bytes, owned here: never handed to the script, which gets copies. */
  readonly bytes: Uint8Array;
  readonly field: string;
  readonly name: string;
  readonly type: string;
  readonly size: number;
  /**
   * The host's decode of these bytes with the options image() used for this field last time (see
   * ScriptBridge.predecode), under those options' JSON text: the first image() asking for the same
   * takes it, once.
   */
  predecoded?: { readonly key: string; readonly data: Float32Array | Uint16Array | Uint8Array; readonly shape: number[] } | undefined;
}
/** Keyed by the frozen file object the script holds; weak, so a dropped file frees its bytes. */
export const fileStates = new WeakMap<object, FileState>();
