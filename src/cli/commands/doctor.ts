import { EXECUTION_MODES, loadConfig, type ExecutionMode } from '../../config/index.js';
import { Vivarium } from '../../engine/index.js';
import type { SandboxReport } from '../../sandbox/index.js';
import { detectLoopVolumes } from '../../session/index.js';
import type { CliIo } from '../cli-io.js';
import { engineOptionsFromFlags, type EngineFlags } from '../engine-flags.js';
import { EXIT_CHECK_FAILED, EXIT_OK } from '../exit-codes.js';
import { neutralizeControls } from '../render.js';
import {
  checkBubblewrap,
  checkCgroups,
  checkDataDirectory,
  checkPackages,
  checkPrivileges,
  checkUserNamespaces,
  INSTALL_BUBBLEWRAP,
  type DoctorCheck,
} from '../system-checks.js';
import { packageVersion } from '../version.js';

/** Flags of `vivarium doctor` (raw commander values). */
export interface DoctorFlags extends Omit<EngineFlags, 'preload'> {
  json?: boolean;
}

/** What `doctor --json` prints. */
export interface DoctorReport {
  version: string;
  /** True when strict isolation works here (the exit code is 0 exactly then). */
  strictIsolationWorks: boolean;
  checks: DoctorCheck[];
  /** One `apt-get install -y …` line for every missing Debian package, or null. */
  installMissing: string | null;
  /** The engine's own view: `Vivarium.inspect()` under strict isolation. */
  sandbox: SandboxReport;
}

function sandboxCheck(report: SandboxReport): DoctorCheck {
  const base = { id: 'sandbox', title: 'strict sandbox' };
  if (report.working)
    return {
      ...base,
      status: 'ok',
      detail: 'works: a Python process started inside the bubblewrap profile',
      fix: null,
    };
  const problem = report.problem ?? '';
  const fix =
    report.bwrapPath === null
      ? INSTALL_BUBBLEWRAP
      : /Permission denied|EACCES/.test(problem)
        ? 'kernel uids must reach the data directory and the interpreter (o+x on every parent): a data directory such as /var/lib/vivarium (--data, VIVARIUM_DATA_DIR) and a system interpreter (/usr/bin/python3)'
        : 'see the lines above: the first missing one is the cause';
  return { ...base, status: 'missing', detail: `does not work: ${report.problem ?? 'unknown problem'}`, fix };
}

function limitsCheck(report: SandboxReport): DoctorCheck {
  const base = { id: 'limits', title: 'limits mechanism' };
  const cgroups = report.cgroups;
  if (cgroups.mode !== 'none') {
    return {
      ...base,
      status: 'ok',
      detail: `cgroups ${cgroups.mode} (${cgroups.controllers.join(', ')}) with rlimits as a second line; wall clock enforced by the host`,
      fix: null,
    };
  }
  return {
    ...base,
    status: 'warn',
    detail: `rlimits only (cgroups not used: ${cgroups.problem ?? 'unavailable'}): memory is bounded as address space, processes per uid`,
    fix: 'run the engine as root on a host with a writable cgroup tree (v2 with memory, pids, cpu delegated, or v1 memory/pids/cpu)',
  };
}

function seccompCheck(report: SandboxReport, enabled: boolean): DoctorCheck {
  const base = { id: 'seccomp', title: 'seccomp filter' };
  const filter = report.seccomp;
  if (filter !== null) {
    return {
      ...base,
      status: 'ok',
      detail: `${filter.path} (${filter.instructionCount} instructions, sha256 ${filter.sha256.slice(0, 12)})`,
      fix: null,
    };
  }
  if (!enabled)
    return {
      ...base,
      status: 'warn',
      detail: 'off (`sandbox.seccomp: false`): kernels run without the syscall denylist',
      fix: 'set `sandbox.seccomp: true` (the default)',
    };
  return {
    ...base,
    status: 'missing',
    detail: 'not loaded: the sandbox did not come up (see strict sandbox)',
    fix: 'npm run build (writes dist/seccomp/filter.bpf; needs python3-seccomp)',
  };
}

function isolationCheck(isolation: string): DoctorCheck {
  const base = { id: 'isolation', title: 'isolation' };
  if (isolation === 'strict') return { ...base, status: 'ok', detail: 'strict (configured)', fix: null };
  return {
    ...base,
    status: 'warn',
    detail: `${isolation} (configured): Python runs UNSANDBOXED with the engine's rights`,
    fix: 'set `isolation: strict` (or unset VIVARIUM_ISOLATION)',
  };
}

/** What each execution mode grants, as `doctor` lists it. */
const MODE_SUMMARIES: Readonly<Record<ExecutionMode, string>> = {
  read_only: 'workspace read-only, no network',
  workspace_write: 'workspace writable, no network',
  network: 'workspace writable, host network',
};

function modesCheck(defaultMode: ExecutionMode, isolation: string): DoctorCheck {
  const base = { id: 'execution-modes', title: 'execution modes' };
  const listed = EXECUTION_MODES.map((mode) => `${mode} (${MODE_SUMMARIES[mode]})`).join(', ');
  if (isolation !== 'strict')
    return {
      ...base,
      status: 'warn',
      detail: `not enforced under isolation ${isolation}: every mode runs with the engine's rights`,
      fix: 'set `isolation: strict`',
    };
  return {
    ...base,
    status: 'ok',
    detail: `default ${defaultMode} (\`policy.mode\`); enforced by the sandbox: ${listed}`,
    fix: null,
  };
}

function pythonCheck(report: SandboxReport, pythonPath: string): DoctorCheck {
  const base = { id: 'python', title: 'python' };
  const info = report.interpreter;
  if (info === null)
    return {
      ...base,
      status: 'missing',
      detail: `${pythonPath} was not probed or did not start`,
      fix: 'apt-get install -y python3 (or set `pythonPath`)',
    };
  const resolved = info.executable === info.path ? '' : ` → ${info.executable}`;
  return { ...base, status: 'ok', detail: `${info.path}${resolved}, Python ${info.version}`, fix: null };
}

async function quotaCheck(quota: string): Promise<DoctorCheck> {
  const base = { id: 'workspace-quota', title: 'workspace quota' };
  if (quota === 'none')
    return { ...base, status: 'ok', detail: 'not bounded (configured `workspace.quota: none`)', fix: null };
  const loop = await detectLoopVolumes();
  if (loop.available)
    return {
      ...base,
      status: 'ok',
      detail: 'an ext4 volume per workspace (loop devices): bytes and files bounded',
      fix: null,
    };
  return {
    ...base,
    status: 'warn',
    detail: `workspaces are not bounded: ${loop.problem ?? 'loop volumes unavailable'}`,
    fix: 'run the engine as root with /dev/loop-control and e2fsprogs (apt-get install -y e2fsprogs)',
  };
}

const STATUS_WIDTH = 8;
const TITLE_WIDTH = 17;

function renderCheck(check: DoctorCheck): string {
  const line = `${check.status.padEnd(STATUS_WIDTH)} ${check.title.padEnd(TITLE_WIDTH)} ${check.detail}`;
  const fix =
    check.fix === null || check.status === 'ok'
      ? ''
      : `\n${' '.repeat(STATUS_WIDTH + TITLE_WIDTH + 2)}fix: ${check.fix}`;
  return neutralizeControls(line + fix);
}

/** `vivarium doctor`: what works here and what to install. Exit 1 when strict isolation cannot work. */
export async function doctorCommand(flags: DoctorFlags, io: CliIo): Promise<number> {
  const { configFile, ...overrides } = engineOptionsFromFlags(flags);
  const config = loadConfig({ overrides, ...(configFile === undefined ? {} : { configFile }) });
  // Whatever isolation is configured, doctor answers whether strict would work.
  const sandbox = await Vivarium.inspect({
    ...overrides,
    ...(configFile === undefined ? {} : { configFile }),
    isolation: 'strict',
  });
  const [bubblewrap, namespaces, cgroups, dataDirectory, quota, packages] = await Promise.all([
    checkBubblewrap(sandbox.bwrapPath),
    checkUserNamespaces(sandbox.bwrapPath),
    checkCgroups(),
    checkDataDirectory(config.dataDir),
    quotaCheck(config.workspace.quota),
    checkPackages(config.pythonPath),
  ]);
  const checks: DoctorCheck[] = [
    { id: 'node', title: 'node', status: 'ok', detail: process.version, fix: null },
    bubblewrap,
    namespaces,
    checkPrivileges(config.sandbox),
    cgroups,
    limitsCheck(sandbox),
    dataDirectory,
    quota,
    sandboxCheck(sandbox),
    seccompCheck(sandbox, config.sandbox.seccomp),
    isolationCheck(config.isolation),
    modesCheck(config.policy.mode, config.isolation),
    pythonCheck(sandbox, config.pythonPath),
    ...packages,
  ];
  const missingPackages = packages
    .filter((check) => check.status !== 'ok' && check.fix !== null)
    .map((check) => (check.fix ?? '').replace('apt-get install -y ', ''));
  const installMissing =
    missingPackages.length > 0 ? `apt-get install -y ${missingPackages.join(' ')}` : null;
  const report: DoctorReport = {
    version: packageVersion(),
    strictIsolationWorks: sandbox.working,
    checks,
    installMissing,
    sandbox,
  };

  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    io.stdout.write(`Vivarium ${report.version} doctor (data directory ${config.dataDir})\n\n`);
    for (const check of checks) io.stdout.write(`${renderCheck(check)}\n`);
    io.stdout.write('\n');
    if (installMissing !== null) io.stdout.write(`Install every missing package: ${installMissing}\n`);
    io.stdout.write(
      sandbox.working
        ? 'Strict isolation works here.\n'
        : `Strict isolation does NOT work here: ${neutralizeControls(sandbox.problem ?? 'unknown problem')}\n`,
    );
  }
  return sandbox.working ? EXIT_OK : EXIT_CHECK_FAILED;
}
