import { z } from 'zod';
import { analysisResultSchema } from '../analysis/analysis-types.js';
import { APPROVAL_MODES, EXECUTION_MODES } from '../config/index.js';
import { executionSchema } from '../kernel/index.js';

/** Final states of a task. A rejected approval is its own outcome, not an error. */
export const TASK_OUTCOMES = ['succeeded', 'failed', 'rejected', 'cancelled'] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];
/** Every state: `running` and `awaiting_approval` until one of the outcomes. */
export const TASK_STATES = ['running', 'awaiting_approval', ...TASK_OUTCOMES] as const;
export type TaskState = (typeof TASK_STATES)[number];
/** The steps of an attempt, as `task-step-start` names them. */
export const TASK_STEPS = ['generate', 'repair', 'analyze', 'approve', 'execute', 'verify'] as const;
export type TaskStep = (typeof TASK_STEPS)[number];

export const tokenUsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  totalTokens: z.number().int().nonnegative(),
});

export const chatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});

/** An error of one attempt (the error chain's unit): where it failed and how. */
export const attemptErrorSchema = z.object({
  stage: z.enum(['analysis', 'execution', 'verification']),
  ename: z.string(),
  evalue: z.string(),
  /** Trimmed: the head and the tail of the traceback with a marker between. */
  traceback: z.array(z.string()),
});
export type AttemptError = z.infer<typeof attemptErrorSchema>;

/** A decision on an approval. */
export const approvalDecisionSchema = z.object({
  decision: z.enum(['approve', 'reject']),
  comment: z.string().nullable(),
  /** The deciding key's id (null without auth, or for a timeout). */
  decidedBy: z.string().nullable(),
  decidedAt: z.string(),
  /** True when nobody decided in time (the approval ended `rejected`). */
  timedOut: z.boolean(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/** The states of an approval. */
export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'cancelled'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

/** A pending (or decided) human decision on the code of one attempt. Durable. */
export const approvalSchema = z.object({
  id: z.string(),
  taskId: z.string(),
  attempt: z.number().int().positive(),
  state: z.enum(APPROVAL_STATES),
  /** The owner of the task (the key that created it); null without auth. */
  ownerKeyId: z.string().nullable(),
  objective: z.string(),
  code: z.string(),
  /** sha256 of the code, hex: what is approved is exactly what runs. */
  codeHash: z.string(),
  findings: analysisResultSchema.shape.findings,
  /** Why approval is needed (the policy's reasons). */
  reasons: z.array(z.string()),
  mode: z.enum(EXECUTION_MODES),
  approvalMode: z.enum(APPROVAL_MODES),
  expectedResults: z.array(z.string()),
  requestedAt: z.string(),
  /** When a pending approval ends `rejected` on its own. */
  expiresAt: z.string(),
  decision: approvalDecisionSchema.nullable(),
});
export type Approval = z.infer<typeof approvalSchema>;

/** What the check of a successful run found. */
export const verificationSchema = z.object({
  /** True when the run counts as done. */
  ok: z.boolean(),
  /** Expected `results` keys that were not there. */
  missing: z.array(z.string()),
  /** `results` keys whose values are not JSON-serializable, with the reason. */
  unserializable: z.array(z.object({ key: z.string().nullable(), type: z.string(), error: z.string() })),
  /** True when `results` was larger than the bound and was cut. */
  truncated: z.boolean(),
  /** The model check (`llm.verify`), when it ran. */
  model: z
    .object({ adequate: z.boolean(), reason: z.string(), suggestion: z.string().nullable() })
    .nullable(),
});
export type Verification = z.infer<typeof verificationSchema>;

/** One attempt: the code, what the analysis said, the approval, the run, the error, the check. */
export const taskAttemptSchema = z.object({
  attempt: z.number().int().positive(),
  code: z.string(),
  codeHash: z.string(),
  /** What the model said besides the code. */
  notes: z.string().nullable(),
  analysis: analysisResultSchema.nullable(),
  approval: approvalSchema.nullable(),
  execution: executionSchema.nullable(),
  error: attemptErrorSchema.nullable(),
  verification: verificationSchema.nullable(),
  /** Infrastructure failures that were re-run (a kernel killed by a limit or a sandbox fault). */
  reruns: z.number().int().nonnegative(),
  usage: tokenUsageSchema,
});
export type TaskAttempt = z.infer<typeof taskAttemptSchema>;

/** A file the task's runs created, changed or deleted (the last change wins). */
export const taskFileSchema = z.object({
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  change: z.enum(['created', 'modified', 'deleted']),
});

/** The task as asked (normalized): what a replay needs. */
export const taskSpecSchema = z.object({
  objective: z.string(),
  /** Workspace paths of the input files. */
  files: z.array(z.string()),
  context: z.union([z.string(), z.array(chatMessageSchema)]).nullable(),
  expectedResults: z.array(z.string()),
  maxAttempts: z.number().int().positive(),
  approvalMode: z.enum(APPROVAL_MODES),
  mode: z.enum(EXECUTION_MODES),
  /** Budget of the whole task, waiting for approval excluded. */
  timeoutMs: z.number().int().positive(),
  /** Run the model check of the outcome. */
  verify: z.boolean(),
  /** The generator's name. */
  generator: z.string(),
});
export type TaskSpec = z.infer<typeof taskSpecSchema>;

/** The task's final result (and its state while it runs). */
export const taskResultSchema = z.object({
  id: z.string(),
  state: z.enum(TASK_STATES),
  /** The outcome, or null while the task runs or waits. */
  status: z.enum(TASK_OUTCOMES).nullable(),
  sessionId: z.string().nullable(),
  spec: taskSpecSchema,
  /** The code of the last attempt (the one that succeeded, when one did). */
  code: z.string().nullable(),
  /** The last attempt's execution. */
  execution: executionSchema.nullable(),
  /** The `results` dict the code left, read from the kernel's namespace (`{}` when none). */
  results: z.record(z.string(), z.unknown()),
  attempts: z.array(taskAttemptSchema),
  files: z.array(taskFileSchema),
  usage: tokenUsageSchema,
  /** Why the task failed, was rejected or cancelled; null when it succeeded or runs. */
  error: z
    .object({
      kind: z.enum([
        'attempts_exhausted',
        'infrastructure',
        'generation',
        'rejected',
        'cancelled',
        'timeout',
        'approval_mismatch',
        'interrupted',
      ]),
      message: z.string(),
    })
    .nullable(),
  /** The approval the task waits for (state `awaiting_approval`), else null. */
  pendingApproval: approvalSchema.nullable(),
  ownerKeyId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Wall clock from start to end (to now while running), approval waits included. */
  durationMs: z.number().nonnegative(),
});
export type TaskResult = z.infer<typeof taskResultSchema>;

/** A stored model call of a task (prompt, response, tokens, latency). */
export const storedModelCallSchema = z.object({
  taskId: z.string(),
  attempt: z.number().int().positive(),
  purpose: z.enum(['generate', 'verify']),
  generator: z.string(),
  provider: z.string().nullable(),
  model: z.string().nullable(),
  messages: z.array(chatMessageSchema),
  response: z.string(),
  usage: tokenUsageSchema,
  latencyMs: z.number().nonnegative(),
  startedAt: z.string(),
  error: z.string().nullable(),
});
export type StoredModelCall = z.infer<typeof storedModelCallSchema>;
