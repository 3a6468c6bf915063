import { existsSync } from 'node:fs';
import type { ExecutionMode } from '../config/index.js';

/** Path inside the sandbox where the workspace is mounted (the kernel's cwd). */
export const SANDBOX_WORKSPACE = '/workspace';
/** Path inside the sandbox where the runtime is mounted read-only. */
export const SANDBOX_RUNTIME = '/opt/vivarium/runtime';
/** uid/gid the kernel has inside its user namespace. */
export const SANDBOX_UID = 1000;
export const SANDBOX_HOSTNAME = 'vivarium';
/**
 * Size of the sandbox's `/dev/shm` (POSIX shared memory and semaphores: `multiprocessing`, joblib)
 * in MiB. Like `/tmp` it is a tmpfs, so its pages are host memory outside `RLIMIT_AS`: it must
 * have a size, and a small one.
 */
export const DEV_SHM_SIZE_MB = 64;

/** `/etc` entries the interpreter and the scientific stack need; nothing else of `/etc` is visible. */
export const ETC_BINDS: readonly string[] = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/matplotlibrc',
  '/etc/localtime',
  '/etc/mime.types',
  '/etc/fonts',
];

/**
 * Host files name resolution and TLS need, bound read-only when a sandbox keeps the host network
 * (execution mode `network`, the installer with a remote index); missing ones are skipped. Nothing
 * else of `/etc` is added: no credentials, no host configuration beyond resolving names.
 */
export const NETWORK_ETC_BINDS: readonly string[] = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/nsswitch.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  // CA certificates for TLS; never `/etc/ssl` as a whole (its `private/` holds the host's keys).
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
];

/** What an execution mode grants the sandbox; everything else stays as the profile has it. */
export interface ModeGrants {
  /** `/workspace` is bound read-write (`--bind`) instead of read-only (`--ro-bind`). */
  workspaceWritable: boolean;
  /** The host's network namespace (no `--unshare-net`), with {@link NETWORK_ETC_BINDS}. */
  network: boolean;
}

/** The grants of each execution mode (config `policy.mode`, a session's `mode`). */
export const EXECUTION_MODE_GRANTS: Readonly<Record<ExecutionMode, Readonly<ModeGrants>>> = {
  read_only: { workspaceWritable: false, network: false },
  workspace_write: { workspaceWritable: true, network: false },
  network: { workspaceWritable: true, network: true },
};

/** Options of {@link buildBwrapArgs}. */
export interface BwrapProfileOptions {
  /** Host directory mounted at `/workspace` (read-write unless `workspaceReadOnly`). */
  workspaceDir: string;
  /** Mount the workspace read-only (`--ro-bind`): writes there fail with EROFS. @default false */
  workspaceReadOnly?: boolean;
  /** Host directory holding `vivarium_kernel.py`, mounted read-only. */
  runtimeDir: string;
  /** Interpreter to run inside. */
  pythonPath: string;
  /** Directories the interpreter reads from; those outside `/usr` are bound read-only. */
  interpreterDirectories: readonly string[];
  /** Host files for the synthetic `/etc/passwd` and `/etc/group`. */
  passwdFile: string;
  groupFile: string;
  /** Size of the sandbox's `/tmp` in MiB. */
  tmpSizeMb: number;
  /** The complete environment of the kernel (bwrap clears everything else). */
  env: Readonly<Record<string, string>>;
  /** Give the sandbox the host network. @default false */
  network?: boolean;
}

/**
 * The hardened bubblewrap profile: new user, pid, net, ipc, uts and cgroup namespaces; a read-only
 * `/usr` and a handful of `/etc` entries; fresh `/proc`, minimal `/dev`, size-capped tmpfs `/tmp`
 * and `/dev/shm`; `/workspace` the only writable bind (read-only too with `workspaceReadOnly`);
 * `/` and `/dev` read-only; no capabilities, no further user namespaces; dies with its parent; a
 * new session (no controlling terminal). Python starts isolated (`-I -B`). The execution mode
 * decides `workspaceReadOnly` and `network` ({@link EXECUTION_MODE_GRANTS}).
 */
export function buildBwrapArgs(options: BwrapProfileOptions): string[] {
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(options.network ? [] : ['--unshare-net']),
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--hostname',
    SANDBOX_HOSTNAME,
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--disable-userns',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
  ];
  if (existsSync('/usr/lib64')) args.push('--symlink', 'usr/lib64', '/lib64');
  if (existsSync('/usr/lib32')) args.push('--symlink', 'usr/lib32', '/lib32');
  for (const entry of ETC_BINDS) {
    if (existsSync(entry)) args.push('--ro-bind', entry, entry);
  }
  for (const directory of ['/etc/python3', ...pythonEtcDirs(options.interpreterDirectories)]) {
    if (existsSync(directory)) args.push('--ro-bind', directory, directory);
  }
  for (const directory of options.interpreterDirectories) {
    if (!directory.startsWith('/usr/') && directory !== '/usr' && existsSync(directory)) {
      args.push('--ro-bind', directory, directory);
    }
  }
  args.push(
    '--ro-bind',
    options.passwdFile,
    '/etc/passwd',
    '--ro-bind',
    options.groupFile,
    '/etc/group',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--size',
    String(DEV_SHM_SIZE_MB * 1024 * 1024),
    '--tmpfs',
    '/dev/shm',
    '--size',
    String(options.tmpSizeMb * 1024 * 1024),
    '--tmpfs',
    '/tmp',
    // `/var/tmp` leads into the size-capped `/tmp` instead of being a directory on the root tmpfs.
    '--dir',
    '/var',
    '--symlink',
    '../tmp',
    '/var/tmp',
    options.workspaceReadOnly ? '--ro-bind' : '--bind',
    options.workspaceDir,
    SANDBOX_WORKSPACE,
    '--ro-bind',
    options.runtimeDir,
    SANDBOX_RUNTIME,
    // bwrap builds the root and `/dev` as tmpfs mounts without a size limit, left writable: code
    // in the sandbox wrote 1 GiB into `/` and 1 GiB into `/dev/shm` under a 512 MiB memory limit
    // (tmpfs pages are not in the writer's address space), enough of it to exhaust the host's RAM.
    // Remounted read-only once everything is mounted (not recursive: `/tmp`, `/dev/shm`,
    // `/workspace`, the device nodes and `/dev/pts` keep their own flags), the only writable places
    // are `/workspace`, the capped `/tmp` and the capped `/dev/shm`.
    '--remount-ro',
    '/dev',
    '--remount-ro',
    '/',
    '--chdir',
    SANDBOX_WORKSPACE,
    '--clearenv',
  );
  for (const [name, value] of Object.entries(options.env)) args.push('--setenv', name, value);
  args.push('--', options.pythonPath, '-I', '-B', `${SANDBOX_RUNTIME}/vivarium_kernel.py`);
  return args;
}

/** `/usr/lib/python3.11` → `/etc/python3.11` (Debian keeps sitecustomize there). */
function pythonEtcDirs(directories: readonly string[]): string[] {
  const out = new Set<string>();
  for (const directory of directories) {
    const match = /\/lib\/(python3\.\d+)$/.exec(directory);
    if (match) out.add(`/etc/${match[1]}`);
  }
  return [...out];
}

/** Content of the synthetic `/etc/passwd` and `/etc/group` inside the sandbox. */
export const SANDBOX_PASSWD = `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:sandbox:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
export const SANDBOX_GROUP = `root:x:0:\nsandbox:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`;
