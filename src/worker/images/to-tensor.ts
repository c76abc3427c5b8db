import { toHalf } from '../../model/index.js';
import type { ResolvedImageOptions } from './options.js';
import type { RawImage } from './decode.js';

export interface ImageTensor {
  /** Uint16Array: float16 values as their raw IEEE half bits. */
  readonly data: Float32Array | Uint16Array | Uint8Array;
  readonly shape: number[];
}

const perChannel = (v: number | number[], c: number, channels: number) => (typeof v === 'number' ? v : (v[c] ?? v[v.length - 1]!)) + 0 * channels;

/** 8-bit HWC pixels -> the tensor the options ask for (invert, scale, mean/std, channel order, layout). */
export function imageToTensor(image: RawImage, o: ResolvedImageOptions): ImageTensor {
  const { width: w, height: h, channels: c, data: src } = image;
  const planar = o.layout === 'chw' || o.layout === 'nchw';
  const shape = planar ? [c, h, w] : [h, w, c];
  if (o.layout === 'nchw' || o.layout === 'nhwc') shape.unshift(1);
  const out = o.dtype === 'uint8' ? new Uint8Array(w * h * c) : o.dtype === 'float16' ? new Uint16Array(w * h * c) : new Float32Array(w * h * c);
  const half = o.dtype === 'float16';
  const bgr = o.channels === 'bgr' && c >= 3;
  const scale = new Float32Array(c);
  const offset = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const std = perChannel(o.std, k, c);
    scale[k] = o.scale / std;
    offset[k] = -perChannel(o.mean, k, c) / std;
  }
  const pixels = w * h;
  for (let p = 0; p < pixels; p++) {
    for (let k = 0; k < c; k++) {
      // BGR swaps the first and third source channels; alpha stays last.
      const from = bgr && k < 3 ? 2 - k : k;
      let v = src[p * c + from]!;
      if (o.invert) v = 255 - v;
      const at = planar ? k * pixels + p : p * c + k;
      out[at] = o.dtype === 'uint8' ? v : half ? toHalf(v * scale[k]! + offset[k]!) : v * scale[k]! + offset[k]!;
    }
  }
  return { data: out, shape };
}
