import type * as TF from '@tensorflow/tfjs';

/** The class name converted Keras models use for Keras's Resizing layer (publish/keras/preprocessing-layers.ts). */
export const KERAS_RESIZING = 'KerasResizing';

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
 * Registers Keras's Resizing as Keras computes it. tfjs-layers' own Resizing resizes with
 * align_corners (Keras uses half-pixel centres, as tf.image.resize does) and reports a rank-3
 * output shape for batched images, so a Conv2D after it cannot be built. Registered once per
 * process, in the converter and in the runtime alike (both start tfjs through initTfjsBackend).
 */
export function registerKerasResizing(tf: typeof TF): void {
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
      const shape = [...(Array.isArray(inputShape[0]) ? (inputShape[0] as TF.Shape) : (inputShape as TF.Shape))];
      shape[shape.length - 3] = this.height;
      shape[shape.length - 2] = this.width;
      return shape;
    }

    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.tidy(() => {
        let x = (Array.isArray(inputs) ? inputs[0]! : inputs) as TF.Tensor3D | TF.Tensor4D;
        if (this.cropToAspectRatio) x = this.centreCrop(x);
        const size: [number, number] = [this.height, this.width];
        return this.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, size, false, true) : tf.image.resizeBilinear(x, size, false, true);
      });
    }

    /** keras smart_resize's crop: the largest centred box of the target's aspect ratio. */
    private centreCrop(x: TF.Tensor3D | TF.Tensor4D): TF.Tensor3D | TF.Tensor4D {
      const rank = x.shape.length;
      const height = x.shape[rank - 3]!;
      const width = x.shape[rank - 2]!;
      const cropHeight = Math.min(height, Math.trunc((width * this.height) / this.width));
      const cropWidth = Math.min(width, Math.trunc((height * this.width) / this.height));
      const begin = x.shape.map(() => 0);
      const size = x.shape.map(() => -1);
      begin[rank - 3] = Math.trunc((height - cropHeight) / 2);
      begin[rank - 2] = Math.trunc((width - cropWidth) / 2);
      size[rank - 3] = cropHeight;
      size[rank - 2] = cropWidth;
      return tf.slice(x, begin, size);
    }

    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), height: this.height, width: this.width, interpolation: this.interpolation, cropToAspectRatio: this.cropToAspectRatio };
    }
  }
  tf.serialization.registerClass(KerasResizing);
}
