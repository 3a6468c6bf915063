import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeExecution,
  runAttack,
  startSecurityEngine,
  waitForNoProcesses,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: output floods and malformed input through the kernel's own report channel, written to
 * directly by user code instead of through the runtime. The host caps and validates every frame:
 * a flood is truncated like any other output, a malformed or oversized frame kills that kernel.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('protocol-forgery');
});

afterAll(async () => {
  await engine?.stop();
});

describe('forged report frames', () => {
  it('200 MiB of well-formed stream frames are capped at maxOutputBytes; the host RSS stays flat', async () => {
    const session = await engine.session();
    const rssBefore = process.memoryUsage().rss;
    const { execution } = await runAttack(session, 'protocol_forgery', {
      args: { mode: 'flood', mb: 200 },
      timeoutMs: 60_000,
    });
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(execution.truncated.output).toBe(true);
    expect(Buffer.byteLength(execution.stdout) + Buffer.byteLength(execution.stderr)).toBeLessThanOrEqual(
      engine.vv.config.limits.maxOutputBytes,
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
  });

  for (const mode of ['oversized', 'garbage'] as const) {
    it(`an ${mode} frame is a protocol violation: that kernel is killed, the session says why, others carry on`, async () => {
      const [session, bystander] = await Promise.all([engine.session(), engine.session()]);
      const uid = await workspaceUid(session);
      const { execution } = await runAttack(session, 'protocol_forgery', {
        args: { mode },
        timeoutMs: 20_000,
      });
      expect(execution.status, describeExecution(execution)).toBe('killed');
      expect(execution.reason ?? '').toMatch(/protocol violation/);
      expect(session.state).toBe('dead');
      expect(await waitForNoProcesses(uid, 5_000)).toEqual([]);
      expect((await bystander.execute('1+1')).result).toEqual({ 'text/plain': '2' });
      await session.restart();
      expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
    });
  }
});
