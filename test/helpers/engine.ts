import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { Vivarium, type VivariumOptions } from '../../src/index.js';
import type { Execution, ExecutionEvent } from '../../src/index.js';

/**
 * Test fixture: a real engine (real bubblewrap sandbox, real kernels) on a throwaway data directory
 * under `os.tmpdir()`. Kernels preload nothing unless a test asks (`preload: []` keeps starts at a
 * few milliseconds); `stop()` closes every session and removes the directory.
 */
export interface EngineFixture {
  readonly vv: Vivarium;
  readonly dataDir: string;
  /** Stops the engine and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts an engine on a fresh temp data directory. Pair it with `stop()` in a `finally`/`afterAll`. */
export async function startEngine(options: VivariumOptions = {}): Promise<EngineFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vivarium-test-'));
  let vv: Vivarium;
  try {
    // A config file in the cwd or VIVARIUM_* variables of the developer must not change the tests.
    vv = await Vivarium.start({ preload: [], processEnv: {}, ...options, dataDir });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  let stopping: Promise<void> | null = null;
  return {
    vv,
    dataDir,
    stop: () =>
      (stopping ??= (async () => {
        try {
          await vv.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
        }
      })()),
  };
}

/**
 * Registers `beforeAll`/`afterAll` for one engine shared by the tests of a file (or `describe`).
 * The returned object's fields are usable inside tests and hooks that run after `beforeAll`.
 */
export function useEngine(options: VivariumOptions = {}): {
  readonly vv: Vivarium;
  readonly dataDir: string;
} {
  let fixture: EngineFixture | null = null;
  beforeAll(async () => {
    fixture = await startEngine(options);
  });
  afterAll(async () => {
    await fixture?.stop();
  });
  const get = (): EngineFixture => {
    if (!fixture) throw new Error('useEngine(): the engine is used before beforeAll() started it');
    return fixture;
  };
  return {
    get vv() {
      return get().vv;
    },
    get dataDir() {
      return get().dataDir;
    },
  };
}

/** One live process: pid and command line (arguments joined by spaces). */
export interface ProcessEntry {
  pid: number;
  cmdline: string;
}

/**
 * Kernel processes started under `marker` (a data or workspace directory): every bubblewrap process
 * whose command line names both `marker` and `vivarium_kernel.py`, plus all their descendants
 * (the sandboxed Python's own command line only shows `/opt/vivarium/runtime/...`).
 */
export async function kernelProcesses(marker: string): Promise<ProcessEntry[]> {
  const all = new Map<number, { ppid: number; cmdline: string }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // Fields after the last ')' (the command name may contain spaces and parentheses).
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      all.set(Number(name), { ppid, cmdline });
    } catch {
      // exited meanwhile
    }
  }
  const found = new Set<number>();
  for (const [pid, entry] of all) {
    if (entry.cmdline.includes(marker) && entry.cmdline.includes('vivarium_kernel.py')) found.add(pid);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, entry] of all) {
      if (!found.has(pid) && found.has(entry.ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].sort((a, b) => a - b).map((pid) => ({ pid, cmdline: all.get(pid)!.cmdline }));
}

/** Waits until `predicate()` holds, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An `onEvent` that records every event with the time (performance.now()) it arrived. */
export function recordEvents(): {
  events: Array<{ atMs: number; event: ExecutionEvent }>;
  onEvent: (event: ExecutionEvent) => void;
} {
  const events: Array<{ atMs: number; event: ExecutionEvent }> = [];
  return { events, onEvent: (event) => events.push({ atMs: performance.now(), event }) };
}

/** Decodes a base64 PNG and returns its IHDR size; throws when it is not a PNG. */
export function pngSize(base64: string): { width: number; height: number } {
  const bytes = Buffer.from(base64, 'base64');
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(signature))
    throw new Error('not a PNG: bad signature');
  if (bytes.subarray(12, 16).toString('latin1') !== 'IHDR')
    throw new Error('not a PNG: first chunk is not IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** Asserts an execution ended `ok`, showing the Python error when it did not. */
export function expectOk(execution: Execution): void {
  expect(execution.error, JSON.stringify(execution.error)).toBeNull();
  expect(execution.status).toBe('ok');
}
