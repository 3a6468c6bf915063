import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Limits } from '../config/index.js';
import { VivariumError } from '../errors/index.js';
import type { KernelCgroup, LaunchSpec } from '../sandbox/index.js';
import { ExecutionCollector } from './execution-collector.js';
import type { Execution, ExecutionEvent, ExecutionStatus, InputHandler } from './execution.js';
import { encodeFrame, FrameDecoder } from './frame-codec.js';
import {
  kernelMessageSchema,
  type KernelMessage,
  type NamespaceValue,
  type VariableSummary,
} from './kernel-messages.js';

/** Kernel lifecycle. `dead` carries a reason; `closed` is final. */
export type KernelState = 'starting' | 'idle' | 'busy' | 'dead' | 'closed';

/** Grace between SIGTERM and SIGKILL, and for a clean shutdown. */
export const KERNEL_TERMINATE_GRACE_MS = 1_000;
/** After an abort, how long an interrupt gets before the kernel is killed. */
export const ABORT_INTERRUPT_GRACE_MS = 2_000;
/** Diagnostics kept from the process's own stdout/stderr (bwrap errors, interpreter crashes). */
const MAX_DIAGNOSTIC_BYTES = 16_384;

/** Options of {@link KernelProcess.start}. */
export interface KernelStartOptions {
  /** How to start the process (from the sandbox). */
  spec: LaunchSpec;
  /** Modules imported before the kernel reports ready. */
  preload: readonly string[];
  /** Limits the runtime applies to itself before any user code (rlimits). `addressSpaceMb` replaces `memoryLimitMb` for `RLIMIT_AS` when a memory cgroup does the real bounding. */
  limits: Limits & { addressSpaceMb?: number };
  /** Time to start and finish the preload. */
  startTimeoutMs: number;
  signal?: AbortSignal;
  /** Largest frame accepted from the kernel. @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number;
  /**
   * The kernel's cgroup, when cgroups are in force: its `cgroup.procs` descriptors are passed at
   * fd 5… for the kernel to join, its OOM events decide `memory_exceeded`, its counters give the
   * figures of each execution, and it is removed when the kernel is gone. @default undefined
   */
  cgroup?: KernelCgroup | undefined;
}

/** Options of {@link KernelProcess.execute}. */
export interface KernelExecuteOptions {
  executionId: string;
  sessionId: string;
  code: string;
  timeoutMs: number;
  maxOutputBytes: number;
  maxDisplayBytes: number;
  /** Limits the runtime applies to this cell only (CPU seconds; memory at most the kernel's). @default {} */
  callLimits?: { cpuTimeLimitSec?: number; memoryLimitMb?: number };
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
  /** Answers `input()`; without one, `input()` raises a clear error in the cell. */
  onInput?: InputHandler | undefined;
  signal?: AbortSignal | undefined;
}

interface RunningExecution {
  options: KernelExecuteOptions;
  collector: ExecutionCollector;
  startedAt: number;
  startedAtIso: string;
  resolve: (execution: Execution) => void;
  timer: NodeJS.Timeout;
  abortTimer: NodeJS.Timeout | null;
  removeAbortListener: () => void;
  /** The reply arrived (a second one is a protocol violation). */
  replied: boolean;
  /** The reply, held until the kernel echoes `syncNonce` from its idle loop. */
  pendingReply: Extract<KernelMessage, { type: 'reply' }> | null;
  syncNonce: string | null;
  /** cgroup CPU counter at the start, ns; null without cgroups. */
  cgroupCpuNsBefore: number | null;
  /** The cell's number, known before the kernel replies (see `cellsSent`). */
  executionCount: number;
}

/**
 * One live CPython process running the runtime, spoken to over framed JSON on fds 3 (requests)
 * and 4 (replies). Facts the host can know itself — timeouts, kernel death, protocol violations —
 * come from the host, never from the kernel.
 */
export class KernelProcess {
  private readonly child: ChildProcess;
  private readonly input: Writable;
  private readonly decoder: FrameDecoder;
  private stateValue: KernelState = 'starting';
  private reasonValue: string | null = null;
  private diagnostics = '';
  private running: RunningExecution | null = null;
  private pendingVariables: {
    resolve: (v: { variables: VariableSummary[]; value?: NamespaceValue | undefined }) => void;
    reject: (e: Error) => void;
    id: string;
  } | null = null;
  private readyWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private closing: Promise<void> | null = null;
  private readonly exited: Promise<void>;
  /** Resolves when the kernel's process has exited (its pid namespace, and so its whole tree, is gone). */
  readonly processExit: Promise<void>;
  private exitListeners: Array<(reason: string) => void> = [];
  private requestCounter = 0;
  /**
   * Cells sent to this kernel. The runtime numbers every `execute` it receives the same way, so
   * this is the running cell's `execution_count` before any reply: for `execution-start`, and for
   * an execution that ends without a reply (timeout, kill).
   */
  private cellsSent = 0;
  /** Ids of `variables` requests that timed out; their answers may still come, and are dropped. */
  private readonly abandonedVariables = new Set<string>();
  /** Modules the preload imported, and the ones that failed. */
  preloaded: string[] = [];
  preloadErrors: Array<{ module: string; error: string }> = [];
  /** Time from spawn to ready. */
  startDurationMs = 0;
  readonly pid: number;
  /** The kernel's cgroup, or null under rlimits alone. */
  readonly cgroup: KernelCgroup | null;
  /** The kernel's memory limit, for messages. */
  memoryLimitMb = 0;

  private constructor(child: ChildProcess, maxFrameBytes: number | undefined, cgroup: KernelCgroup | null) {
    this.child = child;
    this.cgroup = cgroup;
    this.decoder = new FrameDecoder(maxFrameBytes === undefined ? {} : { maxFrameBytes });
    this.input = child.stdio[3] as Writable;
    this.pid = child.pid ?? -1;
    const output = child.stdio[4] as Readable;
    output.on('data', (chunk: Buffer) => this.onData(chunk));
    output.on('error', () => undefined);
    this.input.on('error', () => undefined);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        if (this.diagnostics.length < MAX_DIAGNOSTIC_BYTES)
          this.diagnostics += chunk.toString('utf8').slice(0, MAX_DIAGNOSTIC_BYTES);
      });
      stream?.on('error', () => undefined);
    }
    let processGone: () => void = () => undefined;
    this.processExit = new Promise((resolve) => {
      processGone = resolve;
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        processGone();
        void this.onExit(code, signal).finally(resolve);
      });
    });
  }

  /** Starts a kernel and waits until its preload is done. */
  static async start(options: KernelStartOptions): Promise<KernelProcess> {
    const startedAt = performance.now();
    let child: ChildProcess;
    let cgroupFds: number[] = [];
    try {
      // Inside the try: the descriptors handed over in `spec.extraFds` are closed on every path.
      if (options.signal?.aborted) throw new VivariumError('ABORTED', 'Kernel start aborted');
      cgroupFds = options.cgroup ? options.cgroup.openProcsFiles() : [];
      child = spawn(options.spec.command, options.spec.args, {
        env: options.spec.env,
        cwd: options.spec.cwd,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...cgroupFds, ...(options.spec.extraFds ?? [])],
        detached: true,
        ...(options.spec.uid === undefined
          ? {}
          : { uid: options.spec.uid, gid: options.spec.gid ?? options.spec.uid }),
      });
    } catch (error) {
      await options.cgroup?.destroy();
      if (error instanceof VivariumError) throw error;
      throw new VivariumError(
        'KERNEL_START_FAILED',
        `Could not start the kernel: ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      for (const fd of [...cgroupFds, ...(options.spec.extraFds ?? [])]) closeSync(fd);
    }
    const kernel = new KernelProcess(child, options.maxFrameBytes, options.cgroup ?? null);
    kernel.memoryLimitMb = options.limits.memoryLimitMb;
    child.on('error', (error) => kernel.markDead(`spawn failed: ${error.message}`));
    const ready = new Promise<void>((resolve, reject) => {
      kernel.readyWaiter = { resolve, reject };
    });
    const timer = setTimeout(
      () => kernel.markDead(`did not become ready within ${options.startTimeoutMs} ms`),
      options.startTimeoutMs,
    );
    const onAbort = (): void => kernel.markDead('start aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      kernel.send({ type: 'init', limits: options.limits, preload: options.preload });
      await ready;
      kernel.startDurationMs = performance.now() - startedAt;
      return kernel;
    } catch (error) {
      await kernel.close();
      if (options.signal?.aborted) throw new VivariumError('ABORTED', 'Kernel start aborted');
      const detail = kernel.diagnostics.trim();
      throw new VivariumError(
        'KERNEL_START_FAILED',
        `The kernel failed to start: ${(error as Error).message}${detail ? `\n${detail}` : ''}`,
        { details: { diagnostics: detail }, cause: error },
      );
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  get state(): KernelState {
    return this.stateValue;
  }

  /** Why the kernel is dead (first termination reason wins), or null. */
  get deathReason(): string | null {
    return this.reasonValue;
  }

  /** Called once when the kernel dies or is closed. */
  onDeath(listener: (reason: string) => void): void {
    this.exitListeners.push(listener);
  }

  private send(message: unknown): void {
    if (this.stateValue === 'dead' || this.stateValue === 'closed') return;
    this.input.write(encodeFrame(message));
  }

  private onData(chunk: Buffer): void {
    let frames: unknown[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.protocolViolation((error as Error).message);
      return;
    }
    for (const frame of frames) {
      const parsed = kernelMessageSchema.safeParse(frame);
      if (!parsed.success) {
        this.protocolViolation(`invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
        return;
      }
      this.dispatch(parsed.data);
      if (this.stateValue === 'dead' || this.stateValue === 'closed') return;
    }
  }

  private protocolViolation(detail: string): void {
    this.kill(
      `protocol violation: the kernel's report channel was written to by something other than the runtime (${detail})`,
      'killed',
    );
  }

  private dispatch(message: KernelMessage): void {
    switch (message.type) {
      case 'ready':
        if (this.stateValue !== 'starting') return this.protocolViolation('a second ready frame');
        this.preloaded = message.preloaded;
        this.preloadErrors = message.preloadErrors;
        this.stateValue = 'idle';
        this.readyWaiter?.resolve();
        this.readyWaiter = null;
        return;
      case 'stream':
      case 'display_data':
      case 'update_display_data':
      case 'clear_output':
      case 'execute_result':
      case 'error':
        // Output of a finished cell's background threads has no execution to go to: dropped.
        if (this.running && message.id === this.running.options.executionId)
          this.running.collector.add(message);
        return;
      case 'input_request':
        if (!this.running || message.id !== this.running.options.executionId)
          return this.protocolViolation('input request outside its execution');
        this.answerInput(this.running, message.prompt, message.password);
        return;
      case 'reply': {
        const running = this.running;
        if (!running || message.id !== running.options.executionId || running.replied)
          return this.protocolViolation('a reply no request asked for');
        running.replied = true;
        // Barrier: a fresh nonce the kernel has never seen, answered from its idle loop. A reply
        // forged by the cell arrives while the real runtime is still busy, so the real reply
        // follows before the echo — a second reply, caught above — and no forged `ok` stands.
        running.pendingReply = message;
        running.syncNonce = randomBytes(16).toString('hex');
        this.send({ type: 'sync', nonce: running.syncNonce });
        return;
      }
      case 'sync_ack': {
        const running = this.running;
        if (!running?.pendingReply || message.nonce !== running.syncNonce)
          return this.protocolViolation('a sync answer no request asked for');
        const reply = running.pendingReply;
        running.pendingReply = null;
        this.completeReply(running, reply);
        return;
      }
      case 'variables':
        // The late answer to a request the host gave up waiting for is expected, not forged.
        if (message.id !== null && this.abandonedVariables.delete(message.id)) return;
        if (!this.pendingVariables || message.id !== this.pendingVariables.id)
          return this.protocolViolation('variables no request asked for');
        this.pendingVariables.resolve(message);
        this.pendingVariables = null;
        return;
      case 'runtime_error':
        this.diagnostics = `${this.diagnostics}\n${message.message}`.slice(-MAX_DIAGNOSTIC_BYTES);
        return;
    }
  }

  /** Ends an execution from its reply, with the cgroup's figures where cgroups are in force. */
  private completeReply(running: RunningExecution, message: Extract<KernelMessage, { type: 'reply' }>): void {
    const oom =
      running.collector.hasError &&
      message.status === 'error' &&
      lastErrorName(running.collector) === 'MemoryError';
    let cpuMs = message.cpu_ms;
    let peakMemoryBytes = message.peak_rss_bytes;
    if (this.cgroup && running.cgroupCpuNsBefore !== null) {
      const cpuNs = this.cgroup.cpuUsageNs();
      const peak = this.cgroup.peakMemoryBytes();
      if (cpuNs !== null) cpuMs = Math.round((cpuNs - running.cgroupCpuNsBefore) / 1000) / 1000;
      if (peak !== null) peakMemoryBytes = peak;
    }
    if (this.running !== running) return;
    this.finishExecution(running, {
      status: oom ? 'memory_exceeded' : message.status,
      executionCount: message.execution_count,
      cpuMs,
      peakMemoryBytes,
      files: message.files,
      filesTruncated: message.files_truncated,
      kernelTruncatedOutput: message.stream_truncated,
      reason: oom
        ? `the cell ran out of memory (limit ${running.options.callLimits?.memoryLimitMb ?? this.memoryLimitMb} MiB)`
        : null,
    });
    if (this.stateValue === 'busy') this.stateValue = 'idle';
  }

  private answerInput(running: RunningExecution, prompt: string, password: boolean): void {
    const id = running.options.executionId;
    running.collector.emit({ type: 'input-request', executionId: id, prompt, password });
    const handler = running.options.onInput;
    if (!handler) {
      this.send({ type: 'input_reply', id, error: 'no input handler' });
      return;
    }
    Promise.resolve()
      .then(() => handler({ prompt, password }))
      .then(
        (value) => this.send({ type: 'input_reply', id, value: String(value) }),
        (error: unknown) =>
          this.send({
            type: 'input_reply',
            id,
            error: error instanceof Error ? error.message : String(error),
          }),
      );
  }

  /** Runs one cell. Resolves with the Execution whatever happens in Python; throws only for engine faults. */
  execute(options: KernelExecuteOptions): Promise<Execution> {
    if (this.stateValue !== 'idle') {
      const code =
        this.stateValue === 'dead'
          ? 'SESSION_DEAD'
          : this.stateValue === 'closed'
            ? 'SESSION_CLOSED'
            : 'INTERNAL';
      return Promise.reject(
        new VivariumError(
          code,
          `The kernel is ${this.stateValue}${this.reasonValue ? `: ${this.reasonValue}` : ''}`,
          { details: { state: this.stateValue, reason: this.reasonValue } },
        ),
      );
    }
    if (options.signal?.aborted)
      return Promise.reject(new VivariumError('ABORTED', 'Execution aborted before it started'));
    this.stateValue = 'busy';
    this.cellsSent += 1;
    const executionCount = this.cellsSent;
    return new Promise<Execution>((resolve) => {
      const collector = new ExecutionCollector({
        executionId: options.executionId,
        sessionId: options.sessionId,
        maxOutputBytes: options.maxOutputBytes,
        maxDisplayBytes: options.maxDisplayBytes,
        onEvent: options.onEvent,
      });
      const onAbort = (): void => {
        this.interrupt();
        if (this.running && this.running.abortTimer === null) {
          this.running.abortTimer = setTimeout(
            () => this.kill('aborted by the caller and did not stop after an interrupt', 'interrupted'),
            ABORT_INTERRUPT_GRACE_MS,
          );
        }
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const running: RunningExecution = {
        options,
        collector,
        startedAt: performance.now(),
        startedAtIso: new Date().toISOString(),
        resolve,
        timer: setTimeout(
          () =>
            this.kill(
              `the execution exceeded its timeout of ${options.timeoutMs} ms; the kernel was killed and its namespace is lost`,
              'timeout',
            ),
          options.timeoutMs,
        ),
        abortTimer: null,
        removeAbortListener: () => options.signal?.removeEventListener('abort', onAbort),
        replied: false,
        pendingReply: null,
        syncNonce: null,
        cgroupCpuNsBefore: null,
        executionCount,
      };
      this.running = running;
      collector.emit({
        type: 'execution-start',
        executionId: options.executionId,
        sessionId: options.sessionId,
        executionCount,
      });
      this.beginExecution(running);
    });
  }

  private beginExecution(running: RunningExecution): void {
    if (this.cgroup) {
      this.cgroup.resetPeakMemory();
      running.cgroupCpuNsBefore = this.cgroup.cpuUsageNs();
    }
    const options = running.options;
    this.send({
      type: 'execute',
      id: options.executionId,
      code: options.code,
      maxOutputBytes: options.maxOutputBytes,
      allowInput: options.onInput !== undefined,
      limits: options.callLimits ?? {},
    });
  }

  private finishExecution(
    running: RunningExecution,
    fields: Omit<Parameters<ExecutionCollector['finish']>[0], 'durationMs' | 'startedAt'>,
  ): void {
    if (this.running !== running) return;
    this.running = null;
    clearTimeout(running.timer);
    if (running.abortTimer) clearTimeout(running.abortTimer);
    running.removeAbortListener();
    const execution = running.collector.finish({
      ...fields,
      durationMs: Math.round((performance.now() - running.startedAt) * 1000) / 1000,
      startedAt: running.startedAtIso,
    });
    running.collector.emit({ type: 'execution-end', executionId: execution.id, execution });
    running.resolve(execution);
  }

  /** Sends SIGINT to the running cell (KeyboardInterrupt); the namespace survives. No-op when idle. */
  interrupt(): void {
    if (this.stateValue === 'busy') this.send({ type: 'interrupt' });
  }

  /** The user's variables. Only while idle (sessions queue it behind executions). */
  async variables(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<VariableSummary[]> {
    const answer = await this.namespaceRequest({}, 'Listing variables', options);
    return answer.variables;
  }

  /**
   * One namespace value as JSON (see {@link NamespaceValue}), answered by the runtime's idle loop.
   * With `remove`, the name is deleted after reading. Only while idle.
   */
  async readValue(
    name: string,
    options: { maxBytes?: number; remove?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<NamespaceValue> {
    const answer = await this.namespaceRequest(
      { read: name, maxBytes: options.maxBytes ?? 1_000_000, remove: options.remove ?? false },
      `Reading \`${name}\``,
      options,
    );
    if (!answer.value)
      throw new VivariumError('INTERNAL', `The kernel did not answer the read of \`${name}\``);
    return answer.value;
  }

  private namespaceRequest(
    fields: Record<string, unknown>,
    what: string,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<{ variables: VariableSummary[]; value?: NamespaceValue | undefined }> {
    if (this.stateValue !== 'idle') {
      return Promise.reject(
        new VivariumError(
          this.stateValue === 'dead' ? 'SESSION_DEAD' : 'SESSION_CLOSED',
          `The kernel is ${this.stateValue}`,
        ),
      );
    }
    this.requestCounter += 1;
    const id = `vars-${this.requestCounter}`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingVariables = null;
        this.abandonedVariables.add(id);
        reject(
          new VivariumError(
            'INTERNAL',
            `${what} took longer than ${timeoutMs} ms (a __repr__, __len__ or serializer may hang)`,
          ),
        );
      }, timeoutMs);
      this.pendingVariables = {
        id,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.send({ type: 'variables', id, ...fields });
    });
  }

  /**
   * Kills the whole process tree (the sandbox's pid namespace goes with it). The first reason
   * wins; a running execution ends with `status`.
   */
  kill(reason: string, status: ExecutionStatus = 'killed'): void {
    if (this.reasonValue === null) this.reasonValue = reason;
    const running = this.running;
    this.markDead(this.reasonValue, status);
    this.signalGroup('SIGKILL');
    void running;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    // The cgroup's own OOM counter is the fact; a SIGKILL alone could have any sender.
    const oomKills = this.cgroup ? this.cgroup.oomKills() : 0;
    if (this.cgroup) await this.cgroup.destroy();
    if (oomKills > 0 && this.reasonValue === null) {
      this.markDead(
        `the kernel ran out of memory (limit ${this.memoryLimitMb} MiB) and was killed by the memory cgroup; its namespace is lost`,
        'memory_exceeded',
      );
      return;
    }
    let reason: string;
    let status: ExecutionStatus = 'killed';
    const signalNumber = signal
      ? osConstants.signals[signal]
      : code !== null && code > 128
        ? code - 128
        : null;
    if (signalNumber === osConstants.signals.SIGXCPU)
      reason = 'the kernel exceeded its CPU time limit (cpuTimeLimitSec) and was killed';
    else if (signalNumber === osConstants.signals.SIGKILL) reason = 'the kernel was killed (SIGKILL)';
    else if (signalNumber !== null) reason = `the kernel died from signal ${signal ?? signalNumber}`;
    else reason = `the kernel exited with code ${code ?? 'unknown'} (os._exit, a crash, or a fatal error)`;
    if (signalNumber === osConstants.signals.SIGKILL && this.reasonValue === null) status = 'killed';
    this.markDead(this.reasonValue ?? reason, status);
  }

  /** Moves to `dead` once, settling everything that waits. */
  private markDead(reason: string, status: ExecutionStatus = 'killed'): void {
    if (this.reasonValue === null) this.reasonValue = reason;
    if (this.stateValue === 'dead' || this.stateValue === 'closed') return;
    this.stateValue = 'dead';
    const finalReason = this.reasonValue;
    const error = new VivariumError('KERNEL_DIED', `The kernel died: ${finalReason}`, {
      details: { reason: finalReason },
    });
    this.readyWaiter?.reject(error);
    this.readyWaiter = null;
    this.pendingVariables?.reject(error);
    this.pendingVariables = null;
    const running = this.running;
    if (running) {
      running.collector.setError({
        ename:
          status === 'timeout'
            ? 'TimeoutError'
            : status === 'interrupted'
              ? 'KeyboardInterrupt'
              : 'KernelDied',
        evalue: finalReason,
        traceback: [],
      });
      this.finishExecution(running, {
        status,
        executionCount: running.executionCount,
        cpuMs: 0,
        peakMemoryBytes: 0,
        files: [],
        filesTruncated: false,
        kernelTruncatedOutput: false,
        reason: finalReason,
      });
    }
    this.signalGroup('SIGKILL');
    for (const listener of this.exitListeners.splice(0)) {
      try {
        listener(finalReason);
      } catch {
        // listeners must not break teardown
      }
    }
  }

  /** Shuts the kernel down: a polite request, then SIGTERM, then SIGKILL. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const alive = this.child.exitCode === null && this.child.signalCode === null;
      if (alive && this.stateValue === 'idle') {
        this.send({ type: 'shutdown' });
        if (await settlesWithin(this.exited, KERNEL_TERMINATE_GRACE_MS)) return this.finishClose();
      }
      if (alive) {
        this.markDead(this.reasonValue ?? 'closed');
        this.signalGroup('SIGTERM');
        if (!(await settlesWithin(this.exited, KERNEL_TERMINATE_GRACE_MS))) {
          this.signalGroup('SIGKILL');
          await settlesWithin(this.exited, KERNEL_TERMINATE_GRACE_MS);
        }
      }
      this.finishClose();
    })();
    return this.closing;
  }

  private finishClose(): void {
    this.markDead(this.reasonValue ?? 'closed');
    this.stateValue = 'closed';
    this.input.destroy();
    (this.child.stdio[4] as Readable | null)?.destroy();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  /** Output of the process outside the protocol (bwrap messages, interpreter crashes), capped. */
  get diagnosticOutput(): string {
    return this.diagnostics;
  }
}

function lastErrorName(collector: ExecutionCollector): string | undefined {
  for (let index = collector.outputs.length - 1; index >= 0; index -= 1) {
    const output = collector.outputs[index];
    if (output?.output_type === 'error') return output.ename;
  }
  return undefined;
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
