/**
 * One record that fits a model's inputs: a value of each input's shape, free dimensions as 1 and
 * a leading batch dimension (free or 1) left out, as records may omit it. The front fills it with
 * zeros (a deployment's payload when no sample was stored); the web console fills it with random
 * values of each dtype ("random payload").
 */
export function exampleRecord(inputs: readonly { readonly name: string; readonly dtype: string | null; readonly shape: readonly number[] | null }[], value: (dtype: string | null) => unknown): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const input of inputs) {
    const shape = (input.shape ?? [1]).map((d) => (d === -1 ? 1 : d));
    const leadingBatch = input.shape !== null && input.shape.length > 1 && (input.shape[0] === -1 || input.shape[0] === 1);
    record[input.name] = filled(leadingBatch ? shape.slice(1) : shape, () => value(input.dtype));
  }
  return record;
}

function filled(shape: readonly number[], value: () => unknown): unknown {
  return shape.length === 0 ? value() : Array.from({ length: shape[0]! }, () => filled(shape.slice(1), value));
}

/** The zero of a dtype as JSON carries it. */
export function zeroOf(dtype: string | null): unknown {
  return dtype === 'bool' ? false : dtype === 'string' ? '' : 0;
}

/** A random value of a dtype: floats in [0, 1), integers in 0..9 (0..255 for uint8), booleans, words. */
export function randomOf(dtype: string | null): unknown {
  switch (dtype) {
    case 'bool':
      return Math.random() < 0.5;
    case 'string':
      return ['red', 'green', 'blue'][Math.floor(Math.random() * 3)];
    case 'uint8':
      return Math.floor(Math.random() * 256);
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      return Math.floor(Math.random() * 10);
    default:
      return Math.round(Math.random() * 1e4) / 1e4;
  }
}
