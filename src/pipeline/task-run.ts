import { z } from 'zod';
import type { AnalysisResult } from '../analysis/analysis-types.js';
import { codeHashOf } from '../analysis/judge.js';
import type { ApprovalMode, ExecutionMode } from '../config/index.js';
import { VivariumError } from '../errors/index.js';
import type { Execution, ExecutionEvent } from '../kernel/index.js';
import type {
  CodeGenerator,
  GenerationRequest,
  ModelCall,
  PromptFile,
  TokenUsage,
} from '../llm/generator-types.js';
import { newId, type Session } from '../session/index.js';
import { attemptError, ErrorChain } from './error-chain.js';
import type { TaskEvent, TaskEventInput } from './task-events.js';
import { TRANSIENT_TASK_EVENTS } from './task-events.js';
import type { TaskStore } from './task-store.js';
import type {
  Approval,
  AttemptError,
  TaskAttempt,
  TaskOutcome,
  TaskResult,
  Verification,
} from './task-types.js';

/** Largest `results` dict read back from the kernel, JSON bytes. */
export const MAX_RESULTS_BYTES = 1_000_000;
/** Times an infrastructure failure (kernel killed by a limit, sandbox fault) is re-run before the task reports it. */
export const MAX_INFRASTRUCTURE_RERUNS = 1;

/** Where a task's code runs and how its executions are recorded: the engine's or the service's. */
export interface TaskHost {
  /** The mode of an existing session the caller may use; throws `SESSION_NOT_FOUND` / `SESSION_CLOSED`. */
  sessionMode(sessionId: string, ownerKeyId: string | null): Promise<ExecutionMode>;
  /** The session of a task: `sessionId`'s (it must allow the task's mode), or a new one with `mode`. */
  openSession(request: {
    sessionId: string | null;
    mode: ExecutionMode;
    ownerKeyId: string | null;
    signal?: AbortSignal;
  }): Promise<Session>;
  /** Runs code in the session as its surface runs cells (the service stores and audits them). */
  execute(
    session: Session,
    code: string,
    options: {
      ownerKeyId: string | null;
      onEvent: (event: ExecutionEvent) => void;
      signal: AbortSignal;
      timeoutMs?: number;
    },
  ): Promise<Execution>;
}

/** Analyzes one version of the code against the policy (the analysis module's `analyze`). */
export type TaskAnalyzer = (
  session: Session,
  code: string,
  options: { mode: ExecutionMode; approvalMode: ApprovalMode; signal?: AbortSignal },
) => Promise<AnalysisResult>;

/** What the kernel offers, for the prompt (the packages tool). */
export type PackageProbe = (session: Session, signal: AbortSignal) => Promise<string[]>;

/** Everything one run of a task needs. */
export interface TaskRunDependencies {
  store: TaskStore;
  host: TaskHost;
  generator: CodeGenerator;
  analyze: TaskAnalyzer;
  probePackages: PackageProbe;
  /** How long a pending approval waits before it ends `rejected`. */
  approvalTimeoutMs: number;
  /** Receives every event (stored ones after they are stored). */
  onEvent: (event: TaskEvent) => void;
  /** Called once with the final result. */
  onEnd: (result: TaskResult) => void;
  /** Files to write into the workspace before the first attempt (path → content). */
  inputFiles?: ReadonlyArray<{ path: string; content: Uint8Array | string }>;
}

const zeroUsage = (): TokenUsage => ({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });
function addUsage(total: TokenUsage, more: TokenUsage): void {
  total.inputTokens += more.inputTokens;
  total.outputTokens += more.outputTokens;
  total.totalTokens += more.totalTokens;
}

/** Thrown inside a run to end it with an outcome (cancel, rejection, budget). */
class TaskStop extends Error {
  constructor(
    readonly status: TaskOutcome,
    readonly kind: NonNullable<TaskResult['error']>['kind'],
    message: string,
  ) {
    super(message);
  }
}

const resultsSchema = z.record(z.string(), z.unknown());

/**
 * One task's pipeline, from its stored state: generate → analyze → (approve) → execute → verify,
 * repairing from the error chain until an attempt succeeds or the attempts run out. Persists the
 * task after every step, so a task waiting for approval can be resumed by a new process.
 */
export class TaskRun {
  readonly task: TaskResult;
  private readonly deps: TaskRunDependencies;
  private readonly controller = new AbortController();
  private readonly chain: ErrorChain;
  private seq: number;
  private session: Session | null = null;
  private packages: string[] | null = null;
  private files: PromptFile[] | null = null;
  private approvalWaiter: ((approval: Approval) => void) | null = null;
  private earlyDecision: Approval | null = null;
  private releaseSession: () => void = () => undefined;
  /** Budget left, ms, counted only while the task works (not while it waits for a human). */
  private budgetMs: number;
  private workingSince = performance.now();
  private budgetTimer: NodeJS.Timeout | null = null;
  private stopReason: TaskStop | null = null;
  readonly done: Promise<TaskResult>;
  private resolveDone!: (result: TaskResult) => void;

  constructor(task: TaskResult, deps: TaskRunDependencies, lastSeq = 0) {
    this.task = task;
    this.deps = deps;
    this.chain = ErrorChain.from(task.attempts);
    this.seq = lastSeq;
    this.budgetMs = task.spec.timeoutMs;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Runs (or resumes) the task to its end; never throws — failures are the result. */
  start(): Promise<TaskResult> {
    void this.main();
    return this.done;
  }

  /** Cancels: a running cell is interrupted, a pending approval is withdrawn. */
  cancel(reason = 'cancelled by the caller'): void {
    this.stop(new TaskStop('cancelled', 'cancelled', reason));
  }

  /** Ends the task `failed` (`interrupted`): the process is stopping while it works. */
  interrupt(message: string): void {
    this.stop(new TaskStop('failed', 'interrupted', message));
  }

  /**
   * Lets go of a task waiting for approval without changing it: it stays pending in the store,
   * for a later process to resume. `done` resolves with the task as it is.
   */
  detach(): void {
    if (this.stopReason) return;
    this.detached = true;
    this.stop(new TaskStop('failed', 'interrupted', 'detached'));
  }
  private detached = false;

  /** Delivers a decided approval to the waiting run (the manager stores it first). */
  decided(approval: Approval): void {
    if (this.task.pendingApproval?.id !== approval.id) return;
    const waiter = this.approvalWaiter;
    if (waiter) {
      this.approvalWaiter = null;
      waiter(approval);
    } else {
      // Decided before the run started waiting (it was still storing the request): kept for it.
      this.earlyDecision = approval;
    }
  }

  /** The approval the run waits for, if any. */
  get pendingApproval(): Approval | null {
    return this.task.pendingApproval;
  }

  private stop(reason: TaskStop): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.controller.abort(reason);
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private checkStopped(): void {
    if (this.stopReason) throw this.stopReason;
  }

  private startBudget(): void {
    this.workingSince = performance.now();
    this.budgetTimer = setTimeout(
      () =>
        this.stop(
          new TaskStop(
            'failed',
            'timeout',
            `The task took longer than its budget of ${this.task.spec.timeoutMs} ms`,
          ),
        ),
      Math.max(0, this.budgetMs),
    );
    this.budgetTimer.unref();
  }

  private pauseBudget(): void {
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    this.budgetTimer = null;
    this.budgetMs -= performance.now() - this.workingSince;
  }

  private async emit(event: TaskEventInput): Promise<void> {
    this.seq += 1;
    const stamped: TaskEvent = {
      ...event,
      taskId: this.task.id,
      seq: this.seq,
      at: new Date().toISOString(),
    };
    if (!TRANSIENT_TASK_EVENTS.has(stamped.type)) await this.deps.store.appendTaskEvent(stamped);
    this.deps.onEvent(stamped);
  }

  /** Emits without waiting for the store (execution and generation deltas, in order). */
  private emitLater(event: TaskEventInput): void {
    this.pending = this.pending.then(() => this.emit(event)).catch(() => undefined);
  }
  private pending: Promise<void> = Promise.resolve();

  private async save(): Promise<void> {
    this.task.updatedAt = new Date().toISOString();
    this.task.durationMs = Date.now() - Date.parse(this.task.createdAt);
    await this.deps.store.saveTask(this.task);
  }

  private async main(): Promise<void> {
    this.startBudget();
    try {
      const resuming = this.task.state === 'awaiting_approval' && this.task.pendingApproval !== null;
      this.session = await this.deps.host.openSession({
        sessionId: this.task.sessionId,
        mode: this.task.spec.mode,
        ownerKeyId: this.task.ownerKeyId,
        signal: this.signal,
      });
      // Held while the task lives: a long wait for approval must not let the session expire.
      this.releaseSession = this.session.hold();
      if (this.task.sessionId === null) {
        this.task.sessionId = this.session.id;
        await this.save();
      }
      if (resuming) {
        const record = this.task.attempts.at(-1);
        if (!record?.approval)
          throw new VivariumError('INTERNAL', 'A task awaiting approval has no approval');
        if (await this.runApproved(record, record.approval)) return await this.finish('succeeded', null);
      } else {
        await this.placeInputFiles();
        await this.emit({ type: 'task-start', sessionId: this.session.id, spec: this.task.spec });
      }
      while (this.task.attempts.length < this.task.spec.maxAttempts) {
        this.checkStopped();
        const record = await this.generate(this.task.attempts.length + 1);
        const analysis = await this.analyze(record);
        if (analysis.decision.outcome === 'deny') {
          await this.failAttempt(
            record,
            attemptError(
              'analysis',
              analysis.syntaxError ? 'SyntaxError' : 'PolicyDenied',
              analysis.syntaxError
                ? `${analysis.syntaxError.message} (line ${analysis.syntaxError.line}, column ${analysis.syntaxError.column})`
                : `The policy denied this code: ${analysis.decision.reasons.join('; ')}`,
              analysis.syntaxError ? [analysis.syntaxError.text] : [],
            ),
          );
          continue;
        }
        if (analysis.decision.outcome === 'needs_approval') {
          const approval = await this.requestApproval(record, analysis);
          if (await this.runApproved(record, approval)) return await this.finish('succeeded', null);
          continue;
        }
        if (await this.runAttempt(record)) return await this.finish('succeeded', null);
      }
      const last = this.task.attempts.at(-1)?.error;
      await this.finish('failed', {
        kind: 'attempts_exhausted',
        message: `No attempt succeeded in ${this.task.spec.maxAttempts}${last ? `; the last failed in ${last.stage}: ${last.ename}: ${last.evalue}` : ''}`,
      });
    } catch (error) {
      if (this.detached) {
        this.releaseSession();
        this.deps.onEnd(this.task);
        this.resolveDone(this.task);
        return;
      }
      const stop = error instanceof TaskStop ? error : this.stopReason;
      if (stop) {
        await this.finish(stop.status, { kind: stop.kind, message: stop.message });
      } else if (error instanceof VivariumError && error.code === 'GENERATION_FAILED') {
        await this.finish('failed', { kind: 'generation', message: error.message });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        await this.finish('failed', { kind: 'infrastructure', message });
      }
    }
  }

  private async placeInputFiles(): Promise<void> {
    const session = this.session!;
    for (const file of this.deps.inputFiles ?? []) {
      await session.files.write(file.path, file.content, { signal: this.signal });
    }
  }

  /** The request a generator gets: objective, results, context, variables, files, packages, mode. */
  private async generationRequest(attempt: number): Promise<GenerationRequest> {
    const session = this.session!;
    const spec = this.task.spec;
    this.packages ??= await this.deps.probePackages(session, this.signal).catch(() => []);
    if (this.files === null) {
      const files: PromptFile[] = [];
      for (const path of spec.files) {
        const entry = await session.files.stat(path, { signal: this.signal });
        const description = await session.files
          .describe(path, { signal: this.signal })
          .catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }));
        files.push({ path, sizeBytes: entry.sizeBytes, description });
      }
      this.files = files;
    }
    const variables =
      session.state === 'dead' ? [] : await session.variables({ signal: this.signal }).catch(() => []);
    return {
      objective: spec.objective,
      expectedResults: spec.expectedResults,
      context: spec.context,
      variables: variables.map((variable) => ({
        name: variable.name,
        type: variable.type,
        summary: variable.summary,
      })),
      files: this.files,
      packages: this.packages,
      mode: spec.mode,
      attempt,
      onTextDelta: (text) => this.emitLater({ type: 'generation-delta', attempt, text }),
      signal: this.signal,
    };
  }

  private async storeCalls(attempt: number, calls: readonly ModelCall[]): Promise<void> {
    for (const call of calls) {
      await this.deps.store.insertModelCall({ taskId: this.task.id, attempt, ...call });
    }
  }

  private async generate(attempt: number): Promise<TaskAttempt> {
    await this.emit({ type: 'task-step-start', attempt, step: attempt === 1 ? 'generate' : 'repair' });
    const request = await this.generationRequest(attempt);
    let generated;
    try {
      generated = await this.deps.generator.generate(request, this.chain.list());
    } catch (error) {
      this.checkStopped();
      const calls = error instanceof VivariumError ? (error.details as { calls?: unknown }).calls : undefined;
      if (Array.isArray(calls)) await this.storeCalls(attempt, calls as ModelCall[]);
      throw error;
    }
    await this.pending;
    this.checkStopped();
    await this.storeCalls(attempt, generated.calls);
    addUsage(this.task.usage, generated.usage);
    const record: TaskAttempt = {
      attempt,
      code: generated.code,
      codeHash: codeHashOf(generated.code),
      notes: generated.notes,
      analysis: null,
      approval: null,
      execution: null,
      error: null,
      verification: null,
      reruns: 0,
      usage: { ...generated.usage },
    };
    this.task.attempts.push(record);
    this.task.code = record.code;
    await this.save();
    await this.emit({
      type: 'code-generated',
      attempt,
      code: record.code,
      codeHash: record.codeHash,
      notes: record.notes,
    });
    return record;
  }

  private async analyze(record: TaskAttempt): Promise<AnalysisResult> {
    await this.emit({ type: 'task-step-start', attempt: record.attempt, step: 'analyze' });
    const analysis = await this.deps.analyze(this.session!, record.code, {
      mode: this.task.spec.mode,
      approvalMode: this.task.spec.approvalMode,
      signal: this.signal,
    });
    this.checkStopped();
    record.analysis = analysis;
    await this.save();
    await this.emit({ type: 'analysis-end', attempt: record.attempt, analysis });
    return analysis;
  }

  private async failAttempt(record: TaskAttempt, error: AttemptError): Promise<void> {
    record.error = error;
    this.chain.add(record.attempt, record.code, error);
    await this.save();
    await this.emit({
      type: 'attempt-failed',
      attempt: record.attempt,
      error,
      willRetry: this.task.attempts.length < this.task.spec.maxAttempts,
    });
  }

  private async requestApproval(record: TaskAttempt, analysis: AnalysisResult): Promise<Approval> {
    await this.emit({ type: 'task-step-start', attempt: record.attempt, step: 'approve' });
    const now = new Date();
    const approval: Approval = {
      id: newId('apr'),
      taskId: this.task.id,
      attempt: record.attempt,
      state: 'pending',
      ownerKeyId: this.task.ownerKeyId,
      objective: this.task.spec.objective,
      code: record.code,
      codeHash: record.codeHash,
      findings: analysis.findings,
      reasons: analysis.decision.reasons,
      mode: this.task.spec.mode,
      approvalMode: this.task.spec.approvalMode,
      expectedResults: [...this.task.spec.expectedResults],
      requestedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.deps.approvalTimeoutMs).toISOString(),
      decision: null,
    };
    await this.deps.store.saveApproval(approval);
    record.approval = approval;
    this.task.state = 'awaiting_approval';
    this.task.pendingApproval = approval;
    await this.save();
    await this.deps.store.auditTask?.({
      keyId: this.task.ownerKeyId,
      action: 'approval.request',
      target: approval.id,
      status: 'pending',
      details: {
        taskId: this.task.id,
        attempt: record.attempt,
        codeHash: approval.codeHash,
        reasons: approval.reasons,
      },
    });
    await this.emit({ type: 'approval-request', attempt: record.attempt, approval });
    return approval;
  }

  /**
   * Waits for the decision on `approval` (the task's budget paused), then runs the attempt when it
   * was approved. A rejection (or a timeout) ends the task `rejected`.
   */
  private async runApproved(record: TaskAttempt, pending: Approval): Promise<boolean> {
    const approval = await this.awaitDecision(pending);
    record.approval = approval;
    this.task.pendingApproval = null;
    this.task.state = 'running';
    await this.save();
    await this.emit({ type: 'approval-decided', attempt: record.attempt, approval });
    if (approval.state !== 'approved') {
      const why = approval.decision?.timedOut
        ? `No decision within ${this.deps.approvalTimeoutMs} ms: the approval timed out`
        : `The approval was rejected${approval.decision?.comment ? `: ${approval.decision.comment}` : ''}`;
      throw new TaskStop('rejected', 'rejected', why);
    }
    return this.runAttempt(record, approval);
  }

  private async awaitDecision(pending: Approval): Promise<Approval> {
    const current = await this.deps.store.getApproval(pending.id);
    if (current && current.state !== 'pending') return current;
    if (this.earlyDecision?.id === pending.id) return this.earlyDecision;
    this.pauseBudget();
    try {
      return await new Promise<Approval>((resolve, reject) => {
        const remaining = Date.parse(pending.expiresAt) - Date.now();
        const timer = setTimeout(
          () => {
            void this.expire(pending).then(resolve, reject);
          },
          Math.max(0, Math.min(remaining, 2_147_483_647)),
        );
        timer.unref();
        const onAbort = (): void => {
          clearTimeout(timer);
          this.approvalWaiter = null;
          if (this.detached) return reject(this.stopReason ?? new Error('detached'));
          void this.withdraw(pending).finally(() => reject(this.stopReason ?? new Error('aborted')));
        };
        if (this.signal.aborted) return onAbort();
        this.signal.addEventListener('abort', onAbort, { once: true });
        this.approvalWaiter = (approval) => {
          clearTimeout(timer);
          this.signal.removeEventListener('abort', onAbort);
          resolve(approval);
        };
      });
    } finally {
      if (!this.stopReason) this.startBudget();
    }
  }

  /** Nobody decided in time: the approval ends `rejected` (timed out), audited. */
  private async expire(pending: Approval): Promise<Approval> {
    const current = (await this.deps.store.getApproval(pending.id)) ?? pending;
    if (current.state !== 'pending') return current;
    const expired: Approval = {
      ...current,
      state: 'rejected',
      decision: {
        decision: 'reject',
        comment: 'approval timed out',
        decidedBy: null,
        decidedAt: new Date().toISOString(),
        timedOut: true,
      },
    };
    await this.deps.store.saveApproval(expired);
    await this.deps.store.auditTask?.({
      keyId: null,
      action: 'approval.decide',
      target: expired.id,
      status: 'rejected',
      details: { taskId: this.task.id, attempt: expired.attempt, codeHash: expired.codeHash, timedOut: true },
    });
    return expired;
  }

  /** A cancelled task withdraws its pending approval. */
  private async withdraw(pending: Approval): Promise<void> {
    const current = (await this.deps.store.getApproval(pending.id).catch(() => null)) ?? pending;
    if (current.state !== 'pending') return;
    await this.deps.store.saveApproval({ ...current, state: 'cancelled' }).catch(() => undefined);
    const record = this.task.attempts.find((attempt) => attempt.approval?.id === pending.id);
    if (record) record.approval = { ...current, state: 'cancelled' };
    this.task.pendingApproval = null;
  }

  /**
   * Executes the attempt's code and verifies the outcome; true when it succeeded. Failures go into
   * the error chain; infrastructure failures are re-run once on a fresh kernel, then reported.
   */
  private async runAttempt(record: TaskAttempt, approval: Approval | null = null): Promise<boolean> {
    const session = this.session!;
    // What runs is exactly what was approved: the code's hash against the approval's.
    const hash = codeHashOf(record.code);
    if (hash !== record.codeHash || (approval && approval.codeHash !== hash)) {
      throw new TaskStop(
        'failed',
        'approval_mismatch',
        `The code to run (sha256 ${hash}) is not the code that was ${approval ? 'approved' : 'analyzed'} (sha256 ${approval?.codeHash ?? record.codeHash}); it did not run`,
      );
    }
    await this.emit({ type: 'task-step-start', attempt: record.attempt, step: 'execute' });
    for (;;) {
      this.checkStopped();
      if (session.state === 'dead') {
        // A restored session starts its kernel with the execution (which says `namespaceReset`).
        if (!session.startsKernelOnExecute) await session.restart({ signal: this.signal });
      } else await session.readValue('results', { remove: true, signal: this.signal }).catch(() => undefined);
      const execution = await this.deps.host.execute(session, record.code, {
        ownerKeyId: this.task.ownerKeyId,
        onEvent: (event) => {
          if (event.type !== 'execution-end') this.emitLater({ ...event, attempt: record.attempt });
        },
        signal: this.signal,
      });
      await this.pending;
      record.execution = execution;
      this.task.execution = execution;
      await this.save();
      await this.emit({
        type: 'execution-end',
        executionId: execution.id,
        execution,
        attempt: record.attempt,
      });
      this.checkStopped();
      if (execution.status === 'memory_exceeded' || execution.status === 'killed') {
        const why = execution.reason ?? execution.status;
        if (record.reruns < MAX_INFRASTRUCTURE_RERUNS) {
          record.reruns += 1;
          await this.save();
          continue;
        }
        throw new TaskStop(
          'failed',
          'infrastructure',
          `The run was stopped by the sandbox (${execution.status}: ${why}), also when re-run on a fresh kernel; not a fault of the code`,
        );
      }
      if (execution.status === 'ok') return this.verify(record, execution);
      const error =
        execution.status === 'timeout'
          ? attemptError(
              'execution',
              'TimeoutError',
              `The code ran longer than the time limit (${execution.durationMs} ms) and was stopped`,
            )
          : execution.error
            ? attemptError(
                'execution',
                execution.error.ename,
                execution.error.evalue,
                execution.error.traceback,
              )
            : attemptError('execution', execution.status, execution.reason ?? execution.status);
      await this.failAttempt(record, error);
      return false;
    }
  }

  private async verify(record: TaskAttempt, execution: Execution): Promise<boolean> {
    await this.emit({ type: 'task-step-start', attempt: record.attempt, step: 'verify' });
    const session = this.session!;
    const value = await session.readValue('results', { maxBytes: MAX_RESULTS_BYTES, signal: this.signal });
    const expected = this.task.spec.expectedResults;
    let results: Record<string, unknown> = {};
    const problems: string[] = [];
    if (value.found && value.keys === null) {
      problems.push(`\`results\` is a ${value.type ?? 'value'}, not a dict`);
    } else if (value.json !== null) {
      try {
        // eslint-disable-next-line no-restricted-syntax -- bounded by the runtime (maxBytes), validated right below
        const parsed = resultsSchema.safeParse(JSON.parse(value.json));
        if (parsed.success) results = parsed.data;
      } catch {
        problems.push('`results` could not be read back as JSON');
      }
    }
    const present = new Set(value.keys ?? []);
    const missing = expected.filter((name) => !present.has(name));
    const unserializable = value.unserializable;
    const badExpected = unserializable.filter((entry) => entry.key !== null && expected.includes(entry.key));
    if (!value.found && expected.length > 0) problems.push('no `results` dict was defined');
    else if (missing.length > 0)
      problems.push(`\`results\` lacks ${missing.map((name) => `\`${name}\``).join(', ')}`);
    if (badExpected.length > 0) {
      problems.push(
        `not JSON-serializable: ${badExpected.map((entry) => `\`${entry.key}\` (${entry.type}: ${entry.error})`).join('; ')}`,
      );
    }
    const verification: Verification = {
      ok: problems.length === 0,
      missing,
      unserializable,
      truncated: value.truncated,
      model: null,
    };
    this.task.results = results;
    if (verification.ok && this.task.spec.verify && this.deps.generator.verify) {
      const judged = await this.deps.generator.verify({
        objective: this.task.spec.objective,
        code: record.code,
        stdout: execution.stdout.slice(-8_000),
        results,
        signal: this.signal,
      });
      await this.storeCalls(record.attempt, judged.calls);
      addUsage(this.task.usage, judged.usage);
      addUsage(record.usage, judged.usage);
      verification.model = {
        adequate: judged.adequate,
        reason: judged.reason,
        suggestion: judged.suggestion,
      };
      if (!judged.adequate) verification.ok = false;
    }
    record.verification = verification;
    await this.save();
    await this.emit({ type: 'verification-end', attempt: record.attempt, verification });
    if (verification.ok) return true;
    const error =
      problems.length > 0
        ? attemptError(
            'verification',
            'MissingResults',
            `${problems.join('; ')}. Expected a dict \`results\` with the JSON-serializable keys ${expected.map((name) => `\`${name}\``).join(', ')}`,
          )
        : attemptError(
            'verification',
            'Inadequate',
            `The output does not answer the objective: ${verification.model?.reason ?? ''}${verification.model?.suggestion ? ` Suggestion: ${verification.model.suggestion}` : ''}`,
          );
    await this.failAttempt(record, error);
    return false;
  }

  private async finish(status: TaskOutcome, error: TaskResult['error']): Promise<void> {
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    await this.pending;
    const task = this.task;
    task.state = status;
    task.status = status;
    task.error = error;
    task.pendingApproval = null;
    const last = task.attempts.at(-1);
    task.code = last?.code ?? null;
    task.execution = last?.execution ?? null;
    const files = new Map<string, TaskResult['files'][number]>();
    for (const attempt of task.attempts)
      for (const file of attempt.execution?.files ?? []) files.set(file.path, file);
    task.files = [...files.values()];
    try {
      await this.save();
      await this.deps.store.auditTask?.({
        keyId: task.ownerKeyId,
        action: 'task.end',
        target: task.id,
        status,
        details: { attempts: task.attempts.length, error: error?.kind ?? null, usage: task.usage },
      });
      await this.emit({ type: 'task-end', result: structuredClone(task) });
    } finally {
      this.releaseSession();
      this.deps.onEnd(task);
      this.resolveDone(task);
    }
  }
}

/** A fresh task record in state `running`. */
export function newTask(input: {
  spec: TaskResult['spec'];
  sessionId: string | null;
  ownerKeyId: string | null;
}): TaskResult {
  const now = new Date().toISOString();
  return {
    id: newId('tsk'),
    state: 'running',
    status: null,
    sessionId: input.sessionId,
    spec: input.spec,
    code: null,
    execution: null,
    results: {},
    attempts: [],
    files: [],
    usage: zeroUsage(),
    error: null,
    pendingApproval: null,
    ownerKeyId: input.ownerKeyId,
    createdAt: now,
    updatedAt: now,
    durationMs: 0,
  };
}
