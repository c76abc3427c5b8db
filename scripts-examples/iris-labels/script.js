// Callers send named measurements; the model wants one float_input [1,4] and answers a class index.
const SPECIES = ['setosa', 'versicolor', 'virginica'];
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

function prepare(args) {
  args.X = args.X.map((record, i) => {
    const missing = FEATURES.filter((f) => typeof record[f] !== 'number');
    if (missing.length > 0) fail(`record ${i} needs numbers for ${missing.join(', ')}`);
    return { float_input: FEATURES.map((f) => record[f]) };
  });
  return args;
}

function postprocess([label]) {
  return { species: SPECIES[label[0]] };
}
