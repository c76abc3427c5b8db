export { encodeFrame, FrameDecoder } from './frame.js';
export type * from './messages.js';
export * from './worker-config.js';
