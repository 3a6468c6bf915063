import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EXECUTION_MODE, EXECUTION_MODES, type Config, type ExecutionMode } from '../config/index.js';
import { describeValue, VivariumError } from '../errors/index.js';
import {
  buildBwrapArgs,
  EXECUTION_MODE_GRANTS,
  NETWORK_ETC_BINDS,
  SANDBOX_GROUP,
  SANDBOX_PASSWD,
  SANDBOX_WORKSPACE,
} from './bwrap-profile.js';
import { CgroupManager, type CgroupReport } from './cgroups.js';
import { probeInterpreter, type InterpreterInfo } from './interpreter-probe.js';
import { installRuntime, writeFileAtomic } from './runtime-install.js';
import {
  closeDescriptors,
  DEFAULT_SECCOMP_FILTER_PATH,
  loadSeccompFilter,
  openSeccompFilter,
  REBUILD_SECCOMP_HINT,
  type SeccompFilter,
} from './seccomp.js';
import { UidAllocator } from './uid-allocator.js';

/** The host environment bubblewrap itself is started with: nothing of the host's secrets. */
const BWRAP_HOST_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' } as const;

/** Where the runtime sources live in the package. */
export const RUNTIME_SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'python');

/** The base environment of every kernel; config `env` entries are added on top. */
export function kernelBaseEnv(): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    USER: 'sandbox',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    MPLBACKEND: 'Agg',
    MPLCONFIGDIR: '/tmp/.matplotlib',
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
    NUMEXPR_NUM_THREADS: '1',
  };
}

/** How to start one kernel process. */
export interface LaunchSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Host uid/gid to run as (root engines only). */
  uid?: number;
  gid?: number;
  /**
   * Descriptors opened for this launch (a seccomp filter blob, …), passed to the child right
   * after the cgroup descriptors, i.e. at fd `CGROUP_FD_START + cgroupFdCount + index`. The
   * spawner closes them after spawn. @default []
   */
  extraFds?: number[];
}

/** Options of {@link Sandbox.launchSpec}. */
export interface LaunchOptions {
  workspaceDir: string;
  /** Extra environment (config `env` plus per-session additions). @default {} */
  env?: Readonly<Record<string, string>>;
  /** Host uid the kernel runs as (from {@link Sandbox.acquireUid}). @default undefined: the engine's own */
  uid?: number;
  /** Number of `cgroup.procs` descriptors passed at fd 5, 6, … for the kernel to join. @default 0 */
  cgroupFdCount?: number;
  /**
   * What the kernel may touch, enforced by the profile ({@link EXECUTION_MODE_GRANTS}):
   * `read_only` binds the workspace read-only, `workspace_write` writable, `network` writable and
   * keeps the host network (with {@link NETWORK_ETC_BINDS}). Not enforced under isolation `none`.
   * @default 'workspace_write' (today's profile; sessions always pass their own mode)
   */
  mode?: ExecutionMode;
  /**
   * Keep the host network whatever `mode` says (no network namespace of its own, plus
   * {@link NETWORK_ETC_BINDS}). Only the package installer's pip process asks for it, and only when
   * a remote `packages.indexUrl` is configured (src/tools/install.ts). @default false
   */
  network?: boolean;
  /**
   * Host paths bound read-only at `target` (the installer's wheelhouse). `optional` ones are
   * skipped when missing. Not used under isolation `none`. @default []
   */
  readOnlyBinds?: ReadonlyArray<{ source: string; target: string; optional?: boolean }>;
}

/** First descriptor number of the cgroup.procs files handed to a kernel. */
export const CGROUP_FD_START = 5;

/** Options of the {@link Sandbox} constructor (what config does not say). */
export interface SandboxOptions {
  /** The seccomp filter blob, used when config `sandbox.seccomp` is on. @default {@link DEFAULT_SECCOMP_FILTER_PATH} */
  seccompFilterPath?: string;
}

/**
 * Python run by prepare()'s check when the filter is on: fails unless a filter is in force and
 * refuses `unshare(0)` (a no-op without it) with EPERM, so that a blob that loads but denies
 * nothing (a lone "allow") does not pass for the filter.
 */
const SECCOMP_IN_FORCE_CHECK = [
  'import ctypes, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  "in_force = ['Seccomp:', '2'] in [line.split() for line in open('/proc/self/status')]",
  'refused = libc.unshare(0) == -1 and ctypes.get_errno() == 1',
  "sys.exit(None if in_force and refused else 'the seccomp filter is not in force: unshare(0) was not refused with EPERM')",
].join('\n');

/** Facts about the sandbox, as `doctor` shows them. */
export interface SandboxReport {
  isolation: Config['isolation'];
  bwrapPath: string | null;
  working: boolean;
  problem: string | null;
  runningAsRoot: boolean;
  distinctUids: boolean;
  interpreter: InterpreterInfo | null;
  /** Which mechanism enforces memory/process/CPU limits: cgroups, or rlimits alone. */
  cgroups: CgroupReport;
  /** The seccomp filter kernels run under; null when `sandbox.seccomp` is off, isolation is `none`, or the sandbox did not come up. */
  seccomp: SeccompFilter | null;
}

function findOnPath(name: string): string | null {
  for (const directory of ['/usr/bin', '/usr/local/bin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (!directory) continue;
    const candidate = join(directory, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

export const INSTALL_BWRAP_HINT = 'apt-get install -y bubblewrap';

/**
 * The local sandbox: bubblewrap with the hardened profile, or nothing at all under isolation `none`.
 * `prepare()` checks it works (strict refuses to go on otherwise) and lays out the data directory.
 */
export class Sandbox {
  readonly config: Config;
  readonly runningAsRoot = process.getuid?.() === 0;
  private readonly uids: UidAllocator;
  private bwrapPath: string | null = null;
  private interpreter: InterpreterInfo | null = null;
  private runtimeDir = '';
  private passwdFile = '';
  private groupFile = '';
  private cgroupManager: CgroupManager | null = null;
  private readonly seccompFilterPath: string;
  private seccompFilter: SeccompFilter | null = null;

  constructor(config: Config, options: SandboxOptions = {}) {
    this.config = config;
    this.seccompFilterPath = options.seccompFilterPath ?? DEFAULT_SECCOMP_FILTER_PATH;
    this.uids = new UidAllocator({ start: config.sandbox.uidRangeStart, size: config.sandbox.uidRangeSize });
  }

  get isolated(): boolean {
    return this.config.isolation === 'strict';
  }

  get interpreterInfo(): InterpreterInfo | null {
    return this.interpreter;
  }

  /** The seccomp filter every kernel gets; null when off (config `sandbox.seccomp`, isolation `none`). */
  get seccomp(): SeccompFilter | null {
    return this.seccompFilter;
  }

  /** The cgroup tree kernels are placed in; `mode: 'none'` means rlimits alone. */
  get cgroups(): CgroupManager {
    if (this.cgroupManager === null)
      throw new VivariumError('SANDBOX_UNAVAILABLE', 'The sandbox was not prepared: call prepare() first');
    return this.cgroupManager;
  }

  /** Probes the interpreter and bubblewrap and writes the runtime into the data directory. */
  async prepare(signal?: AbortSignal): Promise<void> {
    const { dataDir } = this.config;
    await mkdir(dataDir, { recursive: true, mode: 0o711 });
    await chmod(dataDir, 0o711);
    this.interpreter = await probeInterpreter(this.config.pythonPath, signal);
    const sandboxDir = join(dataDir, 'sandbox');
    await mkdir(sandboxDir, { recursive: true, mode: 0o755 });
    await chmod(sandboxDir, 0o755);
    this.runtimeDir = await installRuntime(RUNTIME_SOURCE_DIR, sandboxDir);
    this.passwdFile = join(sandboxDir, 'passwd');
    this.groupFile = join(sandboxDir, 'group');
    await writeFileAtomic(this.passwdFile, SANDBOX_PASSWD);
    await writeFileAtomic(this.groupFile, SANDBOX_GROUP);
    this.cgroupManager = await CgroupManager.detect();
    await this.cgroupManager.sweepStale();
    this.seccompFilter = null;
    if (!this.isolated) {
      process.emitWarning(
        "Vivarium isolation is `none`: Python code runs UNSANDBOXED with the engine's own rights. Use only for trusted code.",
        { code: 'VIVARIUM_UNSANDBOXED' },
      );
      return;
    }
    this.bwrapPath = this.config.sandbox.bwrapPath ?? findOnPath('bwrap');
    if (this.bwrapPath === null) {
      throw new VivariumError(
        'SANDBOX_UNAVAILABLE',
        `Strict isolation needs bubblewrap, which is not installed. Install it with: ${INSTALL_BWRAP_HINT} (or run \`vivarium doctor\`)`,
        { details: { missing: 'bwrap', fix: INSTALL_BWRAP_HINT } },
      );
    }
    // Fail closed: with the layer on, a missing or corrupt blob stops the engine here.
    if (this.config.sandbox.seccomp) this.seccompFilter = await loadSeccompFilter(this.seccompFilterPath);
    await this.checkBwrapWorks(signal);
  }

  private async checkBwrapWorks(signal?: AbortSignal): Promise<void> {
    const uid = this.runningAsRoot ? this.uids.acquire() : undefined;
    try {
      const spec = this.launchSpec({ workspaceDir: this.runtimeDir, ...(uid === undefined ? {} : { uid }) });
      // The last `--`: a `--setenv` value may be `--` too; what follows the separator is fixed.
      const args = spec.args
        .slice(0, spec.args.lastIndexOf('--') + 1)
        .concat([this.config.pythonPath, '-I', '-c', this.seccompFilter ? SECCOMP_IN_FORCE_CHECK : 'pass']);
      await runChecked(spec, args, 20_000, signal);
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
      const hint = /PR_SET_SECCOMP|system call filtering|seccomp filter is not in force/i.test(stderr)
        ? `the seccomp filter ${this.seccompFilter?.path ?? ''} did not load or does not work: ${REBUILD_SECCOMP_HINT}`
        : /user namespace|uid map|setting up uid|Operation not permitted/i.test(stderr)
          ? 'unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1 (and user.max_user_namespaces > 0), or run the engine as root'
          : /No such file|not found/i.test(stderr)
            ? `${INSTALL_BWRAP_HINT}; the data directory and runtime must be readable by the kernel uid`
            : 'run `vivarium doctor` for details';
      throw new VivariumError(
        'SANDBOX_UNAVAILABLE',
        `The bubblewrap sandbox does not work here: ${stderr}. Fix: ${hint}`,
        {
          details: { stderr, fix: hint },
          cause: error,
        },
      );
    } finally {
      if (uid !== undefined) this.uids.release(uid);
    }
  }

  /** A distinct host uid for one kernel when the engine runs as root; `undefined` otherwise. */
  acquireUid(): number | undefined {
    return this.isolated && this.runningAsRoot ? this.uids.acquire() : undefined;
  }

  /** Keeps a restored workspace's uid from being handed to another kernel. */
  reserveUid(uid: number | undefined): void {
    if (uid !== undefined) this.uids.reserve(uid);
  }

  releaseUid(uid: number | undefined): void {
    if (uid !== undefined) this.uids.release(uid);
  }

  /** The command that starts one kernel on the given workspace. */
  launchSpec(options: LaunchOptions): LaunchSpec {
    const env: Record<string, string> = { ...kernelBaseEnv(), ...this.config.env, ...(options.env ?? {}) };
    const cgroupFdCount = options.cgroupFdCount ?? 0;
    if (cgroupFdCount > 0) {
      env.VIVARIUM_CGROUP_FDS = Array.from(
        { length: cgroupFdCount },
        (_, index) => CGROUP_FD_START + index,
      ).join(',');
    }
    if (!this.isolated) {
      return {
        command: this.config.pythonPath,
        args: ['-I', '-B', join(this.runtimeDir, 'vivarium_kernel.py')],
        env: { ...env, HOME: options.workspaceDir, VIVARIUM_WORKSPACE: options.workspaceDir },
        cwd: options.workspaceDir,
      };
    }
    if (this.bwrapPath === null || this.interpreter === null) {
      throw new VivariumError('SANDBOX_UNAVAILABLE', 'The sandbox was not prepared: call prepare() first');
    }
    const mode = options.mode ?? DEFAULT_EXECUTION_MODE;
    // Fail closed: a mode this profile does not know never falls back to some default.
    const grants = Object.hasOwn(EXECUTION_MODE_GRANTS, mode) ? EXECUTION_MODE_GRANTS[mode] : undefined;
    if (grants === undefined) {
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`mode\` to be one of ${EXECUTION_MODES.map((item) => `"${item}"`).join(', ')}, got ${describeValue(mode)}`,
        { details: { field: 'mode', allowed: [...EXECUTION_MODES] } },
      );
    }
    const network = grants.network || options.network === true;
    const readOnlyBinds = [
      ...(network ? NETWORK_ETC_BINDS.map((path) => ({ source: path, target: path, optional: true })) : []),
      ...(options.readOnlyBinds ?? []),
    ];
    const args = buildBwrapArgs({
      workspaceDir: options.workspaceDir,
      workspaceReadOnly: !grants.workspaceWritable,
      runtimeDir: this.runtimeDir,
      pythonPath: this.config.pythonPath,
      interpreterDirectories: this.interpreter.directories,
      passwdFile: this.passwdFile,
      groupFile: this.groupFile,
      tmpSizeMb: this.config.sandbox.tmpSizeMb,
      env: { ...env, VIVARIUM_WORKSPACE: SANDBOX_WORKSPACE },
      network,
    });
    if (readOnlyBinds.length > 0) {
      // Mounted before the profile remounts `/` read-only (a mount point cannot be made after).
      args.splice(
        args.indexOf('--remount-ro'),
        0,
        ...readOnlyBinds.flatMap((bind) => [
          bind.optional ? '--ro-bind-try' : '--ro-bind',
          bind.source,
          bind.target,
        ]),
      );
    }
    const extraFds: number[] = [];
    if (this.seccompFilter !== null) {
      extraFds.push(openSeccompFilter(this.seccompFilter));
      // Before the last `--` (a `--setenv` value may be `--`; the command after it is fixed).
      args.splice(args.lastIndexOf('--'), 0, '--seccomp', String(CGROUP_FD_START + cgroupFdCount));
    }
    return {
      command: this.bwrapPath,
      args,
      env: { ...BWRAP_HOST_ENV },
      cwd: '/',
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
      ...(extraFds.length > 0 ? { extraFds } : {}),
    };
  }

  /** Releases what `prepare()` set up for this engine (its cgroup group). Idempotent. */
  async dispose(): Promise<void> {
    await this.cgroupManager?.dispose();
  }

  /** What works and what does not, without throwing. */
  async report(): Promise<SandboxReport> {
    let problem: string | null = null;
    let working = false;
    try {
      await this.prepare();
      working = true;
    } catch (error) {
      problem = (error as Error).message;
    } finally {
      await this.dispose();
    }
    return {
      isolation: this.config.isolation,
      bwrapPath: this.bwrapPath ?? findOnPath('bwrap'),
      working,
      problem,
      runningAsRoot: this.runningAsRoot,
      distinctUids: this.isolated && this.runningAsRoot,
      interpreter: this.interpreter,
      cgroups: this.cgroupManager?.report() ?? {
        mode: 'none',
        controllers: [],
        problem: problem ?? 'not checked',
      },
      seccomp: working ? this.seccompFilter : null,
    };
  }
}

/**
 * Runs a check command of {@link Sandbox.prepare} to its end, with the launch's extra descriptors
 * at their fds (the check has no cgroup fds: `CGROUP_FD_START` onwards) and closed after spawn.
 * Rejects with the command's stderr unless it exits 0.
 */
async function runChecked(
  spec: LaunchSpec,
  args: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const extraFds = spec.extraFds ?? [];
  let child: ChildProcess;
  try {
    child = spawn(spec.command, args, {
      env: spec.env,
      cwd: spec.cwd,
      stdio: [
        'ignore',
        'ignore',
        'pipe',
        ...Array.from({ length: CGROUP_FD_START - 3 }, () => 'ignore' as const),
        ...extraFds,
      ],
      timeout: timeoutMs,
      ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid ?? spec.uid }),
      ...(signal ? { signal } : {}),
    });
  } finally {
    // Once, right after spawn: a number closed twice could by then be someone else's descriptor.
    closeDescriptors(extraFds);
  }
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 16_384) stderr += chunk.toString('utf8');
  });
  const [code, exitSignal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signalName) => resolve([exitCode, signalName]));
  });
  if (code !== 0) {
    const how = exitSignal ? `signal ${exitSignal}` : `code ${code}`;
    throw Object.assign(new Error(`${spec.command} exited with ${how}`), {
      stderr: stderr.trim() || `${spec.command} exited with ${how}`,
    });
  }
}
