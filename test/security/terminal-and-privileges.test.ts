import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAttackExpectingVerdict, startSecurityEngine, type SecurityEngine } from '../helpers/security.js';

/**
 * Threats: terminal injection (TIOCSTI into the engine's terminal) and privilege changes
 * (root, capabilities, new namespaces, mounts).
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('terminal-privileges');
});

afterAll(async () => {
  await engine?.stop();
});

describe.concurrent('terminal injection', () => {
  it('has no terminal: TIOCSTI/TIOCLINUX fail on every descriptor, /dev/tty cannot be opened', async () => {
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'terminal_injection');
    const tiocsti = verdict.tiocsti as Record<string, string>;
    // ENOTTY: no descriptor is a terminal; EPERM: the seccomp layer refuses TIOCSTI outright.
    for (const fd of ['0', '1', '2'])
      expect(['ENOTTY', 'EPERM'], `fd ${fd}: ${tiocsti[fd]}`).toContain(tiocsti[fd]);
    for (const [fd, outcome] of Object.entries(tiocsti)) expect(outcome, `fd ${fd}`).not.toBe('accepted');
    for (const [fd, outcome] of Object.entries(verdict.tioclinux as Record<string, string>))
      expect(outcome, `fd ${fd}`).not.toBe('accepted');
    expect(verdict.devTty).toBe('ENXIO');
    expect(verdict.ttys).toEqual([]);
    expect(verdict.controllingTty).toBe(0);
  });
});

describe.concurrent('privilege changes', () => {
  it('cannot become root, has no capabilities, cannot unshare, mount, chroot or setns', async () => {
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'privilege_escalation');
    expect(verdict.uid).toEqual([1000, 1000]);
    // EINVAL: uid/gid 0 does not even exist in the sandbox's user namespace (only 1000 is mapped).
    expect(['EINVAL', 'EPERM']).toContain(verdict.setuid0);
    expect(['EINVAL', 'EPERM']).toContain(verdict.setgid0);
    expect(verdict.setgroups).toBe('EPERM');
    for (const [name, value] of Object.entries(verdict.caps as Record<string, string>))
      expect(value, name).toBe('0000000000000000');
    expect(verdict.noNewPrivs).toBe('1');
    // bwrap --disable-userns: no nested user namespace (ENOSPC: user.max_user_namespaces is 0
    // inside); EPERM when the seccomp layer refuses unshare first.
    expect(['ENOSPC', 'EPERM']).toContain(verdict.unshareUser);
    for (const key of [
      'unshareMount',
      'unshareNet',
      'unsharePid',
      'mountTmpfs',
      'remountRootRw',
      'remountUsrRw',
      'umountWorkspace',
      'chroot',
      'setnsPid1Mount',
    ]) {
      expect(verdict[key], key).toBe('EPERM');
    }
    expect(verdict.mountTool).not.toBe(0);
  });
});
