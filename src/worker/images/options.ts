import { z } from 'zod';
import { ServeError } from '../../errors.js';

const perChannel = z.union([z.number(), z.array(z.number()).min(1).max(4)]);

/**
 * What `file.image(options)` takes in a script, and what the default pipeline derives from an
 * input's shape. The steps run in this order: decode -> grayscale -> resize -> invert ->
 * (v * scale - mean) / std -> channel order -> layout.
 */
export const ImageOptionsSchema = z
  .object({
    /** One luma channel instead of RGB. @defaultValue false */
    grayscale: z.boolean().default(false),
    /** Keep the alpha channel (RGBA, 4 channels). @defaultValue false (alpha dropped) */
    alpha: z.boolean().default(false),
    /** Target size in pixels; one alone keeps the other side with "fill", the aspect ratio with other fits. Default: the image's own size. */
    width: z.number().int().min(1).max(16384).optional(),
    height: z.number().int().min(1).max(16384).optional(),
    /** How the image fits width x height (sharp's fit). @defaultValue "fill" (stretch) */
    fit: z.enum(['fill', 'contain', 'cover', 'inside', 'outside']).default('fill'),
    /** Channel order of colour images. @defaultValue "rgb" */
    channels: z.enum(['rgb', 'bgr']).default('rgb'),
    /** Memory layout; the n-variants add a leading batch dimension of 1. @defaultValue "hwc" */
    layout: z.enum(['hwc', 'chw', 'nhwc', 'nchw']).default('hwc'),
    /**
     * Element type: float32, float16 (a Uint16Array of IEEE half bits, what a float16 input takes),
     * or the raw uint8 pixels (scale/mean/std not allowed). @defaultValue "float32"
     */
    dtype: z.enum(['float32', 'float16', 'uint8']).default('float32'),
    /** 255 - v, for white-on-black models fed black-on-white images. @defaultValue false */
    invert: z.boolean().default(false),
    /** Multiplies every value, e.g. 1/255. @defaultValue 1 */
    scale: z.number().default(1),
    /** Subtracted after scaling; one number or one per channel. @defaultValue 0 */
    mean: perChannel.default(0),
    /** Divides after the mean; one number or one per channel. @defaultValue 1 */
    std: perChannel.default(1),
  })
  .strict();

export type ImageOptions = z.input<typeof ImageOptionsSchema>;
export type ResolvedImageOptions = z.output<typeof ImageOptionsSchema>;

/** Options from a script: a bad one is the script's bug (SCRIPT_FAILED), named in the message. */
export function parseImageOptions(raw: unknown): ResolvedImageOptions {
  const parsed = ImageOptionsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ');
    throw new ServeError('SCRIPT_FAILED', `image(options): ${problems}`);
  }
  const o = parsed.data;
  if (o.dtype === 'uint8' && (o.scale !== 1 || o.mean !== 0 || o.std !== 1)) {
    throw new ServeError('SCRIPT_FAILED', 'image(options): dtype "uint8" keeps raw pixels; drop scale, mean and std or use "float32"');
  }
  return o;
}
