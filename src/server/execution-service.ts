import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/index.js';
import { describeValue, VivariumError } from '../errors/index.js';
import type { Execution, ExecutionEvent, InputHandler } from '../kernel/index.js';
import type { Session } from '../session/index.js';
import type { Store } from '../store/index.js';
import type { ExecutionRateLimiter } from './execution-rate-limiter.js';
import { principalBucket, type Principal } from './principal.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { SessionDirectory } from './session-directory.js';

/** Options of {@link ExecutionService}. */
export interface ExecutionServiceOptions {
  config: Config;
  store: Store;
  directory: SessionDirectory;
  limiter: ExecutionRateLimiter;
  metrics: ServiceMetrics;
  logger: FastifyBaseLogger;
}

/** One execution request, whatever surface it came from (JSON, SSE, WebSocket, tool, one-shot). */
export interface ExecutionRequest {
  code: string;
  /** Wall-clock limit of the cell; at most the session's unless the caller is admin. @default the session's */
  timeoutMs?: number;
  /**
   * Receives every event except `execution-end`, which the caller sends itself once the execution
   * is stored. Throwing here never reaches the kernel.
   */
  onEvent?: (event: ExecutionEvent) => void;
  /** Answers `input()`; without it `input()` raises in the cell. @default undefined */
  onInput?: InputHandler;
  /** Aborting interrupts the cell. @default undefined */
  signal?: AbortSignal;
  /** `performance.now()` when the request arrived, for the queue-wait figure. @default now */
  receivedAtMs?: number;
}

/** How long running cells get after their interrupt at shutdown before the engine kills them. */
export const SHUTDOWN_INTERRUPT_GRACE_MS = 3_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Runs executions for the service: code size and rate limits first, then the session's queue, then
 * the store (the execution, its session's row and the audit entry in one transaction,
 * `recordExecution`, before anything is answered) and the metrics. Tracks
 * executions in flight for a graceful shutdown.
 */
export class ExecutionService {
  private readonly options: ExecutionServiceOptions;
  private readonly inflight = new Map<Promise<unknown>, Session>();

  constructor(options: ExecutionServiceOptions) {
    this.options = options;
  }

  /** Executions running or queued now. */
  get running(): number {
    return this.inflight.size;
  }

  /** Refuses code over `server.maxCodeBytes` with 413 `PAYLOAD_TOO_LARGE`. */
  checkCode(code: string): void {
    const max = this.options.config.server.maxCodeBytes;
    const bytes = Buffer.byteLength(code, 'utf8');
    if (bytes > max) {
      throw new VivariumError(
        'PAYLOAD_TOO_LARGE',
        `Expected \`code\` to be at most ${max} bytes, got ${bytes} bytes`,
        {
          details: { field: 'code', maxBytes: max, sizeBytes: bytes },
        },
      );
    }
  }

  /**
   * Everything checked before an execution is accepted: code size, the timeout cap (`maxTimeoutMs`,
   * the session's limit; admin keys may exceed it), the key's rate limit (which counts it). Throws
   * the 4xx error; nothing has run.
   */
  admit(
    principal: Principal,
    request: Pick<ExecutionRequest, 'code' | 'timeoutMs'>,
    maxTimeoutMs: number,
  ): void {
    this.checkCode(request.code);
    if (request.timeoutMs !== undefined && !principal.admin && request.timeoutMs > maxTimeoutMs) {
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`timeoutMs\` to be at most the session's ${maxTimeoutMs}, got ${describeValue(request.timeoutMs)}`,
        { details: { field: 'timeoutMs', maximum: maxTimeoutMs } },
      );
    }
    this.options.limiter.take(principalBucket(principal), principal.limits.maxExecutionsPerMinute);
  }

  /**
   * Runs one admitted execution on `session` and stores it. A Python exception is data (status
   * `error`); engine refusals (session dead or closed) throw `VivariumError` and are audited.
   */
  async execute(principal: Principal, session: Session, request: ExecutionRequest): Promise<Execution> {
    const { store, directory, metrics, logger } = this.options;
    const receivedAtMs = request.receivedAtMs ?? performance.now();
    const forward = request.onEvent;
    const onEvent = (event: ExecutionEvent): void => {
      if (event.type === 'execution-start')
        metrics.recordQueueWait((performance.now() - receivedAtMs) / 1000);
      if (event.type === 'execution-end' || !forward) return;
      try {
        forward(event);
      } catch (error) {
        logger.warn({ err: error }, 'an execution event could not be delivered');
      }
    };
    const running = session.execute(request.code, {
      onEvent,
      ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      ...(request.onInput ? { onInput: request.onInput } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const tracked = running.then(
      (execution) => this.record(principal, session, request.code, execution),
      async (error: unknown) => {
        metrics.recordRejectedExecution();
        await directory.persist(session).catch(() => undefined);
        await store
          .audit({
            keyId: principal.keyId,
            action: 'execution.run',
            target: session.id,
            status: error instanceof VivariumError ? error.code : 'INTERNAL',
            details: {},
          })
          .catch(() => undefined);
        throw error;
      },
    );
    this.inflight.set(tracked, session);
    try {
      return await tracked;
    } finally {
      this.inflight.delete(tracked);
    }
  }

  private async record(
    principal: Principal,
    session: Session,
    code: string,
    execution: Execution,
  ): Promise<Execution> {
    const { store, directory, metrics } = this.options;
    const owner = directory.ownerOf(session.id);
    const stored = {
      execution,
      code,
      ownerKeyId: owner === undefined ? principal.keyId : owner,
      createdAt: new Date().toISOString(),
    };
    const audit = {
      keyId: principal.keyId,
      action: 'execution.run',
      target: session.id,
      status: execution.status,
      details: {
        executionId: execution.id,
        executionCount: execution.executionCount,
        durationMs: execution.durationMs,
        namespaceReset: execution.namespaceReset,
      },
    };
    const pending = directory.pendingWrite(session);
    if (pending) {
      // One transaction, one fsync: the execution, the session's row and the audit entry.
      await store.recordExecution({ execution: stored, session: pending.stored, audit });
      pending.written();
    } else {
      // Closed (or not open, or shutting down): what `persist` does then is not a plain row write.
      await store.insertExecution(stored);
      await directory.persist(session);
      await store.audit(audit);
    }
    const sessionDead =
      execution.status === 'timeout' || execution.status === 'killed' || session.state === 'dead';
    metrics.recordExecution(execution, { sessionDead });
    return execution;
  }

  /**
   * Shutdown: waits up to `graceMs` for running and queued executions, then interrupts the cells
   * still running and gives them {@link SHUTDOWN_INTERRUPT_GRACE_MS} more. Returns how many were
   * still running after that (the engine's stop kills them; they are stored as `killed`).
   */
  async drain(graceMs: number): Promise<number> {
    if (this.inflight.size === 0) return 0;
    await Promise.race([Promise.allSettled([...this.inflight.keys()]), sleep(graceMs)]);
    if (this.inflight.size === 0) return 0;
    const sessions = new Set(this.inflight.values());
    this.options.logger.warn(
      { executions: this.inflight.size, graceMs },
      'shutdown: interrupting cells still running after the grace period',
    );
    for (const session of sessions) session.interrupt();
    await Promise.race([Promise.allSettled([...this.inflight.keys()]), sleep(SHUTDOWN_INTERRUPT_GRACE_MS)]);
    return this.inflight.size;
  }

  /** Waits (bounded) for executions still settling, e.g. after the engine killed them. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.inflight.size === 0) return;
    await Promise.race([Promise.allSettled([...this.inflight.keys()]), sleep(timeoutMs)]);
  }
}
