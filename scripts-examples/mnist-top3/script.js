// Top-3 digits with probabilities, for a classifier that returns logits.
// mnist-8 takes raw 0..255 pixels, so its logits run into the thousands: a temperature
// spreads the softmax so the runners-up keep a visible probability.
const TEMPERATURE = 1000;

function postprocess([logits]) {
  const probabilities = softmax(logits[0].map((l) => l / TEMPERATURE));
  const top = topk(probabilities, 3).map(({ index, value }) => ({ digit: index, p: Number(value.toFixed(4)) }));
  return { top }; // an object is the result record as it is
}
