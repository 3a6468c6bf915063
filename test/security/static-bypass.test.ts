import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Execution } from '../../src/index.js';
import {
  describeExecution,
  runAttack,
  runAttackExpectingVerdict,
  startSecurityEngine,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Language-level tricks that a static check (AST blocklist, audit hook) does not stop: the OS
 * boundary contains them anyway. Each is aimed at /etc/shadow or /root, which exist on the host.
 */

let engine: SecurityEngine;
let shadowHashes: string[] = [];

beforeAll(async () => {
  engine = await startSecurityEngine('static-bypass');
  // The host's password hashes (or `*`/`!` fields), to look for in every output.
  shadowHashes = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length > 2 && fields[1]!.length > 3)
    .map((fields) => fields[1]!);
});

afterAll(async () => {
  await engine?.stop();
});

function expectNoShadow(execution: Execution): void {
  const everything = JSON.stringify(execution);
  expect(everything).not.toMatch(/^root:[^:]*:\d+:/m);
  expect(everything).not.toContain('root:*:');
  expect(everything).not.toContain('root:!');
  for (const hash of shadowHashes) expect(everything).not.toContain(hash);
}

describe.concurrent('language-level tricks, contained by the OS', () => {
  it('().__class__.__base__.__subclasses__() walk to os and Popen: /etc/shadow is not there', async () => {
    const session = await engine.session();
    const { execution, verdict } = await runAttack(session, 'subclasses_walk');
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(verdict!.foundOs).toBe(true);
    expect(verdict!.osOpen).toBe('FileNotFoundError');
    expect(verdict!.osSystemStatus).not.toBe(0);
    expect(verdict!.popen.returncode).not.toBe(0);
    expect(verdict!.popen.stdout).toBe('');
    expect(verdict!.popen.stderr).toContain('No such file or directory');
    expectNoShadow(execution);
  });

  it("getattr(__builtins__, '__im'+'port__')('os').system('cat /etc/shadow') prints nothing of it", async () => {
    const session = await engine.session();
    const { execution, verdict } = await runAttack(session, 'builtins_import');
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(verdict!.systemStatus).not.toBe(0);
    expect(execution.stderr).toContain('No such file or directory');
    expectNoShadow(execution);
  });

  it('ctypes calling libc open() on /root and /etc/shadow fails with ENOENT', async () => {
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'ctypes_libc_open');
    expect(verdict).toEqual({
      '/root': 'ENOENT',
      '/etc/shadow': 'ENOENT',
      '/home': 'ENOENT',
      '/proc/1/root/etc/shadow': 'ENOENT',
    });
  });

  it('fullwidth identifiers and str.format attribute walks reach nothing either', async () => {
    const session = await engine.session();
    const { execution, verdict } = await runAttack(session, 'obfuscated_open');
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(verdict!.formatWalk).toBe(true);
    expect(verdict!.fullwidthOpen).toBe('FileNotFoundError');
    expectNoShadow(execution);
  });
});
