import { execFile } from 'node:child_process';
import { freemem } from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../src/index.js';
import {
  describeExecution,
  processesOfUid,
  runAttack,
  sleep,
  startSecurityEngine,
  waitForNoProcesses,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threats: fork bombs, memory bombs, CPU spin. Each is stopped by its limit, the kernel's whole
 * process tree goes when it is killed, and the host and other sessions carry on meanwhile.
 */

const execFileAsync = promisify(execFile);
let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('resources');
});

afterAll(async () => {
  await engine?.stop();
});

async function expectAnswers(session: Session): Promise<void> {
  const execution = await session.execute('1+1', { timeoutMs: 30_000 });
  expect(execution.result, describeExecution(execution)).toEqual({ 'text/plain': '2' });
}

/** Largest event-loop delay of this process over `ms`, sampled every 10 ms. */
async function eventLoopLagMs(ms: number): Promise<number> {
  let worst = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const before = performance.now();
    await sleep(10);
    worst = Math.max(worst, performance.now() - before - 10);
  }
  return worst;
}

describe('fork bomb', () => {
  it('is stopped at maxProcesses; the host, a pooled and a freshly started session keep working; nothing is left', async () => {
    const maxProcesses = 64;
    const bomber = await engine.session({ limits: { maxProcesses } });
    const uid = await workspaceUid(bomber);
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await processesOfUid(uid)).length);
        await sleep(100);
      }
    })();
    const bomb = runAttack(bomber, 'fork_bomb', { timeoutMs: 8_000 });
    try {
      // Let it reach the limit.
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && (await processesOfUid(uid)).length < maxProcesses / 2) await sleep(50);
      expect((await processesOfUid(uid)).length).toBeGreaterThanOrEqual(maxProcesses / 2);

      // The host: its event loop, a new host process, and sessions (one from the pool, one started now).
      expect(await eventLoopLagMs(500)).toBeLessThan(500);
      const spawnStarted = performance.now();
      await execFileAsync('/bin/true');
      expect(performance.now() - spawnStarted).toBeLessThan(2_000);
      const [pooled, fresh] = await Promise.all([engine.session(), engine.session({ preload: ['json'] })]);
      await Promise.all([expectAnswers(pooled), expectAnswers(fresh)]);
      expect(await workspaceUid(pooled)).not.toBe(uid);
      expect(await workspaceUid(fresh)).not.toBe(uid);
    } finally {
      const { execution, verdict } = await bomb;
      sampling = false;
      await sampler;
      expect(execution.status, describeExecution(execution)).toBe('timeout');
      expect(verdict, describeExecution(execution)).not.toBeNull();
      expect(verdict!.errno).toBe('EAGAIN');
      expect(verdict!.processesInSandbox).toBeLessThanOrEqual(maxProcesses);
    }
    // Host-side count of the uid (the host-side bwrap included) never went past the limit.
    expect(peak).toBeLessThanOrEqual(maxProcesses + 1);
    expect(await waitForNoProcesses(uid)).toEqual([]);
    expect(bomber.state).toBe('dead');
    await bomber.restart();
    await expectAnswers(bomber);
  });
});

describe('memory bombs', () => {
  it('one process: memoryLimitMb 512 ends in memory_exceeded, the host and other sessions are fine', async () => {
    const freeBefore = freemem();
    const [bomber, bystander] = await Promise.all([
      engine.session({ limits: { memoryLimitMb: 512 } }),
      engine.session(),
    ]);
    const { execution, verdict } = await runAttack(bomber, 'memory_bomb', { timeoutMs: 30_000 });
    expect(execution.status, describeExecution(execution)).toBe('memory_exceeded');
    expect(execution.reason ?? '').toMatch(/memory/i);
    // When Python saw the MemoryError itself, it reports how far it got: under the limit.
    if (verdict !== null) expect(verdict.allocatedMb).toBeLessThanOrEqual(512);
    await expectAnswers(bystander);
    expect(freemem()).toBeGreaterThan(freeBefore - 1024 * 1024 * 1024);
    if (bomber.state === 'dead') await bomber.restart();
    await expectAnswers(bomber);
  });

  it('many processes: children each under the address-space limit together stay within memoryLimitMb', async () => {
    const memoryLimitMb = 512;
    const children = 6;
    const mbEach = 200;
    const bomber = await engine.session({ limits: { memoryLimitMb } });
    const { execution, verdict } = await runAttack(bomber, 'forked_memory_bomb', {
      args: { children, mbEach },
      timeoutMs: 30_000,
    });
    if (execution.status === 'memory_exceeded') return; // the kernel itself was taken down with the bomb
    expect(execution.status, describeExecution(execution)).toBe('ok');
    // At most memoryLimitMb / mbEach children can have held their memory at the same time.
    expect(verdict!.completed + verdict!.killed).toBe(children);
    expect(verdict!.completed, JSON.stringify(verdict)).toBeLessThanOrEqual(
      Math.floor(memoryLimitMb / mbEach),
    );
  });
});

describe('tmpfs inode bomb', () => {
  it('millions of empty files in the size-capped /tmp are stopped by the memory limit, not by the host running out', async () => {
    const bomber = await engine.session({ limits: { memoryLimitMb: 256 } });
    const uid = await workspaceUid(bomber);
    const { execution, verdict } = await runAttack(bomber, 'tmpfs_inode_bomb', {
      args: { maxFiles: 20_000_000 },
      timeoutMs: 50_000,
    });
    // Inodes are kernel memory charged to the kernel's memory cgroup: an OOM kill, or a failing
    // create; never the 20 million files (some GiB of host kernel memory) the program asked for.
    if (execution.status === 'ok') expect(['ENOSPC', 'ENOMEM']).toContain(verdict!.stopped);
    else expect(execution.status, describeExecution(execution)).toBe('memory_exceeded');
    expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
  });
});

describe('CPU spin', () => {
  it('while True: pass ends at timeoutMs 1500 with status timeout, and no process of its uid is left', async () => {
    const session = await engine.session();
    const uid = await workspaceUid(session);
    expect((await processesOfUid(uid)).length).toBeGreaterThan(0);
    const { execution } = await runAttack(session, 'cpu_spin', { timeoutMs: 1_500 });
    expect(execution.status, describeExecution(execution)).toBe('timeout');
    expect(execution.durationMs).toBeGreaterThanOrEqual(1_400);
    expect(execution.durationMs).toBeLessThan(5_000);
    expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
    expect(session.state).toBe('dead');
  });

  it('cpuTimeLimitSec 1 kills the kernel long before timeoutMs 20000, saying it was the CPU limit', async () => {
    const session = await engine.session({ limits: { cpuTimeLimitSec: 1 } });
    const uid = await workspaceUid(session);
    const { execution } = await runAttack(session, 'cpu_spin', { timeoutMs: 20_000 });
    expect(execution.status, describeExecution(execution)).toBe('killed');
    expect(execution.reason ?? '').toMatch(/CPU/);
    expect(execution.durationMs).toBeLessThan(10_000);
    expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
  });
});
