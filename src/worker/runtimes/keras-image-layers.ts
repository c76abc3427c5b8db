import type * as TF from '@tensorflow/tfjs';

/** The class names converted Keras models use for Keras's Resizing and CenterCrop layers (publish/keras/preprocessing-layers.ts). */
export const KERAS_RESIZING = 'KerasResizing';
export const KERAS_CENTER_CROP = 'KerasCenterCrop';

interface KerasResizingArgs {
  readonly height: number;
  readonly width: number;
  readonly interpolation?: 'bilinear' | 'nearest';
  readonly cropToAspectRatio?: boolean;
  readonly name?: string;
  readonly dtype?: TF.DataType;
  readonly trainable?: boolean;
}

/**
 * Registers Keras's Resizing and CenterCrop as Keras computes them. tfjs-layers' own Resizing
 * resizes with align_corners (Keras uses half-pixel centres, as tf.image.resize does) and reports a
 * rank-3 output shape for batched images, so a Conv2D after it cannot be built; its CenterCrop
 * overwrites the shape of its input (the model then refuses its own input size) and samples the box
 * instead of slicing it. Registered once per process, in the converter and in the runtime alike
 * (both start tfjs through initTfjsBackend).
 */

/** The input's shape with its height and width (the axes before the channels) set: both layers' output. */
function resizedShape(inputShape: TF.Shape | TF.Shape[], height: number, width: number): TF.Shape {
  const shape = [...(Array.isArray(inputShape[0]) ? (inputShape[0] as TF.Shape) : (inputShape as TF.Shape))];
  shape[shape.length - 3] = height;
  shape[shape.length - 2] = width;
  return shape;
}

export function registerKerasImageLayers(tf: typeof TF): void {
  if (KERAS_RESIZING in tf.serialization.SerializationMap.getMap().classNameMap) return;
  class KerasResizing extends tf.layers.Layer {
    static className = KERAS_RESIZING;
    private readonly height: number;
    private readonly width: number;
    private readonly interpolation: 'bilinear' | 'nearest';
    private readonly cropToAspectRatio: boolean;

    constructor(args: KerasResizingArgs) {
      super(args);
      this.height = args.height;
      this.width = args.width;
      this.interpolation = args.interpolation ?? 'bilinear';
      this.cropToAspectRatio = args.cropToAspectRatio === true;
    }

    override computeOutputShape(inputShape: TF.Shape | TF.Shape[]): TF.Shape {
      return resizedShape(inputShape, this.height, this.width);
    }

    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.tidy(() => resize(tf, (Array.isArray(inputs) ? inputs[0]! : inputs) as TF.Tensor3D | TF.Tensor4D, this.height, this.width, this.interpolation, this.cropToAspectRatio));
    }

    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), height: this.height, width: this.width, interpolation: this.interpolation, cropToAspectRatio: this.cropToAspectRatio };
    }
  }
  tf.serialization.registerClass(KerasResizing);

  /** keras CenterCrop: the centred height x width box; an image smaller on a side is smart-resized instead. */
  class KerasCenterCrop extends tf.layers.Layer {
    static className = KERAS_CENTER_CROP;
    private readonly height: number;
    private readonly width: number;

    constructor(args: KerasResizingArgs) {
      super(args);
      this.height = args.height;
      this.width = args.width;
    }

    override computeOutputShape(inputShape: TF.Shape | TF.Shape[]): TF.Shape {
      return resizedShape(inputShape, this.height, this.width);
    }

    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.tidy(() => {
        const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as TF.Tensor3D | TF.Tensor4D;
        const rank = x.shape.length;
        const height = x.shape[rank - 3]!;
        const width = x.shape[rank - 2]!;
        if (height < this.height || width < this.width) return resize(tf, x, this.height, this.width, 'bilinear', true);
        return tf.slice(x, ...box(x.shape, Math.trunc((height - this.height) / 2), Math.trunc((width - this.width) / 2), this.height, this.width));
      });
    }

    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), height: this.height, width: this.width };
    }
  }
  tf.serialization.registerClass(KerasCenterCrop);
}

/** slice()'s begin and size for a top x left, height x width box over the last three axes (H, W, C). */
function box(shape: readonly number[], top: number, left: number, height: number, width: number): [number[], number[]] {
  const rank = shape.length;
  const begin = shape.map(() => 0);
  const size = shape.map(() => -1);
  begin[rank - 3] = top;
  begin[rank - 2] = left;
  size[rank - 3] = height;
  size[rank - 2] = width;
  return [begin, size];
}

/** keras Resizing (tf.image.resize, half-pixel centres); `crop` first takes smart_resize's largest centred box of the target's aspect ratio. */
function resize(tf: typeof TF, x: TF.Tensor3D | TF.Tensor4D, height: number, width: number, interpolation: 'bilinear' | 'nearest', crop: boolean): TF.Tensor {
  let input = x;
  if (crop) {
    const rank = x.shape.length;
    const h = x.shape[rank - 3]!;
    const w = x.shape[rank - 2]!;
    const cropHeight = Math.min(h, Math.trunc((w * height) / width));
    const cropWidth = Math.min(w, Math.trunc((h * width) / height));
    input = tf.slice(x, ...box(x.shape, Math.trunc((h - cropHeight) / 2), Math.trunc((w - cropWidth) / 2), cropHeight, cropWidth));
  }
  const size: [number, number] = [height, width];
  return interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(input, size, false, true) : tf.image.resizeBilinear(input, size, false, true);
}
