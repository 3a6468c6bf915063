export { KernelProcess, KERNEL_TERMINATE_GRACE_MS, ABORT_INTERRUPT_GRACE_MS } from './kernel-process.js';
export type { KernelState, KernelStartOptions, KernelExecuteOptions } from './kernel-process.js';
export { ExecutionCollector } from './execution-collector.js';
export { encodeFrame, FrameDecoder, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from './frame-codec.js';
export { kernelMessageSchema, variableSchema, fileChangeSchema } from './kernel-messages.js';
export type { KernelMessage, VariableSummary, FileChange, NamespaceValue } from './kernel-messages.js';
export { EXECUTION_STATUSES } from './execution.js';
export type * from './execution.js';
export {
  executionSchema,
  executionStatusSchema,
  executionErrorSchema,
  outputSchema,
  mimeBundleSchema,
} from './execution-schema.js';
