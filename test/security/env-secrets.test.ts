import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  processesOfUid,
  runAttackExpectingVerdict,
  startSecurityEngine,
  workspaceUid,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: environment secrets. The engine's own environment holds a secret; nothing of it reaches
 * the kernel's environment, bwrap's (`/proc/1/environ`), or any command line in the sandbox.
 */

const SECRET = `s3cr3t-${randomBytes(16).toString('hex')}`;
const SECRET_NAMES = ['VIVARIUM_TEST_SECRET', 'AWS_SECRET_ACCESS_KEY'];
let engine: SecurityEngine;

beforeAll(async () => {
  for (const name of SECRET_NAMES) process.env[name] = SECRET;
  engine = await startSecurityEngine('env-secrets');
});

afterAll(async () => {
  try {
    await engine?.stop();
  } finally {
    for (const name of SECRET_NAMES) delete process.env[name];
  }
});

describe('environment secrets', () => {
  it('are in no environment or command line inside the sandbox', async () => {
    expect(process.env.VIVARIUM_TEST_SECRET).toBe(SECRET);
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'env_secrets');
    const environ = verdict['os.environ'] as Record<string, string>;
    for (const name of SECRET_NAMES) expect(environ[name]).toBeUndefined();
    // The program read /proc/1 (bwrap), its own process and every other one it could see.
    expect(verdict['/proc/1/environ']).toBeTypeOf('string');
    expect(verdict['/proc/1/environ']).not.toMatch(/^<E/);
    expect(verdict['/proc/self/environ']).toContain('VIVARIUM_WORKSPACE=/workspace');
    expect(verdict['/proc/1/cmdline']).toContain('bwrap');
    const everything = JSON.stringify(verdict);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(SECRET.slice(7));
    for (const name of SECRET_NAMES) expect(everything).not.toContain(name);
  });

  it('are not in the environment or command line of the host-side sandbox processes either', async () => {
    const session = await engine.session();
    const uid = await workspaceUid(session);
    const processes = await processesOfUid(uid);
    expect(processes.length).toBeGreaterThan(0);
    for (const { pid, cmdline } of processes) {
      const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
      expect(environ, `environ of ${pid}`).not.toContain(SECRET);
      expect(cmdline, `cmdline of ${pid}`).not.toContain(SECRET);
    }
  });
});
