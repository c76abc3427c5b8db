// The seed's custom MNIST deployment in JavaScript: a PNG upload in, the digit out.
// mnist-8.onnx wants Input3 as [1,1,28,28] raw 0..255 pixels, white digit on black.

async function preprocess_files(args) {
  // Decoded and resized on the host (sharp): { data: Float32Array(784), shape: [1, 1, 28, 28] }
  const image = await args.files.Input3.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
  args.X = [{ Input3: image }];
  return args;
}

function postprocess([logits]) {
  return [argmax(logits)]; // zipped with the output name: { "Plus214_Output_0": digit }
}
