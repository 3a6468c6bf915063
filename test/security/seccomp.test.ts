import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRELOAD, loadConfig } from '../../src/config/index.js';
import { isVivariumError, type Session } from '../../src/index.js';
import {
  DEFAULT_SECCOMP_FILTER_PATH,
  loadSeccompFilter,
  MAX_SECCOMP_INSTRUCTIONS,
  Sandbox,
} from '../../src/sandbox/index.js';
import {
  describeExecution,
  runAttack,
  runAttackExpectingVerdict,
  SECURITY_UID_RANGE_SIZE,
  SECURITY_UID_RANGE_START,
  startSecurityEngine,
  type SecurityEngine,
  type Verdict,
} from '../helpers/security.js';

/**
 * Threat: the kernel's attack surface from inside the sandbox (namespaces, mounts, ptrace, bpf,
 * keyrings, perf, userfaultfd, io_uring, modules, TIOCSTI, netlink, foreign syscall ABIs). The
 * seccomp filter (`scripts/build-seccomp.py`, built into `dist/seccomp/filter.bpf` by
 * `npm run build`) refuses them as a second layer under the namespaces; without it the sandbox
 * does not start.
 */

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-seccomp.py', import.meta.url));
const x86_64 = process.arch === 'x64';

/** Every syscall the probe calls directly and the filter must refuse with EPERM. */
const DENIED_SYSCALLS = [
  'unshare',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'bpf',
  'keyctl',
  'add_key',
  'request_key',
  'perf_event_open',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'quotactl',
  'open_by_handle_at',
  'name_to_handle_at',
  'lookup_dcookie',
  'syslog',
];

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function expectSandboxUnavailable(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error('expected SANDBOX_UNAVAILABLE, but it resolved'),
    (rejection: unknown) => rejection,
  );
  expect(isVivariumError(error, 'SANDBOX_UNAVAILABLE'), String(error)).toBe(true);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toMatch(/build-seccomp\.py/);
}

describe('the filter blob', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vivarium-seccomp-blob-'));
  });

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('is built reproducibly: the same bytes on every run, the ones `npm run build` shipped', async () => {
    const first = join(scratch, 'first.bpf');
    const second = join(scratch, 'second.bpf');
    await execFileAsync('/usr/bin/python3', [BUILD_SCRIPT, first]);
    await execFileAsync('/usr/bin/python3', [BUILD_SCRIPT, second]);
    const [a, b, shipped] = await Promise.all([
      readFile(first),
      readFile(second),
      readFile(DEFAULT_SECCOMP_FILTER_PATH),
    ]);
    expect(sha256(a)).toBe(sha256(b));
    expect(sha256(a)).toBe(sha256(shipped));
    const filter = await loadSeccompFilter();
    expect(filter).toMatchObject({ path: DEFAULT_SECCOMP_FILTER_PATH, sha256: sha256(shipped) });
    expect(filter.instructionCount).toBe(shipped.length / 8);
    expect(filter.instructionCount).toBeLessThanOrEqual(MAX_SECCOMP_INSTRUCTIONS);
  });

  it('is refused when missing, empty, ragged or longer than the kernel takes', async () => {
    const shipped = await readFile(DEFAULT_SECCOMP_FILTER_PATH);
    const cases: Array<[string, Buffer | null, RegExp]> = [
      ['missing.bpf', null, /cannot be read \(ENOENT\)/],
      ['empty.bpf', Buffer.alloc(0), /is empty/],
      ['ragged.bpf', shipped.subarray(0, shipped.length - 3), /not a multiple of 8/],
      ['huge.bpf', Buffer.alloc((MAX_SECCOMP_INSTRUCTIONS + 1) * 8, 6), /4097 instructions/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(scratch, name);
      if (bytes) await writeFile(path, bytes);
      await expectSandboxUnavailable(loadSeccompFilter(path), message);
    }
  });
});

describe('Sandbox.prepare() fails closed on a bad filter', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vivarium-seccomp-prepare-'));
    // The data directory inside must be reachable by the kernel uids, as a real one is.
    await chmod(scratch, 0o711);
  });

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  function sandboxWith(seccompFilterPath: string, seccomp = true): Sandbox {
    const config = loadConfig({
      overrides: {
        dataDir: join(scratch, 'data'),
        preload: [],
        sandbox: {
          seccomp,
          uidRangeStart: SECURITY_UID_RANGE_START,
          uidRangeSize: SECURITY_UID_RANGE_SIZE,
        },
      },
      env: {},
      cwd: scratch,
    });
    return new Sandbox(config, { seccompFilterPath });
  }

  it('refuses a missing, empty or ragged blob (temp copies; the shipped one is never touched)', async () => {
    const shipped = await readFile(DEFAULT_SECCOMP_FILTER_PATH);
    await writeFile(join(scratch, 'empty.bpf'), Buffer.alloc(0));
    await writeFile(join(scratch, 'ragged.bpf'), shipped.subarray(0, shipped.length - 5));
    await expectSandboxUnavailable(sandboxWith(join(scratch, 'missing.bpf')).prepare(), /ENOENT/);
    await expectSandboxUnavailable(sandboxWith(join(scratch, 'empty.bpf')).prepare(), /is empty/);
    await expectSandboxUnavailable(sandboxWith(join(scratch, 'ragged.bpf')).prepare(), /multiple of 8/);
  });

  it('refuses a blob the kernel rejects: bwrap does not start', async () => {
    const shipped = await readFile(DEFAULT_SECCOMP_FILTER_PATH);
    // An invalid opcode, and a program cut after 4 instructions (no return, jumps past its end).
    await writeFile(join(scratch, 'garbage.bpf'), Buffer.alloc(64, 0xff));
    await writeFile(join(scratch, 'cut.bpf'), shipped.subarray(0, 32));
    for (const name of ['garbage.bpf', 'cut.bpf']) {
      await expectSandboxUnavailable(
        sandboxWith(join(scratch, name)).prepare(),
        /system call filtering|PR_SET_SECCOMP/,
      );
    }
  });

  it('refuses a valid program that denies nothing (a lone "allow")', async () => {
    const allowAll = Buffer.alloc(8);
    allowAll.writeUInt16LE(0x06, 0); // BPF_RET | BPF_K
    allowAll.writeUInt32LE(0x7fff0000, 4); // SECCOMP_RET_ALLOW
    await writeFile(join(scratch, 'allow-all.bpf'), allowAll);
    await expectSandboxUnavailable(
      sandboxWith(join(scratch, 'allow-all.bpf')).prepare(),
      /not in force: unshare\(0\) was not refused/,
    );
  });

  it('starts without the blob when `sandbox.seccomp` is off', async () => {
    const sandbox = sandboxWith(join(scratch, 'missing.bpf'), false);
    await sandbox.prepare();
    expect(sandbox.seccomp).toBeNull();
    expect(sandbox.launchSpec({ workspaceDir: scratch }).args).not.toContain('--seccomp');
  });
});

describe('kernels under the filter', () => {
  let engine: SecurityEngine;
  let prober: Session;
  let verdict: Verdict;

  beforeAll(async () => {
    engine = await startSecurityEngine('seccomp', { pool: { size: 0 } });
    prober = await engine.session();
    verdict = await runAttackExpectingVerdict(prober, 'seccomp_probe');
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it('run with the shipped filter in force, passed on a descriptor that does not stay open', async () => {
    const shipped = await readFile(DEFAULT_SECCOMP_FILTER_PATH);
    expect(engine.vv.sandbox.seccomp?.sha256).toBe(sha256(shipped));
    const spec = engine.vv.sandbox.launchSpec({ workspaceDir: engine.dataDir, cgroupFdCount: 2 });
    try {
      expect(spec.extraFds).toHaveLength(1);
      const separator = spec.args.lastIndexOf('--');
      expect(spec.args.slice(separator - 2, separator)).toEqual(['--seccomp', '7']);
    } finally {
      for (const fd of spec.extraFds ?? []) closeSync(fd);
    }
    if (!x86_64) return;
    expect(verdict.seccomp).toBe('2');
    expect(verdict.seccompFilters).toBe('1');
    // bwrap read the blob and closed it: the kernel holds its stdio, protocol pipes and its own
    // descriptors (the runtime's), nothing that leads to the filter file.
    expect(
      Object.values(verdict.descriptors as Record<string, string>).filter((target) => /\.bpf/.test(target)),
    ).toEqual([]);
  });

  it.skipIf(!x86_64)(
    'refuses namespaces, mounts, ptrace, bpf, keyrings, perf, userfaultfd, io_uring, modules with EPERM',
    () => {
      const denied = verdict.denied as Record<string, string>;
      expect(Object.keys(denied).sort()).toEqual([...DENIED_SYSCALLS].sort());
      for (const name of DENIED_SYSCALLS) expect(denied[name], name).toBe('EPERM');
      for (const [flag, errno] of Object.entries(verdict.clone as Record<string, string>))
        expect(errno, `clone(${flag})`).toBe('EPERM');
      // clone without a namespace flag reaches the kernel (which refuses CLONE_THREAD alone itself)
      expect(verdict.clonePlainInvalid).toBe('EINVAL');
      // clone3 looks absent, so libc falls back to clone, whose flags the filter sees
      expect(verdict.clone3).toBe('ENOSYS');
    },
  );

  it.skipIf(!x86_64)('allows the default personality and the query, nothing else', () => {
    expect(verdict.personality).toEqual({
      query: 'ok',
      default: 'ok',
      addrNoRandomize: 'EPERM',
      highBits: 'EPERM',
    });
  });

  it.skipIf(!x86_64)(
    'refuses TIOCSTI and TIOCLINUX, junk in the high bits included, and lets other ioctls through',
    () => {
      expect(verdict.ioctl).toEqual({
        TIOCSTI: 'EPERM',
        TIOCLINUX: 'EPERM',
        TIOCSTIHighBits: 'EPERM',
        // reaches the kernel: the descriptor -1 is what fails
        TIOCGWINSZ: 'EBADF',
        TIOCSTIOnPty: 'EPERM',
      });
    },
  );

  it.skipIf(!x86_64)(
    'keeps NETLINK_ROUTE (socket.if_nameindex) and refuses every other netlink family',
    () => {
      expect(verdict.netlink).toEqual({
        route: 'ok',
        routeDgram: 'ok',
        audit: 'EPERM',
        uevent: 'EPERM',
        auditFamilyHighBits: 'EPERM',
      });
      expect(verdict.ifNameIndex).toEqual(['lo']);
      expect(verdict.unixSocket).toBe('ok');
      expect(verdict.getpid).toBe('ok');
    },
  );

  it.skipIf(!x86_64)('kills a process that makes a syscall through a non-native ABI (x32)', async () => {
    const victim = await engine.session();
    const bystander = await engine.session();
    const { execution, verdict: survived } = await runAttack(victim, 'seccomp_probe', {
      args: { mode: 'x32' },
    });
    expect(survived, describeExecution(execution)).toBeNull();
    expect(execution.status, describeExecution(execution)).toBe('killed');
    expect(execution.reason).toMatch(/signal (31|SIGSYS)/);
    expect((await bystander.execute('6 * 7')).result).toEqual({ 'text/plain': '42' });
    await victim.restart();
    expect((await victim.execute('"back"')).result).toEqual({ 'text/plain': "'back'" });
  });

  it('keeps threads, fork and subprocess working', async () => {
    const session = await engine.session();
    const execution = await session.execute(
      [
        'import os, subprocess, threading',
        'results = []',
        'threads = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(8)]',
        'for thread in threads: thread.start()',
        'for thread in threads: thread.join()',
        'print("threads", sorted(results))',
        'print("subprocess", subprocess.run(["echo", "x"], capture_output=True, text=True, check=True).stdout.strip())',
        'pid = os.fork()',
        'if pid == 0: os._exit(7)',
        'print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
      ].join('\n'),
      { timeoutMs: 30_000 },
    );
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(execution.stdout).toBe('threads [0, 1, 4, 9, 16, 25, 36, 49]\nsubprocess x\nfork 7\n');
  });

  it('imports numpy, pandas and matplotlib (the default preload) and renders a plot', async () => {
    const session = await engine.session({ preload: [...DEFAULT_PRELOAD] });
    const execution = await session.execute(
      [
        'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
        'frame = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})',
        'print(int(frame.y.sum()), float(np.linalg.inv(np.eye(3) * 2)[0, 0]))',
        'frame.plot(x="x", y="y")',
        'plt.show()',
      ].join('\n'),
      { timeoutMs: 60_000 },
    );
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(execution.stdout).toBe('285 0.5\n');
    const images = execution.outputs.filter(
      (output) => output.output_type === 'display_data' && 'image/png' in output.data,
    );
    expect(images).toHaveLength(1);
  }, 90_000);
});

describe('kernels with `sandbox.seccomp: false`', () => {
  let engine: SecurityEngine;

  beforeAll(async () => {
    engine = await startSecurityEngine('seccomp-off', { pool: { size: 0 }, sandbox: { seccomp: false } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  // The same probe without the layer: the kernel answers for itself. This is what shows that the
  // EPERMs above come from the filter, not from missing capabilities or other layers.
  it.skipIf(!x86_64)('run without a filter, and the probe sees the kernel answer instead', async () => {
    expect(engine.vv.sandbox.seccomp).toBeNull();
    const verdict = await runAttackExpectingVerdict(await engine.session(), 'seccomp_probe');
    expect(verdict.seccomp).toBe('0');
    const denied = verdict.denied as Record<string, string>;
    expect(denied.unshare).toBe('ok');
    expect(denied.setns).toBe('EBADF');
    expect(denied.chroot).toBe('EFAULT');
    expect(Object.values(verdict.clone as Record<string, string>)).not.toContain('EPERM');
    expect(verdict.clone3).not.toBe('ENOSYS');
    expect((verdict.ioctl as Record<string, string>).TIOCSTI).toBe('EBADF');
    expect((verdict.netlink as Record<string, string>).audit).toBe('ok');
    expect((verdict.personality as Record<string, string>).addrNoRandomize).toBe('ok');
  });
});
