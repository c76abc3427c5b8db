// The seed's postprocess in JavaScript: the digit instead of ten logits.
// mnist-8.onnx has one output, Plus214_Output_0, shaped [1,10].
function postprocess(outputs) {
  const [logits] = outputs; // one entry per model output, in order: [[l0, ..., l9]]
  const digit = argmax(logits);
  console.log(`predicted digit ${digit}`);
  return [digit]; // zipped with the output names: { "Plus214_Output_0": digit }
}
