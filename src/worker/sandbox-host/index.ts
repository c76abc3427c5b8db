export { Sandbox } from './sandbox.js';
export { SandboxReplica } from './replica.js';
export { createLogBudget } from './types.js';
export type {
  CallResult,
  HostBridge,
  LogBudget,
  SandboxHeap,
  SandboxLimits,
  SandboxOptions,
  ScriptModelInfo,
} from './types.js';
