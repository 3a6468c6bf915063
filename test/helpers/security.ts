import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  Vivarium,
  type CreateSessionOptions,
  type Execution,
  type ExecuteOptions,
  type Session,
  type VivariumOptions,
} from '../../src/index.js';

/**
 * Shared fixture of the containment suite (`test/security`): a real engine (real bubblewrap, real
 * kernels, running as root so every kernel gets its own host uid) on a throwaway data directory,
 * the attack programs of `test/fixtures/attacks/`, and host-side checks that read `/proc` directly
 * instead of trusting anything the sandbox reports.
 */

/**
 * One run of the suite: the vitest process whose workers run the files (the same parent for every
 * file of a run). Several runs may share a host at once (several developers, CI): everything the
 * host-wide checks look at is scoped to this run.
 */
export const SECURITY_RUN_ID = process.ppid;

/**
 * Host uids this run's engines hand to kernels: a block of 1000 chosen by the run, above the
 * default range (200000-249999), so other engines on this host (integration tests, a developer's
 * server, a concurrent run of this suite with another block) are never mistaken for this run's
 * kernels: every process found in the block is this run's.
 */
export const SECURITY_UID_RANGE_SIZE = 1_000;
export const SECURITY_UID_RANGE_START = 300_000 + (SECURITY_RUN_ID % 100) * SECURITY_UID_RANGE_SIZE;

/** Prefix of every data directory of the suite under `os.tmpdir()`. */
export const SECURITY_DATA_DIR_PREFIX = 'vivarium-security-';
/** Prefix of this run's data directories (the name follows: `…-<file>-XXXXXX`). */
export const SECURITY_RUN_DATA_DIR_PREFIX = `${SECURITY_DATA_DIR_PREFIX}${SECURITY_RUN_ID}-`;

/** Where each file's fixture records what it used, for the final check (`zz-cleanup.test.ts`). */
export const SECURITY_MANIFEST_DIR = join(tmpdir(), 'vivarium-security-manifests');

/** Folder of the attack programs. */
export const ATTACKS_DIR = fileURLToPath(new URL('../fixtures/attacks/', import.meta.url));

/**
 * What a data directory may hold once the engine has stopped: its own layout, nothing a kernel made.
 * `workspaces/` and `volumes/` (workspace images) must be empty; everything else must be owned by
 * the engine's uid; nothing may stay mounted below it.
 */
export const ENGINE_LAYOUT_ENTRIES: readonly string[] = ['sandbox', 'workspaces', 'volumes'];
const EMPTY_AFTER_STOP: readonly string[] = ['workspaces', 'volumes'];

/** One host process, read from `/proc/<pid>/status`. */
export interface HostProcess {
  pid: number;
  name: string;
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  cmdline: string;
}

/** Every live host process (zombies included: they still hold a pid). */
export async function hostProcesses(): Promise<HostProcess[]> {
  const out: HostProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      const uidLine = /^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '';
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '';
      let cmdline = '';
      try {
        cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      } catch {
        // exited meanwhile
      }
      out.push({ pid: Number(entry), name, uids: uidLine.trim().split(/\s+/).map(Number), cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Host processes with `uid` as any of their real/effective/saved/fs uids. */
export async function processesOfUid(uid: number): Promise<HostProcess[]> {
  return (await hostProcesses()).filter((process) => process.uids.includes(uid));
}

/** Host processes whose uid lies in this run's block. */
export async function processesInSecurityRange(): Promise<HostProcess[]> {
  return (await hostProcesses()).filter((process) =>
    process.uids.some(
      (uid) => uid >= SECURITY_UID_RANGE_START && uid < SECURITY_UID_RANGE_START + SECURITY_UID_RANGE_SIZE,
    ),
  );
}

/** Polls until no process of `uid` is left; returns what is left after `timeoutMs` (empty: all gone). */
export async function waitForNoProcesses(uid: number, timeoutMs = 10_000): Promise<HostProcess[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesOfUid(uid);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The runtime directory the engine bound at `/opt/vivarium/runtime` (`<dataDir>/sandbox/runtime*`). */
export async function runtimeDirOf(dataDir: string): Promise<string> {
  const sandboxDir = join(dataDir, 'sandbox');
  const candidates = (await readdir(sandboxDir)).filter((entry) => entry.startsWith('runtime')).sort();
  const found = candidates.at(-1);
  if (found === undefined) throw new Error(`no runtime directory in ${sandboxDir}`);
  return join(sandboxDir, found);
}

/** Owner uid of the session's workspace on the host: the host uid its kernel runs as. */
export async function workspaceUid(session: Session): Promise<number> {
  return (await stat(session.workspaceDir)).uid;
}

/**
 * The source of an attack program, with its arguments bound to `ARGS` (a dict) in a first line.
 * Arguments go into the code, never into the environment or argv of the sandbox.
 */
export function attackSource(name: string, args?: Record<string, unknown>): string {
  const program = readFileSync(join(ATTACKS_DIR, `${name}.py`), 'utf8');
  if (args === undefined) return program;
  // A JSON string literal is a valid Python string literal (same escapes).
  return `ARGS = __import__('json').loads(${JSON.stringify(JSON.stringify(args))})\n${program}`;
}

/** A verdict: the JSON object an attack program prints on its last stdout line. */
export type Verdict = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Describes an execution for assertion messages. */
export function describeExecution(execution: Execution): string {
  return JSON.stringify({
    status: execution.status,
    reason: execution.reason,
    error: execution.error
      ? {
          ename: execution.error.ename,
          evalue: execution.error.evalue,
          traceback: execution.error.traceback.slice(-3),
        }
      : null,
    stdoutTail: execution.stdout.slice(-2_000),
    stderrTail: execution.stderr.slice(-2_000),
  });
}

/** Parses the verdict on the last non-empty line of stdout; fails the test with the execution's facts otherwise. */
export function verdictOf(execution: Execution): Verdict {
  const lines = execution.stdout.split('\n').filter((line) => line.trim() !== '');
  const last = lines.at(-1);
  if (last === undefined)
    throw new Error(`The attack program printed no verdict: ${describeExecution(execution)}`);
  try {
    const parsed: unknown = JSON.parse(last);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed;
  } catch (error) {
    throw new Error(
      `The attack program's last line is not a JSON object (${(error as Error).message}): ${describeExecution(execution)}`,
    );
  }
}

/** Options of {@link runAttack}: the program's arguments plus execute options. */
export interface AttackOptions extends ExecuteOptions {
  args?: Record<string, unknown>;
}

/** Runs one attack program as a cell and returns the execution and, when it printed one, its verdict. */
export async function runAttack(
  session: Session,
  name: string,
  options: AttackOptions = {},
): Promise<{ execution: Execution; verdict: Verdict | null }> {
  const { args, ...executeOptions } = options;
  const execution = await session.execute(attackSource(name, args), executeOptions);
  let verdict: Verdict | null = null;
  try {
    verdict = verdictOf(execution);
  } catch {
    verdict = null;
  }
  return { execution, verdict };
}

/** Like {@link runAttack}, but the cell must end `ok` with a verdict. */
export async function runAttackExpectingVerdict(
  session: Session,
  name: string,
  options: AttackOptions = {},
): Promise<Verdict> {
  const { args, ...executeOptions } = options;
  const execution = await session.execute(attackSource(name, args), executeOptions);
  expect(execution.status, describeExecution(execution)).toBe('ok');
  return verdictOf(execution);
}

/** The engine of one test file, with bookkeeping of every kernel uid it handed out. */
export interface SecurityEngine {
  readonly vv: Vivarium;
  readonly dataDir: string;
  /** Kernel uids seen so far (from workspace owners). */
  readonly uids: ReadonlySet<number>;
  /** Creates a session and records its kernel uid. */
  session(options?: CreateSessionOptions): Promise<Session>;
  /** Records a session created another way (for instance through `vv.run`). */
  track(session: Session): Promise<number>;
  /**
   * Stops the engine, then asserts the suite's cleanup contract: no process of any kernel uid
   * is left, and the data directory holds only the engine's own layout (no workspace, nothing
   * owned by a kernel uid). Removes the data directory. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Starts an engine on `os.tmpdir()/vivarium-security-<run>-<name>-XXXXXX` with `preload: []`, no
 * config file or `VIVARIUM_*` variable of the developer, and this run's uid block. The pool stays
 * on (the default), so attacks also run in pooled kernels, as in production.
 */
export async function startSecurityEngine(
  name: string,
  options: VivariumOptions = {},
): Promise<SecurityEngine> {
  const dataDir = await mkdtemp(join(tmpdir(), `${SECURITY_RUN_DATA_DIR_PREFIX}${name}-`));
  let vv: Vivarium;
  try {
    vv = await Vivarium.start({
      preload: [],
      processEnv: {},
      ...options,
      sandbox: {
        uidRangeStart: SECURITY_UID_RANGE_START,
        uidRangeSize: SECURITY_UID_RANGE_SIZE,
        ...(options.sandbox ?? {}),
      },
      dataDir,
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const uids = new Set<number>();
  await writeManifest(dataDir, uids);
  const track = async (session: Session): Promise<number> => {
    const uid = await workspaceUid(session);
    uids.add(uid);
    await writeManifest(dataDir, uids);
    return uid;
  };
  let stopping: Promise<void> | null = null;
  return {
    vv,
    dataDir,
    uids,
    track,
    async session(sessionOptions: CreateSessionOptions = {}) {
      const session = await vv.createSession(sessionOptions);
      await track(session);
      return session;
    },
    stop: () =>
      (stopping ??= (async () => {
        try {
          // Kernels of the pool that never became a session have workspaces (and uids) too.
          for (const entry of await readdir(join(dataDir, 'workspaces')).catch(() => [] as string[])) {
            const owner = await stat(join(dataDir, 'workspaces', entry)).then(
              (info) => info.uid,
              () => null,
            );
            if (owner !== null && owner !== process.getuid?.()) uids.add(owner);
          }
          await vv.stop();
          for (const uid of uids) {
            const left = await waitForNoProcesses(uid);
            expect(left, `processes of kernel uid ${uid} left after vv.stop()`).toEqual([]);
          }
          await expectOnlyEngineLayout(dataDir, [...uids]);
        } finally {
          await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
          await writeManifest(dataDir, uids, true);
        }
        // Whichever file of the suite runs last leaves the host checked as a whole.
        await expectNoSuiteLeftovers();
      })()),
  };
}

/**
 * Asserts the data directory holds the engine's own layout and nothing else: known top-level
 * entries, an empty `workspaces/`, and no file anywhere owned by a kernel uid.
 */
export async function expectOnlyEngineLayout(dataDir: string, kernelUids: readonly number[]): Promise<void> {
  const top = await readdir(dataDir);
  expect(
    top.filter((entry) => !ENGINE_LAYOUT_ENTRIES.includes(entry)),
    `unexpected entries in ${dataDir}`,
  ).toEqual([]);
  for (const entry of EMPTY_AFTER_STOP) {
    if (top.includes(entry))
      expect(await readdir(join(dataDir, entry)), `${entry} left after vv.stop()`).toEqual([]);
  }
  expect(await mountsUnder(dataDir), 'mounts left under the data directory').toEqual([]);
  const ownedByKernels: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (kernelUids.includes(info.uid) || info.uid !== process.getuid?.())
      ownedByKernels.push(`${path} (uid ${info.uid})`);
    if (info.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dataDir);
  expect(ownedByKernels, 'files in the data directory not owned by the engine').toEqual([]);
}

/** Host mount points at or below `dir` (workspace volumes left mounted). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

/** Backing files of the host's loop devices. */
export async function loopBackingFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const device of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!device.startsWith('loop')) continue;
    const backing = await readFile(`/sys/block/${device}/loop/backing_file`, 'utf8').catch(() => '');
    if (backing.trim() !== '') out.push(backing.trim());
  }
  return out;
}

/** This run's leftovers on the host, as lists (all empty when clean). */
export interface SuiteLeftovers {
  processesInUidBlock: HostProcess[];
  processesNamingDataDirs: HostProcess[];
  mounts: string[];
  loopDevices: string[];
}

/**
 * Host-wide leftovers of this run: processes in its uid block or naming one of its data
 * directories (bwrap's command line does), mounts and loop devices of its data directories.
 */
export async function suiteLeftovers(): Promise<SuiteLeftovers> {
  const prefix = join(tmpdir(), SECURITY_RUN_DATA_DIR_PREFIX);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return {
    processesInUidBlock: await processesInSecurityRange(),
    processesNamingDataDirs: (await hostProcesses()).filter((entry) => entry.cmdline.includes(prefix)),
    mounts: mountinfo.split('\n').filter((line) => line.includes(prefix)),
    loopDevices: (await loopBackingFiles()).filter((file) => file.startsWith(prefix)),
  };
}

/**
 * Asserts this run left nothing on the host, polling up to `timeoutMs` (a killed sandbox's
 * processes take a moment to be reaped). Only meaningful while none of this run's engines is
 * running: the security project runs its files one at a time.
 */
export async function expectNoSuiteLeftovers(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = await suiteLeftovers();
  const clean = (found: SuiteLeftovers): boolean =>
    Object.values(found).every((list: unknown[]) => list.length === 0);
  while (!clean(left) && Date.now() < deadline) {
    await sleep(100);
    left = await suiteLeftovers();
  }
  expect(left, 'leftovers of this run of the suite on the host').toEqual({
    processesInUidBlock: [],
    processesNamingDataDirs: [],
    mounts: [],
    loopDevices: [],
  });
}

/** What one file's fixture used, read by `zz-cleanup.test.ts`. */
export interface SecurityManifest {
  dataDir: string;
  uids: number[];
  /** {@link SECURITY_RUN_ID}: identifies one run of the suite. */
  runnerPid: number;
  stopped: boolean;
}

async function writeManifest(dataDir: string, uids: ReadonlySet<number>, stopped = false): Promise<void> {
  await mkdir(SECURITY_MANIFEST_DIR, { recursive: true, mode: 0o700 });
  const manifest: SecurityManifest = { dataDir, uids: [...uids], runnerPid: SECURITY_RUN_ID, stopped };
  await writeFile(join(SECURITY_MANIFEST_DIR, `${dataDir.split('/').at(-1)}.json`), JSON.stringify(manifest));
}

/** Every manifest written so far (any run). */
export async function readManifests(): Promise<Array<{ file: string; manifest: SecurityManifest }>> {
  if (!existsSync(SECURITY_MANIFEST_DIR)) return [];
  const out: Array<{ file: string; manifest: SecurityManifest }> = [];
  for (const entry of await readdir(SECURITY_MANIFEST_DIR)) {
    if (!entry.endsWith('.json')) continue;
    const file = join(SECURITY_MANIFEST_DIR, entry);
    try {
      out.push({ file, manifest: JSON.parse(await readFile(file, 'utf8')) as SecurityManifest });
    } catch {
      // half-written by a file still running: ignored
    }
  }
  return out;
}

/** Errno names that mean "the host path does not exist in here or may not be touched". */
export const DENIED_ERRNOS: readonly string[] = ['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR'];
