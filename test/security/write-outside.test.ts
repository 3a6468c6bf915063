import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_SHM_SIZE_MB } from '../../src/sandbox/bwrap-profile.js';
import {
  runAttackExpectingVerdict,
  runtimeDirOf,
  startSecurityEngine,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: writing outside the workspace. `/workspace` is the only writable place that outlives a
 * kernel; `/tmp` and `/dev/shm` are private, size-capped tmpfs; everything else is read-only.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('write-outside');
});

afterAll(async () => {
  await engine?.stop();
});

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe.concurrent('writing outside the workspace', () => {
  it('cannot write to /, /usr, /etc, /opt, /dev, /proc or the read-only runtime', async () => {
    const session = await engine.session();
    const runtimeDir = await runtimeDirOf(engine.dataDir);
    const runtimeKernel = join(runtimeDir, 'vivarium_kernel.py');
    const before = sha256(runtimeKernel);
    const tag = `vv-attack-${randomBytes(6).toString('hex')}`;
    const verdict = await runAttackExpectingVerdict(session, 'write_outside_workspace', { args: { tag } });

    const readOnly = ['EROFS', 'EACCES', 'EPERM', 'ENOENT'];
    for (const [path, outcome] of Object.entries(verdict.writes as Record<string, string>))
      expect(readOnly, `write ${path}: ${outcome}`).toContain(outcome);
    for (const [path, outcome] of Object.entries(verdict.appends as Record<string, string>))
      expect(readOnly, `append ${path}: ${outcome}`).toContain(outcome);
    for (const [path, outcome] of Object.entries(verdict.mkdir as Record<string, string>))
      expect(readOnly, `mkdir ${path}: ${outcome}`).toContain(outcome);
    for (const key of ['symlink', 'chmodRuntime', 'renameRuntime'])
      expect(readOnly, `${key}: ${verdict[key]}`).toContain(verdict[key]);
    // The root filesystem, /usr and the runtime are read-only mounts, not merely permissions.
    expect((verdict.writes as Record<string, string>)[`/${tag}`]).toBe('EROFS');
    expect((verdict.writes as Record<string, string>)[`/usr/${tag}`]).toBe('EROFS');
    expect((verdict.writes as Record<string, string>)[`/opt/vivarium/runtime/${tag}`]).toBe('EROFS');
    // The controls: the writable places work.
    expect(Object.values(verdict.controls as Record<string, string>)).toEqual([
      'written',
      'written',
      'written',
      'written',
    ]);

    // Host side: nothing appeared, the runtime is unchanged, the workspace file is there.
    for (const path of [
      `/${tag}`,
      `/usr/${tag}`,
      `/etc/${tag}`,
      `/opt/${tag}`,
      `/opt/vivarium/${tag}`,
      `/var/${tag}`,
      join(runtimeDir, tag),
    ]) {
      expect(existsSync(path), path).toBe(false);
    }
    expect(sha256(runtimeKernel)).toBe(before);
    expect(readFileSync(join(session.workspaceDir, tag), 'utf8')).toContain(tag);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain(tag);
  });

  it('has no unbounded in-memory filesystem: /, /etc, /dev are read-only, /tmp and /dev/shm are capped', async () => {
    const session = await engine.session({ limits: { memoryLimitMb: 512 } });
    const tmpSizeMb = engine.vv.config.sandbox.tmpSizeMb;
    const verdict = await runAttackExpectingVerdict(session, 'fill_memory_filesystems', {
      args: { maxMb: tmpSizeMb + 128 },
      timeoutMs: 30_000,
    });
    for (const path of ['/fill', '/etc/fill', '/dev/fill'])
      expect(verdict[path], path).toEqual({ writtenMb: 0, stopped: 'EROFS' });
    expect(verdict['/tmp/fill'].stopped).toBe('ENOSPC');
    expect(verdict['/tmp/fill'].writtenMb).toBeLessThanOrEqual(tmpSizeMb);
    expect(verdict['/var/tmp/fill'].stopped).toBe('ENOSPC');
    expect(verdict['/var/tmp/fill'].writtenMb).toBeLessThanOrEqual(tmpSizeMb);
    expect(verdict['/dev/shm/fill'].stopped).toBe('ENOSPC');
    expect(verdict['/dev/shm/fill'].writtenMb).toBeLessThanOrEqual(DEV_SHM_SIZE_MB);
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
  });

  it('keeps /tmp private: a file left there is seen neither by another session nor on the host', async () => {
    const [first, second] = await Promise.all([engine.session(), engine.session()]);
    const name = `vv-tmp-marker-${randomBytes(6).toString('hex')}`;
    const written = await runAttackExpectingVerdict(first, 'tmp_marker', { args: { mode: 'write', name } });
    expect(written.exists).toBe(true);
    const seen = await runAttackExpectingVerdict(second, 'tmp_marker', { args: { mode: 'check', name } });
    expect(seen.exists).toBe(false);
    expect(seen.tmp).not.toContain(name);
    expect(existsSync(join('/tmp', name))).toBe(false);
    expect(existsSync(join(tmpdir(), name))).toBe(false);
    expect((await readdir(first.workspaceDir)).includes(name)).toBe(false);
    // Same session, new kernel: /tmp does not outlive the kernel either.
    await first.restart();
    const afterRestart = await runAttackExpectingVerdict(first, 'tmp_marker', {
      args: { mode: 'check', name },
    });
    expect(afterRestart.exists).toBe(false);
  });
});
