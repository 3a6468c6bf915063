import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** How a check came out: `ok`, `missing` (something to install or enable), `warn` (works, with a caveat). */
export type CheckStatus = 'ok' | 'missing' | 'warn';

/** One line of `vivarium doctor`. */
export interface DoctorCheck {
  /** Stable key for `--json` consumers: `bubblewrap`, `package:numpy`. */
  id: string;
  /** What was checked, as shown. */
  title: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** The command or setting that fixes it, or null. */
  fix: string | null;
}

/** Environment of the probe processes: nothing of the host's but a PATH. */
const PROBE_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' } as const;
/** How long `bwrap --version` and the namespace probe may take. */
const QUICK_PROBE_TIMEOUT_MS = 10_000;
/** How long importing the whole data stack may take (sklearn and statsmodels are slow to import). */
const PACKAGE_PROBE_TIMEOUT_MS = 120_000;

/** The data stack `doctor` looks for: import name → Debian package. */
export const DATA_STACK_PACKAGES: ReadonlyArray<{ module: string; debianPackage: string }> = [
  { module: 'numpy', debianPackage: 'python3-numpy' },
  { module: 'pandas', debianPackage: 'python3-pandas' },
  { module: 'matplotlib', debianPackage: 'python3-matplotlib' },
  { module: 'scipy', debianPackage: 'python3-scipy' },
  { module: 'sklearn', debianPackage: 'python3-sklearn' },
  { module: 'seaborn', debianPackage: 'python3-seaborn' },
  { module: 'statsmodels', debianPackage: 'python3-statsmodels' },
  { module: 'sympy', debianPackage: 'python3-sympy' },
  { module: 'openpyxl', debianPackage: 'python3-openpyxl' },
  { module: 'xlrd', debianPackage: 'python3-xlrd' },
  { module: 'docx', debianPackage: 'python3-docx' },
  { module: 'pypdf', debianPackage: 'python3-pypdf' },
  { module: 'h5py', debianPackage: 'python3-h5py' },
  { module: 'bs4', debianPackage: 'python3-bs4' },
  { module: 'chardet', debianPackage: 'python3-chardet' },
  { module: 'pytest', debianPackage: 'python3-pytest' },
  { module: 'pytest_cov', debianPackage: 'python3-pytest-cov' },
  { module: 'coverage', debianPackage: 'python3-coverage' },
];

export const INSTALL_BUBBLEWRAP = 'apt-get install -y bubblewrap';

function errorText(error: unknown): string {
  const stderr = (error as { stderr?: unknown }).stderr;
  const text =
    typeof stderr === 'string' && stderr.trim() !== ''
      ? stderr
      : error instanceof Error
        ? error.message
        : String(error);
  return text.trim().split('\n').slice(0, 3).join(' / ');
}

/** `bwrap --version`. */
export async function checkBubblewrap(bwrapPath: string | null): Promise<DoctorCheck> {
  const base = { id: 'bubblewrap', title: 'bubblewrap' };
  if (bwrapPath === null)
    return {
      ...base,
      status: 'missing',
      detail: 'bwrap is not installed (strict isolation needs it)',
      fix: INSTALL_BUBBLEWRAP,
    };
  try {
    const { stdout } = await execFileAsync(bwrapPath, ['--version'], {
      env: PROBE_ENV,
      timeout: QUICK_PROBE_TIMEOUT_MS,
    });
    return { ...base, status: 'ok', detail: `${stdout.trim()} at ${bwrapPath}`, fix: null };
  } catch (error) {
    return {
      ...base,
      status: 'missing',
      detail: `${bwrapPath} does not run: ${errorText(error)}`,
      fix: INSTALL_BUBBLEWRAP,
    };
  }
}

async function readSysctl(path: string): Promise<string | null> {
  return readFile(path, 'utf8').then(
    (text) => text.trim(),
    () => null,
  );
}

/** Whether bubblewrap can create a user namespace here (the first thing the strict profile does). */
export async function checkUserNamespaces(bwrapPath: string | null): Promise<DoctorCheck> {
  const base = { id: 'user-namespaces', title: 'user namespaces' };
  const maxNamespaces = await readSysctl('/proc/sys/user/max_user_namespaces');
  const unprivilegedClone = await readSysctl('/proc/sys/kernel/unprivileged_userns_clone');
  const apparmorRestrict = await readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const facts = [
    maxNamespaces === null ? null : `user.max_user_namespaces=${maxNamespaces}`,
    unprivilegedClone === null ? null : `kernel.unprivileged_userns_clone=${unprivilegedClone}`,
    apparmorRestrict === null ? null : `kernel.apparmor_restrict_unprivileged_userns=${apparmorRestrict}`,
  ].filter((fact) => fact !== null);
  const shownFacts = facts.length > 0 ? ` (${facts.join(', ')})` : '';
  const fix =
    maxNamespaces === '0'
      ? 'sysctl -w user.max_user_namespaces=15000'
      : unprivilegedClone === '0'
        ? 'sysctl -w kernel.unprivileged_userns_clone=1, or run the engine as root'
        : apparmorRestrict === '1'
          ? 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile allowing bwrap), or run the engine as root'
          : 'allow user namespaces for this user (container runtimes: --security-opt seccomp=unconfined or a privileged container), or run the engine as root';
  if (bwrapPath === null)
    return {
      ...base,
      status: 'missing',
      detail: `not tested: bubblewrap is missing${shownFacts}`,
      fix: INSTALL_BUBBLEWRAP,
    };
  try {
    await execFileAsync(
      bwrapPath,
      [
        '--unshare-user',
        '--unshare-pid',
        '--ro-bind',
        '/',
        '/',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--',
        '/bin/true',
      ],
      {
        env: PROBE_ENV,
        timeout: QUICK_PROBE_TIMEOUT_MS,
      },
    );
    return { ...base, status: 'ok', detail: `usable${shownFacts}`, fix: null };
  } catch (error) {
    return {
      ...base,
      status: 'missing',
      detail: `bubblewrap cannot create one: ${errorText(error)}${shownFacts}`,
      fix,
    };
  }
}

/** Root engines give every kernel its own uid; others share the engine's. */
export function checkPrivileges(options: { uidRangeStart: number; uidRangeSize: number }): DoctorCheck {
  const base = { id: 'privileges', title: 'privileges' };
  const uid = process.getuid?.();
  if (uid === 0) {
    const last = options.uidRangeStart + options.uidRangeSize - 1;
    return {
      ...base,
      status: 'ok',
      detail: `running as root: each kernel runs as its own uid (${options.uidRangeStart}-${last})`,
      fix: null,
    };
  }
  return {
    ...base,
    status: 'warn',
    detail: `running as uid ${uid ?? 'unknown'}: every kernel runs as this uid; sessions are kept apart by namespaces and workspace modes only`,
    fix: 'run the engine as root (e.g. as a system service) to give each kernel a distinct uid',
  };
}

/** One cgroup hierarchy mounted on this host. */
interface CgroupMount {
  version: 1 | 2;
  mountPoint: string;
  /** The path inside the hierarchy the mount shows as its root. */
  root: string;
  /** v1: the controllers of this hierarchy (from the mount options); v2: from `cgroup.controllers`. */
  controllers: string[];
}

/** Unescapes a mountinfo path (`\040` is a space). */
function mountinfoPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

async function cgroupMounts(): Promise<CgroupMount[]> {
  const text = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')) || '';
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const fields = before.split(' ');
    const [fsType, , superOptions = ''] = after.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType === 'cgroup2') {
      const path = mountinfoPath(mountPoint);
      const controllers = (await readFile(join(path, 'cgroup.controllers'), 'utf8').catch(() => ''))
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      mounts.push({ version: 2, mountPoint: path, root: mountinfoPath(root), controllers });
    } else if (fsType === 'cgroup') {
      const controllers = superOptions
        .split(',')
        .filter((option) => option !== 'rw' && option !== 'ro' && !option.includes('='));
      mounts.push({
        version: 1,
        mountPoint: mountinfoPath(mountPoint),
        root: mountinfoPath(root),
        controllers,
      });
    }
  }
  return mounts;
}

/** `/proc/self/cgroup`: hierarchy key (`memory`, `pids`, `` for v2) → this process's cgroup path. */
async function ownCgroups(): Promise<Map<string, string>> {
  const text = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of (match[1] ?? '').split(',')) paths.set(controller, match[2] ?? '/');
  }
  return paths;
}

/** The directory of this process's own cgroup in a mount, when the mount shows it. */
function ownCgroupDirectory(mount: CgroupMount, path: string): string {
  const relative = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return join(mount.mountPoint, relative);
}

async function writable(path: string): Promise<boolean> {
  return access(path, fsConstants.W_OK).then(
    () => true,
    () => false,
  );
}

/** What cgroups this host has and whether the engine could use them (facts only: limits use rlimits today). */
export async function checkCgroups(): Promise<DoctorCheck> {
  const base = { id: 'cgroups', title: 'cgroups' };
  const mounts = await cgroupMounts();
  if (mounts.length === 0)
    return { ...base, status: 'ok', detail: 'none mounted (not used yet: limits are rlimits)', fix: null };
  const own = await ownCgroups();
  const parts: string[] = [];
  const v2 = mounts.find((mount) => mount.version === 2);
  if (v2) {
    const directory = ownCgroupDirectory(v2, own.get('') ?? '/');
    const controllers = v2.controllers.length > 0 ? v2.controllers.join(' ') : 'no controllers';
    parts.push(
      `v2 at ${v2.mountPoint}: ${controllers}; own cgroup ${(await writable(directory)) ? 'writable' : 'read-only'}`,
    );
  }
  const v1 = mounts.filter((mount) => mount.version === 1 && mount.controllers.length > 0);
  if (v1.length > 0) {
    const shown: string[] = [];
    for (const wanted of ['memory', 'pids', 'cpu']) {
      const mount = v1.find((candidate) => candidate.controllers.includes(wanted));
      if (!mount) {
        shown.push(`${wanted} absent`);
        continue;
      }
      const directory = ownCgroupDirectory(mount, own.get(wanted) ?? '/');
      shown.push(`${wanted} ${(await writable(directory)) ? 'writable' : 'read-only'}`);
    }
    const names = [...new Set(v1.flatMap((mount) => mount.controllers))].sort();
    parts.push(`v1 controllers ${names.join(' ')} (${shown.join(', ')})`);
  }
  return { ...base, status: 'ok', detail: parts.join('; '), fix: null };
}

/** How limits are enforced today. */
export function checkLimitsMechanism(): DoctorCheck {
  return {
    id: 'limits',
    title: 'limits mechanism',
    status: 'ok',
    detail:
      'rlimits (cgroups not used yet): address space, CPU seconds, processes, file size, open files; wall clock enforced by the host',
    fix: null,
  };
}

/**
 * The data directory must be traversable by kernel uids when the engine is root (they are
 * "others" on every ancestor): `/root` (mode 0700) is not, so a data dir under it fails.
 */
export async function checkDataDirectory(dataDir: string): Promise<DoctorCheck> {
  const base = { id: 'data-directory', title: 'data directory' };
  const blocked: string[] = [];
  if (process.getuid?.() === 0) {
    // The directory itself is created 0711 by the engine; its existing ancestors must allow search.
    for (let current = dirname(dataDir); ; current = dirname(current)) {
      const info = await stat(current).catch(() => null);
      if (info && (info.mode & 0o001) === 0) blocked.push(current);
      if (current === dirname(current)) break;
    }
  }
  if (blocked.length > 0) {
    return {
      ...base,
      status: 'missing',
      detail: `${dataDir}: kernel uids cannot traverse ${blocked.join(', ')}`,
      fix: `chmod o+x ${blocked.join(' ')}, or choose another place: --data DIR / VIVARIUM_DATA_DIR (e.g. /var/lib/vivarium)`,
    };
  }
  return { ...base, status: 'ok', detail: dataDir, fix: null };
}

/** Imports every data-stack module in one interpreter run: module → version (or '' when it has none) or error. */
const PACKAGE_PROBE = [
  'import importlib, sys',
  'for name in sys.argv[1:]:',
  '    try:',
  '        version = str(getattr(importlib.import_module(name), "__version__", ""))',
  '        state = "ok"',
  '    except BaseException as error:',
  '        version, state = (type(error).__name__ + ": " + str(error))[:200], "missing"',
  '    print("vivarium-doctor", name, state, " ".join(version.split()), sep="\\t", flush=True)',
].join('\n');

/** One check per data-stack package, from one `python3 -I -c` run; a missing one carries its `apt-get` line. */
export async function checkPackages(pythonPath: string): Promise<DoctorCheck[]> {
  const found = new Map<string, { state: string; text: string }>();
  let failure: string | null = null;
  const configDir = await mkdtemp(join(tmpdir(), 'vivarium-doctor-'));
  try {
    const { stdout } = await execFileAsync(
      pythonPath,
      ['-I', '-c', PACKAGE_PROBE, ...DATA_STACK_PACKAGES.map((p) => p.module)],
      {
        env: { ...PROBE_ENV, MPLBACKEND: 'Agg', MPLCONFIGDIR: configDir, HOME: configDir },
        timeout: PACKAGE_PROBE_TIMEOUT_MS,
        maxBuffer: 1_048_576,
      },
    );
    for (const line of stdout.split('\n')) {
      const [marker, name, state, text] = line.split('\t');
      if (marker === 'vivarium-doctor' && name !== undefined && state !== undefined)
        found.set(name, { state, text: text ?? '' });
    }
  } catch (error) {
    failure = errorText(error);
  } finally {
    await rm(configDir, { recursive: true, force: true });
  }
  return DATA_STACK_PACKAGES.map(({ module, debianPackage }) => {
    const result = found.get(module);
    const base = { id: `package:${module}`, title: module };
    if (result?.state === 'ok')
      return {
        ...base,
        status: 'ok' as const,
        detail: result.text === '' ? 'importable' : result.text,
        fix: null,
      };
    const detail = result ? result.text : `not checked: ${failure ?? 'the interpreter did not answer'}`;
    return { ...base, status: 'missing' as const, detail, fix: `apt-get install -y ${debianPackage}` };
  });
}
