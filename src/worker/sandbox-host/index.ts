export { FLOW_SYNC_MODEL_SHARE, flowLabel, Sandbox } from './sandbox.js';
export { jsonBytesOver, resultTooLarge } from './result-size.js';
export { CallPacer, PROBATION_CALLS, SLICE_MS, type EntryMode, type PacerOptions } from './pacer.js';
export { SandboxReplica } from './replica.js';
export { createLogBudget } from './types.js';
export type {
  CallResult,
  FlowModel,
  FlowRows,
  FlowPlan,
  HostBridge,
  LogBudget,
  SandboxHeap,
  SandboxLimits,
  SandboxOptions,
  ScriptModelInfo,
} from './types.js';
