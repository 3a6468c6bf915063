import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../config/index.js';
import type { CreateSessionOptions, Vivarium } from '../engine/index.js';
import { describeValue, isVivariumError, validate, VivariumError } from '../errors/index.js';
import type { Execution, ExecutionStatus } from '../kernel/index.js';
import type { Session } from '../session/index.js';

/*
 * Batch runs: a list of snippets or files, sequentially in one session (shared state) or in
 * parallel in separate sandboxes (bounded concurrency), with one result per item and a report.
 */

/** Parallel items running at once unless told otherwise. */
export const DEFAULT_BATCH_CONCURRENCY = 2;
/** Highest `concurrency` accepted. */
export const MAX_BATCH_CONCURRENCY = 64;
/** Most items in one batch. */
export const MAX_BATCH_ITEMS = 10_000;
/** Largest file a `{ file }` item may name (10 MiB). */
export const MAX_BATCH_FILE_BYTES = 10 * 1024 * 1024;

/** One item: code, or a Python file on the host (read before anything runs). */
export type BatchItem = { name?: string; code: string } | { name?: string; file: string };

/** `sequential`: one session, items share its namespace. `parallel`: a fresh sandbox per item. */
export type BatchMode = 'sequential' | 'parallel';

/**
 * How an item ended: an execution status, `skipped` (not run: stop-on-first-failure or abort), or
 * `fault` (the engine could not run it: a kernel that did not start, a quota; see `fault`).
 */
export type BatchItemStatus = ExecutionStatus | 'skipped' | 'fault';

/** The result of one item. */
export interface BatchItemResult {
  /** Position in the items given. */
  index: number;
  /** The item's `name`, else the file's base name, else `item-<n>` (1-based). */
  name: string;
  status: BatchItemStatus;
  /** The execution, or null for `skipped` and `fault`. */
  execution: Execution | null;
  /** Wall time of the item, including its sandbox start in parallel mode; 0 when skipped. */
  durationMs: number;
  /** For `fault`: the engine error. */
  fault: { code: string; message: string } | null;
  /** A fresh kernel ran this item after an earlier one killed the shared one (sequential mode). */
  namespaceReset: boolean;
}

/** A failed item, for the report. */
export interface BatchFailure {
  index: number;
  name: string;
  status: BatchItemStatus;
  ename: string | null;
  evalue: string | null;
  /** Host-side reason (timeout, memory, kill) or the engine fault's message. */
  reason: string | null;
}

/** Items per outcome. */
export type BatchCounts = Record<BatchItemStatus, number> & { total: number };

/** What {@link batch} gives back. */
export interface BatchReport {
  mode: BatchMode;
  results: BatchItemResult[];
  counts: BatchCounts;
  /** True when every item ran and ended `ok`. */
  ok: boolean;
  totalDurationMs: number;
  /** Items that ran and did not end `ok`, and faults, in item order. */
  failures: BatchFailure[];
  /** True when `signal` stopped the batch. */
  aborted: boolean;
}

/** Progress of a batch. */
export type BatchProgressEvent =
  | { type: 'item-start'; index: number; name: string; total: number }
  | {
      type: 'item-end';
      index: number;
      name: string;
      total: number;
      result: BatchItemResult;
      /** Items finished so far (skipped ones are counted when the batch ends). */
      completed: number;
    };

/**
 * Where a batch's items run. The default opens sessions on the engine; the HTTP service passes one
 * that creates sessions for the caller's key and admits, stores and audits each execution.
 */
export interface BatchRunner {
  openSession(signal?: AbortSignal): Promise<Session>;
  execute(
    session: Session,
    code: string,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<Execution>;
  closeSession(session: Session): Promise<void>;
}

/** Options of {@link batch}. */
export interface BatchOptions {
  /** @default 'sequential' */
  mode?: BatchMode;
  /** Parallel mode: items running at once, each in its own sandbox. @default DEFAULT_BATCH_CONCURRENCY */
  concurrency?: number;
  /** Start no item after one fails (parallel: running items finish). @default false */
  stopOnFirstFailure?: boolean;
  /** Wall-clock limit of each item, ms. @default the session's `limits.timeoutMs` */
  timeoutMs?: number;
  /** Called when an item starts and ends. Exceptions thrown here are ignored. */
  onProgress?: (event: BatchProgressEvent) => void;
  /** Aborting interrupts running items; the rest are `skipped`. */
  signal?: AbortSignal;
  /** Options of the sessions the batch opens (limits, env, preload). @default {} */
  session?: Omit<CreateSessionOptions, 'signal'>;
  /** Where items run. @default sessions of `vv` */
  runner?: BatchRunner;
}

const itemSchema = z.union([
  z.object({ name: z.string().min(1).max(256).optional(), code: z.string() }).strict(),
  z.object({ name: z.string().min(1).max(256).optional(), file: z.string().min(1) }).strict(),
]);

const optionsSchema = z
  .object({
    mode: z.enum(['sequential', 'parallel']).optional(),
    concurrency: z.number().int().positive().max(MAX_BATCH_CONCURRENCY).optional(),
    stopOnFirstFailure: z.boolean().optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    onProgress: z.function().optional(),
    signal: z.instanceof(AbortSignal).optional(),
    session: z.record(z.string(), z.unknown()).optional(),
    runner: z
      .object({ openSession: z.function(), execute: z.function(), closeSession: z.function() })
      .loose()
      .optional(),
  })
  .strict();

const STATUSES: readonly BatchItemStatus[] = [
  'ok',
  'error',
  'timeout',
  'interrupted',
  'memory_exceeded',
  'killed',
  'skipped',
  'fault',
];

/** An item's code and name, files read from the host. */
interface PreparedItem {
  index: number;
  name: string;
  code: string;
}

async function readItemFile(path: string, index: number): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => null);
  if (info === null || !info.isFile())
    throw new VivariumError(
      'FILE_NOT_FOUND',
      `Expected \`items.${index}.file\` to be a readable file, got ${describeValue(path)}${info ? ' (not a regular file)' : ' (no such file)'}`,
      { details: { index, path } },
    );
  if (info.size > MAX_BATCH_FILE_BYTES)
    throw new VivariumError(
      'FILE_TOO_LARGE',
      `Expected \`items.${index}.file\` to be at most ${MAX_BATCH_FILE_BYTES} bytes, got ${info.size} bytes (${path})`,
      { details: { index, path, sizeBytes: info.size, maxBytes: MAX_BATCH_FILE_BYTES } },
    );
  return readFile(absolute, 'utf8');
}

async function prepareItems(items: unknown): Promise<PreparedItem[]> {
  const parsed = validate(z.array(itemSchema).max(MAX_BATCH_ITEMS), items, 'items');
  const prepared: PreparedItem[] = [];
  for (const [index, item] of parsed.entries()) {
    if ('file' in item) {
      prepared.push({
        index,
        name: item.name ?? basename(item.file),
        code: await readItemFile(item.file, index),
      });
    } else {
      prepared.push({ index, name: item.name ?? `item-${index + 1}`, code: item.code });
    }
  }
  return prepared;
}

function engineRunner(vv: Vivarium, session: Omit<CreateSessionOptions, 'signal'>): BatchRunner {
  return {
    openSession: (signal) => vv.createSession({ ...session, ...(signal ? { signal } : {}) }),
    execute: (target, code, options) => target.execute(code, options),
    closeSession: (target) => target.close(),
  };
}

function faultOf(error: unknown): { code: string; message: string } {
  if (error instanceof VivariumError) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

function failureOf(result: BatchItemResult): BatchFailure {
  return {
    index: result.index,
    name: result.name,
    status: result.status,
    ename: result.execution?.error?.ename ?? null,
    evalue: result.execution?.error?.evalue ?? null,
    reason: result.fault?.message ?? result.execution?.reason ?? null,
  };
}

function resultOf(
  item: PreparedItem,
  outcome: { execution: Execution } | { fault: { code: string; message: string } } | 'skipped',
  durationMs: number,
  namespaceReset = false,
): BatchItemResult {
  const base = { index: item.index, name: item.name, durationMs: Math.round(durationMs) };
  if (outcome === 'skipped')
    return { ...base, status: 'skipped', execution: null, fault: null, namespaceReset: false };
  if ('fault' in outcome)
    return { ...base, status: 'fault', execution: null, fault: outcome.fault, namespaceReset };
  return {
    ...base,
    status: outcome.execution.status,
    execution: outcome.execution,
    fault: null,
    namespaceReset: namespaceReset || outcome.execution.namespaceReset,
  };
}

/**
 * Runs a list of snippets or host files and reports each with an aggregate. `sequential` (the
 * default) runs them in order in one session, so later items see earlier items' variables; a
 * kernel killed by an item (timeout, memory) is restarted for the next one, which says
 * `namespaceReset`. `parallel` runs each in a fresh sandbox, `concurrency` at a time, isolated
 * from each other. Files are read (and missing ones refused) before anything runs. A Python error
 * is data; an item the engine could not run is a `fault`, the others carry on.
 */
export async function batch(vv: Vivarium, items: unknown, options: BatchOptions = {}): Promise<BatchReport> {
  const parsed = validate(optionsSchema, options, 'options');
  const mode = parsed.mode ?? 'sequential';
  const concurrency = parsed.concurrency ?? DEFAULT_BATCH_CONCURRENCY;
  const stopOnFirstFailure = parsed.stopOnFirstFailure ?? false;
  const { timeoutMs, signal } = parsed;
  const runner = options.runner ?? engineRunner(vv, options.session ?? {});
  const prepared = await prepareItems(items);
  const total = prepared.length;
  const results: Array<BatchItemResult | undefined> = new Array<BatchItemResult | undefined>(total);
  const startedAtMs = performance.now();
  let completed = 0;
  let failureSeen = false;
  let aborted = false;

  const notify = (event: BatchProgressEvent): void => {
    try {
      options.onProgress?.(event);
    } catch {
      // A progress callback never stops the batch.
    }
  };
  const executeOptions = {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(signal ? { signal } : {}),
  };
  const shouldStop = (): boolean => {
    if (signal?.aborted) aborted = true;
    return aborted || (stopOnFirstFailure && failureSeen);
  };
  const finish = (item: PreparedItem, result: BatchItemResult): void => {
    results[item.index] = result;
    completed += 1;
    if (result.status !== 'ok') failureSeen = true;
    notify({ type: 'item-end', index: item.index, name: item.name, total, result, completed });
  };

  if (mode === 'sequential') {
    let session: Session | null = null;
    try {
      for (const item of prepared) {
        if (shouldStop()) break;
        notify({ type: 'item-start', index: item.index, name: item.name, total });
        const itemStartMs = performance.now();
        let namespaceReset = false;
        try {
          if (session === null) session = await runner.openSession(signal);
          else if (session.state === 'dead') {
            await session.restart(signal ? { signal } : {});
            namespaceReset = true;
          }
          const execution = await runner.execute(session, item.code, executeOptions);
          finish(item, resultOf(item, { execution }, performance.now() - itemStartMs, namespaceReset));
        } catch (error) {
          if (isVivariumError(error, 'ABORTED') || signal?.aborted) {
            aborted = true;
            break;
          }
          finish(item, resultOf(item, { fault: faultOf(error) }, performance.now() - itemStartMs));
        }
      }
    } finally {
      if (session !== null) await runner.closeSession(session).catch(() => undefined);
    }
  } else {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < prepared.length && !shouldStop()) {
        const item = prepared[next];
        next += 1;
        if (item === undefined) break;
        notify({ type: 'item-start', index: item.index, name: item.name, total });
        const itemStartMs = performance.now();
        let session: Session | null = null;
        try {
          session = await runner.openSession(signal);
          const execution = await runner.execute(session, item.code, executeOptions);
          finish(item, resultOf(item, { execution }, performance.now() - itemStartMs));
        } catch (error) {
          if (isVivariumError(error, 'ABORTED') || signal?.aborted) {
            aborted = true;
            return;
          }
          finish(item, resultOf(item, { fault: faultOf(error) }, performance.now() - itemStartMs));
        } finally {
          if (session !== null) await runner.closeSession(session).catch(() => undefined);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, () => worker()));
  }

  const finalResults = prepared.map((item) => results[item.index] ?? resultOf(item, 'skipped', 0));
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as BatchCounts;
  counts.total = total;
  for (const result of finalResults) counts[result.status] += 1;
  const failures = finalResults
    .filter((result) => result.status !== 'ok' && result.status !== 'skipped')
    .map(failureOf);
  return {
    mode,
    results: finalResults,
    counts,
    ok: counts.ok === total,
    totalDurationMs: Math.round(performance.now() - startedAtMs),
    failures,
    aborted,
  };
}
