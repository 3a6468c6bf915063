import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../src/index.js';
import { ETC_BINDS } from '../../src/sandbox/index.js';
import { SANDBOX_PASSWD } from '../../src/sandbox/bwrap-profile.js';
import { runAttackExpectingVerdict, startSecurityEngine, type SecurityEngine } from '../helpers/security.js';

/** Threat: reading host files. Nothing of the host's filesystem is visible but read-only `/usr` and a few `/etc` entries. */

const HOST_FILE = fileURLToPath(new URL('../../package.json', import.meta.url));

let engine: SecurityEngine;
let attacker: Session;
let other: Session;

beforeAll(async () => {
  engine = await startSecurityEngine('host-files');
  [attacker, other] = await Promise.all([engine.session(), engine.session()]);
  const written = await other.execute("open('/workspace/secret.txt', 'w').write('other session secret')");
  expect(written.status).toBe('ok');
});

afterAll(async () => {
  await engine?.stop();
});

describe('reading host files', () => {
  it('cannot read /etc/shadow, /root, /home, the data dir, /proc/1/root or another workspace', async () => {
    // The targets are real on the host: the attack would have something to find.
    expect(readFileSync('/etc/shadow', 'utf8')).toMatch(/^root:/m);
    expect(existsSync(`${other.workspaceDir}/secret.txt`)).toBe(true);
    expect(existsSync(`${engine.dataDir}/sandbox/passwd`)).toBe(true);
    expect(existsSync(HOST_FILE)).toBe(true);

    const verdict = await runAttackExpectingVerdict(attacker, 'read_host_files', {
      args: { dataDir: engine.dataDir, otherWorkspace: other.workspaceDir, hostFile: HOST_FILE },
    });
    const reads = verdict.reads as Record<string, { readable: boolean; errno?: string; sample?: string }>;
    expect(Object.keys(reads).length).toBeGreaterThan(12);
    for (const [path, result] of Object.entries(reads)) {
      expect(result, path).toEqual({ readable: false, errno: 'ENOENT' });
    }
    const lists = verdict.lists as Record<string, { listable: boolean; errno?: string; entries?: string[] }>;
    for (const path of [
      '/root',
      '/home',
      '/var/lib/vivarium',
      '/var/lib',
      engine.dataDir,
      `${engine.dataDir}/workspaces`,
      other.workspaceDir,
    ]) {
      expect(lists[path], path).toEqual({ listable: false, errno: 'ENOENT' });
    }
    // The sandbox's own root, seen directly and through /proc/1/root: no host directories.
    const sandboxRoot = [
      'bin',
      'dev',
      'etc',
      'lib',
      'lib32',
      'lib64',
      'opt',
      'proc',
      'sbin',
      'tmp',
      'usr',
      'var',
      'workspace',
    ];
    for (const path of ['/', '/proc/1/root']) {
      expect(lists[path]?.listable, path).toBe(true);
      expect(
        lists[path]?.entries?.filter((entry) => !sandboxRoot.includes(entry)),
        path,
      ).toEqual([]);
    }
    expect(lists['/opt']?.entries).toEqual(['vivarium']);
    expect(lists['/opt/vivarium']?.entries).toEqual(['runtime']);
  });

  it('sees only the bound /etc entries, and a synthetic passwd', async () => {
    const verdict = await runAttackExpectingVerdict(attacker, 'read_host_files', {
      args: { dataDir: engine.dataDir, otherWorkspace: other.workspaceDir, hostFile: HOST_FILE },
    });
    const allowed = new Set([
      ...ETC_BINDS.map((path) => path.slice('/etc/'.length)),
      'passwd',
      'group',
      'python3',
      'python3.11',
      'python3.12',
      'python3.13',
    ]);
    const etc = (verdict.lists as Record<string, { entries: string[] }>)['/etc']!.entries;
    expect(etc.filter((entry) => !allowed.has(entry))).toEqual([]);
    expect(etc).toContain('passwd');
    expect(etc).not.toContain('shadow');
    expect((await readdir('/etc')).length).toBeGreaterThan(etc.length * 3);
    expect(verdict.passwd).toBe(SANDBOX_PASSWD);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toBe(SANDBOX_PASSWD);
  });
});
