import type { FastifyBaseLogger } from 'fastify';
import { EXECUTION_MODES, type Config, type ExecutionMode, type Limits } from '../config/index.js';
import type { Vivarium } from '../engine/index.js';
import { describeValue, VivariumError } from '../errors/index.js';
import type { Session } from '../session/index.js';
import type { Store, StoredSession } from '../store/index.js';
import type { CreateSessionBody, LimitsPatch, SessionView } from './api-schemas.js';
import { sessionNotFound } from './http-errors.js';
import { ANONYMOUS_BUCKET, canSee, principalBucket, type Principal } from './principal.js';

/**
 * How much each execution mode grants, for the ceiling of keys that are not admin: each mode grants
 * everything the lower ones do (`network` adds the host network to `workspace_write`'s writable
 * workspace, which `read_only` lacks).
 */
export const MODE_GRANT_RANK: Readonly<Record<ExecutionMode, number>> = {
  read_only: 0,
  workspace_write: 1,
  network: 2,
};

/** Options of {@link SessionDirectory}. */
export interface SessionDirectoryOptions {
  vv: Vivarium;
  store: Store;
  config: Config;
  logger: FastifyBaseLogger;
}

interface OpenEntry {
  stored: StoredSession;
  session: Session;
  /** Set when the service closes the session itself (API, one-shot run); otherwise a close seen by `sync` came from the engine (idle expiry). */
  closingByService: boolean;
}

/** Result of {@link SessionDirectory.restore}. */
export interface RestoreReport {
  /** Sessions brought back (their next execution starts a fresh kernel). */
  restored: string[];
  /** Sessions whose workspace was gone: marked closed with the reason. */
  lost: Array<{ id: string; reason: string }>;
}

/**
 * The service's view of sessions: which key owns which session, what the store says about closed
 * ones, and the per-key session quota. Every state change it makes is written to the store
 * (upsert) before the caller answers.
 */
export class SessionDirectory {
  private readonly vv: Vivarium;
  private readonly store: Store;
  private readonly config: Config;
  private readonly logger: FastifyBaseLogger;
  /** Open sessions by id, with their owner (`stored.ownerKeyId`). */
  private readonly open = new Map<string, OpenEntry>();
  /** Session creations in flight per key, counted against the quota before they finish. */
  private readonly pending = new Map<string, number>();
  /** After `freeze()` nothing more is written: shutdown detaches sessions, which must stay open in the store. */
  private frozen = false;

  constructor(options: SessionDirectoryOptions) {
    this.vv = options.vv;
    this.store = options.store;
    this.config = options.config;
    this.logger = options.logger;
  }

  /** Sessions open now. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Brings back every stored session that was not closed (after a restart of the service). A
   * session whose workspace is gone is marked closed with the reason.
   */
  async restore(): Promise<RestoreReport> {
    const report: RestoreReport = { restored: [], lost: [] };
    for (const stored of await this.store.listSessions({ includeClosed: false })) {
      if (stored.state === 'closed' || this.open.has(stored.id)) continue;
      try {
        const session = await this.vv.restoreSession(stored.record, {
          createdAt: new Date(stored.createdAt),
          executionCount: stored.executionCount,
        });
        const entry: OpenEntry = { stored, session, closingByService: false };
        this.open.set(stored.id, entry);
        await this.write(entry);
        report.restored.push(stored.id);
      } catch (error) {
        const reason = `not restored after a restart of the service: ${(error as Error).message}`;
        const now = new Date().toISOString();
        await this.store.upsertSession({
          ...stored,
          state: 'closed',
          deathReason: reason,
          updatedAt: now,
          closedAt: now,
        });
        await this.store.audit({
          keyId: stored.ownerKeyId,
          action: 'session.close',
          target: stored.id,
          status: 'workspace_gone',
          details: { reason },
        });
        this.logger.warn({ sessionId: stored.id, err: error }, 'stored session not restored');
        report.lost.push({ id: stored.id, reason });
      }
    }
    return report;
  }

  /** Sessions `principal` has open (its quota usage), plus creations in flight. */
  openCount(principal: Principal): number {
    const bucket = principalBucket(principal);
    let count = this.pending.get(bucket) ?? 0;
    for (const entry of this.open.values()) {
      if ((entry.stored.ownerKeyId ?? ANONYMOUS_BUCKET) === bucket) count += 1;
    }
    return count;
  }

  /**
   * The limits of a new session: the configured ones with `patch` over them. Keys that are not
   * admin may lower limits, never raise them past the service's configuration.
   */
  effectiveLimits(principal: Principal, patch: LimitsPatch | undefined): Limits {
    const base = this.config.limits;
    const limits: Limits = { ...base };
    for (const [name, value] of Object.entries(patch ?? {}) as Array<[keyof Limits, number | undefined]>) {
      if (value === undefined) continue;
      if (!principal.admin && value > base[name]) {
        throw new VivariumError(
          'INVALID_ARGUMENT',
          `Expected \`limits.${name}\` to be at most the service's ${base[name]}, got ${describeValue(value)}`,
          { details: { field: `limits.${name}`, maximum: base[name] } },
        );
      }
      limits[name] = value;
    }
    return limits;
  }

  /**
   * The execution mode of a new session: the asked one, else the configured `policy.mode`. Keys that
   * are not admin may ask for less than the configured mode, never more ({@link MODE_GRANT_RANK}).
   */
  effectiveMode(principal: Principal, mode: ExecutionMode | undefined): ExecutionMode {
    const base = this.config.policy.mode;
    if (mode === undefined) return base;
    if (!principal.admin && MODE_GRANT_RANK[mode] > MODE_GRANT_RANK[base]) {
      const allowed = EXECUTION_MODES.filter((item) => MODE_GRANT_RANK[item] <= MODE_GRANT_RANK[base]);
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`mode\` to be at most the service's \`${base}\` (one of ${allowed.map((item) => `"${item}"`).join(', ')}), got ${describeValue(mode)}; only admin keys may ask for more`,
        { details: { field: 'mode', maximum: base, allowed } },
      );
    }
    return mode;
  }

  /** Starts a session owned by `principal` and stores it; `QUOTA_EXCEEDED` past the key's session limit. */
  async create(principal: Principal, body: CreateSessionBody, signal?: AbortSignal): Promise<Session> {
    this.assertWritable();
    const limits = this.effectiveLimits(principal, body.limits);
    const mode = this.effectiveMode(principal, body.mode);
    const bucket = principalBucket(principal);
    const max = principal.limits.maxConcurrentSessions;
    if (this.openCount(principal) >= max) {
      throw new VivariumError(
        'QUOTA_EXCEEDED',
        `This key may have ${max} sessions open at once; close one (DELETE /v1/sessions/:id) first`,
        { details: { maxConcurrentSessions: max } },
      );
    }
    this.pending.set(bucket, (this.pending.get(bucket) ?? 0) + 1);
    let session: Session;
    try {
      // Full limits, never a partial: the engine fills missing fields from the schema defaults.
      session = await this.vv.createSession({
        limits,
        mode,
        ...(body.preload ? { preload: body.preload } : {}),
        ...(body.env ? { env: body.env } : {}),
        ...(body.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: body.idleTimeoutMs }),
        ...(signal ? { signal } : {}),
      });
    } finally {
      const left = (this.pending.get(bucket) ?? 1) - 1;
      if (left > 0) this.pending.set(bucket, left);
      else this.pending.delete(bucket);
    }
    const now = new Date().toISOString();
    const entry: OpenEntry = {
      session,
      closingByService: false,
      stored: {
        id: session.id,
        ownerKeyId: principal.keyId,
        state: session.state,
        deathReason: session.deathReason,
        record: session.record(),
        executionCount: 0,
        createdAt: session.createdAt.toISOString(),
        updatedAt: now,
        closedAt: null,
      },
    };
    this.open.set(session.id, entry);
    try {
      await this.store.upsertSession(entry.stored);
      await this.store.audit({
        keyId: principal.keyId,
        action: 'session.create',
        target: session.id,
        status: 'ok',
        details: { limits, mode, preload: session.record().preload },
      });
    } catch (error) {
      // Not acknowledged, so not kept.
      this.open.delete(session.id);
      await session.close().catch(() => undefined);
      throw error;
    }
    return session;
  }

  /** A session `principal` may see, open or closed; `SESSION_NOT_FOUND` otherwise (another key's too). */
  async find(principal: Principal, id: string): Promise<{ stored: StoredSession; session: Session | null }> {
    const entry = this.open.get(id);
    if (entry) {
      if (!canSee(principal, entry.stored.ownerKeyId)) throw sessionNotFound(id);
      if (entry.session.state === 'closed') await this.markClosedByEngine(entry);
      else return { stored: entry.stored, session: entry.session };
    }
    const stored = await this.store.getSession(id);
    if (!stored || !canSee(principal, stored.ownerKeyId)) throw sessionNotFound(id);
    const again = this.open.get(id);
    return {
      stored: again?.stored ?? stored,
      session: again && again.session.state !== 'closed' ? again.session : null,
    };
  }

  /** An open session of `principal`: `SESSION_NOT_FOUND` (404) or `SESSION_CLOSED` (410) otherwise. */
  async live(principal: Principal, id: string): Promise<Session> {
    const { stored, session } = await this.find(principal, id);
    if (!session) {
      throw new VivariumError(
        'SESSION_CLOSED',
        `Session ${id} is closed${stored.deathReason ? `: ${stored.deathReason}` : ''}`,
        {
          details: { sessionId: id, closedAt: stored.closedAt },
        },
      );
    }
    return session;
  }

  /** Owner of an open session (null without auth); undefined when not open. */
  ownerOf(id: string): string | null | undefined {
    return this.open.get(id)?.stored.ownerKeyId;
  }

  /** Sessions `principal` may see, newest first. */
  async list(principal: Principal, options: { includeClosed?: boolean } = {}): Promise<SessionView[]> {
    await this.sync();
    const stored = await this.store.listSessions({
      ...(principal.admin ? {} : { ownerKeyId: principal.keyId }),
      includeClosed: options.includeClosed ?? false,
    });
    return stored.map((item) => {
      const entry = this.open.get(item.id);
      return entry ? this.view(entry.stored, entry.session) : this.view(item, null);
    });
  }

  /** The public description of a session: live figures when open, the stored ones otherwise. */
  view(stored: StoredSession, session: Session | null): SessionView {
    const info = session?.info();
    return {
      id: stored.id,
      state: info?.state ?? stored.state,
      deathReason: info ? info.deathReason : stored.deathReason,
      createdAt: info?.createdAt ?? stored.createdAt,
      lastActivityAt: info?.lastActivityAt ?? stored.updatedAt,
      closedAt: stored.closedAt,
      executionCount: info?.executionCount ?? stored.executionCount,
      limits: info?.limits ?? stored.record.limits,
      mode: info?.mode ?? stored.record.mode,
      preload: stored.record.preload,
      idleTimeoutMs: stored.record.idleTimeoutMs,
      ownerKeyId: stored.ownerKeyId,
    };
  }

  /** The view of an open session by id. */
  viewOf(session: Session): SessionView {
    const entry = this.open.get(session.id);
    if (!entry) throw sessionNotFound(session.id);
    return this.view(entry.stored, session);
  }

  /** Writes an open session's current state to the store. */
  async persist(session: Session): Promise<void> {
    const entry = this.open.get(session.id);
    if (!entry || this.frozen) return;
    if (session.state === 'closed') {
      await this.markClosedByEngine(entry);
      return;
    }
    await this.write(entry);
  }

  /**
   * What {@link persist} would write for an open session, without writing it, for a caller that
   * writes it in its own transaction (`Store.recordExecution`): the refreshed row, and `written()` to
   * call once that transaction committed. Undefined when `persist` would do something else (session
   * not open or closed, directory frozen): the caller uses `persist` then.
   */
  pendingWrite(session: Session): { stored: StoredSession; written: () => void } | undefined {
    const entry = this.open.get(session.id);
    if (!entry || this.frozen || session.state === 'closed') return undefined;
    const stored = this.refreshed(entry);
    return {
      stored,
      written: () => {
        // A close stored meanwhile wins: only a session still open takes the row.
        if (this.open.get(session.id) === entry) entry.stored = stored;
      },
    };
  }

  /** Closes a session (kernel stopped, workspace removed) and stores it closed. Idempotent. */
  async close(principal: Principal, id: string, reason = 'closed through the API'): Promise<SessionView> {
    const { stored, session } = await this.find(principal, id);
    if (!session) return this.view(stored, null);
    const entry = this.open.get(id);
    if (!entry) return this.view(stored, null);
    entry.closingByService = true;
    await session.close();
    return this.view(await this.storeClosed(entry, reason, principal.keyId), null);
  }

  /** Marks sessions the engine closed by itself (idle expiry) as closed in the store. */
  async sync(): Promise<void> {
    if (this.frozen) return;
    for (const entry of [...this.open.values()]) {
      if (entry.session.state === 'closed' && !entry.closingByService) await this.markClosedByEngine(entry);
    }
  }

  /** Writes every open session's state, then stops writing (before the engine detaches them at shutdown). */
  async freeze(): Promise<void> {
    await this.sync();
    for (const entry of this.open.values()) {
      if (entry.session.state !== 'closed') await this.write(entry).catch(() => undefined);
    }
    this.frozen = true;
  }

  /** Open sessions (for shutdown: interrupting running cells). */
  openSessions(): Session[] {
    return [...this.open.values()].map((entry) => entry.session);
  }

  private assertWritable(): void {
    if (this.frozen) throw new VivariumError('ENGINE_STOPPED', 'The service is shutting down');
  }

  private async write(entry: OpenEntry): Promise<void> {
    entry.stored = this.refreshed(entry);
    await this.store.upsertSession(entry.stored);
  }

  /** The stored row of an open session brought up to its current state (not written). */
  private refreshed(entry: OpenEntry): StoredSession {
    const info = entry.session.info();
    return {
      ...entry.stored,
      state: info.state,
      deathReason: info.deathReason,
      executionCount: info.executionCount,
      updatedAt: new Date().toISOString(),
    };
  }

  private async markClosedByEngine(entry: OpenEntry): Promise<void> {
    if (this.frozen || !this.open.has(entry.stored.id)) return;
    const idle = entry.session.idleTimeoutMs > 0 && entry.session.idleForMs >= entry.session.idleTimeoutMs;
    const reason = idle
      ? `closed after ${entry.session.idleTimeoutMs} ms without activity`
      : (entry.session.deathReason ?? 'closed');
    await this.storeClosed(entry, reason, null);
  }

  private async storeClosed(
    entry: OpenEntry,
    reason: string,
    byKeyId: string | null,
  ): Promise<StoredSession> {
    this.open.delete(entry.stored.id);
    const now = new Date().toISOString();
    entry.stored = {
      ...entry.stored,
      state: 'closed',
      deathReason: reason,
      executionCount: entry.session.info().executionCount,
      updatedAt: now,
      closedAt: now,
    };
    await this.store.upsertSession(entry.stored);
    await this.store.audit({
      keyId: byKeyId ?? entry.stored.ownerKeyId,
      action: 'session.close',
      target: entry.stored.id,
      status: 'ok',
      details: { reason },
    });
    return entry.stored;
  }
}
