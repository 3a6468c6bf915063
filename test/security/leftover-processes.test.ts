import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeExecution,
  processesOfUid,
  runAttack,
  runAttackExpectingVerdict,
  startSecurityEngine,
  waitForNoProcesses,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: leftover processes. A double-forked daemon and a setsid() child, both ignoring SIGTERM
 * and SIGHUP, stay inside the sandbox's pid namespace (re-parented to its pid 1) and die with it:
 * after close() and after a timeout kill, no process of the kernel's host uid is left.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('leftovers');
});

afterAll(async () => {
  await engine?.stop();
});

describe.concurrent('leftover processes', () => {
  it('a double-forked daemon and a setsid() child are gone after session.close()', async () => {
    const session = await engine.session();
    const uid = await workspaceUid(session);
    const verdict = await runAttackExpectingVerdict(session, 'leftover_daemons', { args: { spin: false } });
    // Re-parented to the sandbox's own init, in sessions of their own: as detached as they can get.
    expect(verdict.lingering.daemon.ppid).toBe(1);
    expect(verdict.lingering.daemon.sid).not.toBe(verdict.kernelSid);
    expect(verdict.lingering.setsid.sid).toBe(verdict.lingering.setsid.pid);
    // On the host they are there, under the kernel's uid: bwrap (outside and pid 1), the kernel, two lingerers.
    const before = await processesOfUid(uid);
    expect(before.length, JSON.stringify(before)).toBeGreaterThanOrEqual(4);
    expect(before.filter((process) => process.name.startsWith('python')).length).toBeGreaterThanOrEqual(3);
    await session.close();
    expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
  });

  it('they are gone after a timeout kill too, while the session itself stays open', async () => {
    const session = await engine.session();
    const uid = await workspaceUid(session);
    const { execution, verdict } = await runAttack(session, 'leftover_daemons', {
      args: { spin: true },
      timeoutMs: 2_500,
    });
    expect(execution.status, describeExecution(execution)).toBe('timeout');
    expect(verdict?.lingering?.daemon?.ppid, describeExecution(execution)).toBe(1);
    expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
    expect(session.state).toBe('dead');
    // The dead session's workspace is still there for a restart; the lingerers are not.
    await session.restart();
    expect(
      (await session.execute('import os; sorted(int(n) for n in os.listdir("/proc") if n.isdigit())'))
        .result?.['text/plain'],
    ).toBe('[1, 2]');
  });
});
