/**
 * Publish-time converters from Keras files to TF.js layers artefacts that tfjsRuntime serves.
 * @example
 * const converted = await convertKerasH5(bytes);           // or convertKeras3(zipBytes)
 * const { mainFile } = await writeTfjsArtefacts(dir, converted); // model.json + weights.bin; format "tfjs"
 */
export { convertKerasH5 } from './convert-h5.js';
export { convertKeras3, convertKeras3Files, type Keras3Files } from './convert-keras3.js';
export { writeTfjsArtefacts, TFJS_MODEL_FILE, TFJS_WEIGHTS_FILE, type ConvertedKerasModel, type TfjsLayersModelJson } from './artefacts.js';
