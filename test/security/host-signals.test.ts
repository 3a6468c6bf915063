import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  runAttackExpectingVerdict,
  sleep,
  startSecurityEngine,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: signals to the host. Host pids do not exist in the sandbox's pid namespace, and
 * kill(-1, SIGKILL) reaches only the sandbox's own processes, even a host process that runs as
 * the very same host uid as the kernel.
 */

let engine: SecurityEngine;
const bystanders: ChildProcess[] = [];

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

beforeAll(async () => {
  engine = await startSecurityEngine('host-signals');
});

afterAll(async () => {
  for (const child of bystanders) if (alive(child)) child.kill('SIGKILL');
  await sleep(100);
  await engine?.stop();
});

describe('signals to the host', () => {
  it('cannot signal host processes by pid, and kill(-1) kills only its own', async () => {
    const session = await engine.session();
    const uid = await workspaceUid(session);
    // Host processes that kill(-1) would reach if the pid namespace did not hold: one as root,
    // one as the kernel's own host uid.
    const asRoot = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
    const asKernelUid = spawn('/bin/sleep', ['300'], { stdio: 'ignore', uid, gid: uid });
    bystanders.push(asRoot, asKernelUid);
    await sleep(100);
    expect(alive(asRoot) && alive(asKernelUid)).toBe(true);

    const hostPids = [process.pid, process.ppid, asRoot.pid!, asKernelUid.pid!];
    const verdict = await runAttackExpectingVerdict(session, 'signal_host', { args: { hostPids } });
    for (const pid of hostPids)
      expect(verdict.direct[String(pid)], `kill(${pid})`).toBe('ProcessLookupError');
    expect(verdict.killAll).toBe('ok');
    expect(verdict.childKilledBy).toBe(9);
    expect(verdict.survivors).toEqual([1, verdict.self]);

    await sleep(200);
    expect(alive(asRoot)).toBe(true);
    expect(alive(asKernelUid)).toBe(true);
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
  });
});
