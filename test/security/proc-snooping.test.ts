import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAttackExpectingVerdict, startSecurityEngine, type SecurityEngine } from '../helpers/security.js';

/**
 * Threat: /proc snooping (and what else the kernel's view of the system leaks). /proc shows only
 * the sandbox's own processes; /sys is not there; no descriptor opened by the host stays open.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('proc-snooping');
});

afterAll(async () => {
  await engine?.stop();
});

describe.concurrent('/proc snooping', () => {
  it('shows only the sandbox: pid 1 is bwrap, the kernel is pid 2, no host process, no /sys', async () => {
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'proc_snooping', {
      args: { hostPid: process.pid },
    });
    const processes = verdict.processes as Record<string, string>;
    expect(Object.keys(processes).sort()).toEqual(['1', '2']);
    expect(processes['1']).toMatch(/^(\/usr\/bin\/)?bwrap /);
    expect(processes['2']).toContain('vivarium_kernel.py');
    expect(verdict.self).toBe(2);
    expect(verdict.hostPidVisible).toBe(false);
    const hostProcessCount = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).length;
    expect(hostProcessCount).toBeGreaterThan(10);
    expect(verdict.sysExists === false || verdict.sysEntries.length === 0).toBe(true);
    expect(verdict.sysFsCgroup).toBe(false);
    expect(verdict.kcore).toBe(false);
    expect(verdict.kmsg).toBe(false);
  });

  it('has no descriptor left open by the host (cgroup files, host directories, engine sockets)', async () => {
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'open_descriptors');
    const fds = verdict.fds as Record<string, string>;
    for (const [fd, target] of Object.entries(fds)) {
      const harmless =
        /^(pipe|anon_inode|socket):/.test(target) ||
        target === '/dev/null' ||
        target.startsWith('/proc/') ||
        target.startsWith('/workspace') ||
        target.startsWith('/tmp/');
      expect(harmless, `fd ${fd} -> ${target}`).toBe(true);
      expect(target, `fd ${fd}`).not.toContain('cgroup');
    }
  });
});
