import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  processesOfUid,
  runAttackExpectingVerdict,
  sleep,
  startSecurityEngine,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: one session reaching another. Session A keeps a secret in its workspace and a process
 * alive; session B cannot find A's workspace, see A's processes, or signal them. They run as
 * different host uids.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('cross-session');
});

afterAll(async () => {
  await engine?.stop();
});

describe('one session reaching another', () => {
  it("cannot read A's workspace, see A's processes or signal them", async () => {
    const [victim, attacker] = await Promise.all([engine.session(), engine.session()]);
    const victimUid = await workspaceUid(victim);
    const attackerUid = await workspaceUid(attacker);
    expect(victimUid).not.toBe(attackerUid);
    expect(victimUid).toBeGreaterThanOrEqual(200_000);
    expect(attackerUid).toBeGreaterThanOrEqual(200_000);

    const secret = `victim-secret-${randomBytes(8).toString('hex')}`;
    const victimVerdict = await runAttackExpectingVerdict(victim, 'cross_session_victim', {
      args: { secret },
    });
    expect(victimVerdict.childPid).toBeGreaterThan(2);
    const victimProcesses = await processesOfUid(victimUid);
    expect(victimProcesses.map((process) => process.name)).toContain('vv-victim');

    const verdict = await runAttackExpectingVerdict(attacker, 'cross_session_attacker', {
      args: {
        victimWorkspace: victim.workspaceDir,
        victimHostPids: victimProcesses.map((process) => process.pid),
      },
    });
    expect(verdict.readSecret).toEqual({ succeeded: false, errno: 'ENOENT' });
    expect(verdict.listWorkspace).toEqual({ succeeded: false, errno: 'ENOENT' });
    expect(verdict.listWorkspaces).toEqual({ succeeded: false, errno: 'ENOENT' });
    expect(verdict.viaParent.succeeded).toBe(true);
    expect(verdict.viaParent.detail).not.toContain('workspaces');
    expect(verdict.ownWorkspace).not.toContain('secret.txt');
    expect(verdict.mountinfoMentionsVictim).toBe(false);
    expect(verdict.processNames).not.toContain('vv-victim');
    for (const process of victimProcesses)
      expect(verdict.signals[String(process.pid)], `kill(${process.pid})`).toBe('ProcessLookupError');

    // Host side: A is untouched: its processes live on, its secret is intact.
    await sleep(200);
    const after = await processesOfUid(victimUid);
    expect(after.map((process) => process.pid).sort()).toEqual(
      victimProcesses.map((process) => process.pid).sort(),
    );
    expect(await readFile(`${victim.workspaceDir}/secret.txt`, 'utf8')).toBe(secret);
    // And the host itself keeps them apart: each workspace is 0700 and owned by its own kernel uid.
    const { stat } = await import('node:fs/promises');
    for (const session of [victim, attacker])
      expect((await stat(session.workspaceDir)).mode & 0o777).toBe(0o700);
  });
});
