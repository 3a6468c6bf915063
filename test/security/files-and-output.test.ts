import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeExecution,
  runAttack,
  runAttackExpectingVerdict,
  startSecurityEngine,
  type SecurityEngine,
} from '../helpers/security.js';

/** Threats: an oversized file, disk fill through the workspace, output floods. */

const WORKSPACE_MAX_BYTES = 64 * 1024 * 1024;
const WORKSPACE_MAX_FILES = 2_000;
let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('files-output', {
    workspace: { maxBytes: WORKSPACE_MAX_BYTES, maxFiles: WORKSPACE_MAX_FILES },
  });
});

afterAll(async () => {
  await engine?.stop();
});

describe('files', () => {
  it('maxFileSizeMb 10: writing 20 MiB fails in Python with EFBIG (errno 27), and the session survives', async () => {
    const session = await engine.session({ limits: { maxFileSizeMb: 10 } });
    const verdict = await runAttackExpectingVerdict(session, 'oversized_file', { args: { sizeMb: 20 } });
    expect(verdict.failure).toEqual({ errno: 27, name: 'EFBIG' });
    expect(verdict.writtenBytes).toBe(10 * 1024 * 1024);
    expect(verdict.sparseFailure).toEqual({ errno: 27, name: 'EFBIG' });
    expect((await stat(join(session.workspaceDir, 'big.bin'))).size).toBe(10 * 1024 * 1024);
    expect(session.state).toBe('idle');
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
  });

  it('disk fill: the workspace is bounded in bytes and files (ENOSPC in Python); the host disk does not notice', async () => {
    expect(engine.vv.workspaceQuota, 'workspace volumes must be in force for a root engine').toBe('loop');
    const hostFreeBefore = await statfs(engine.dataDir);
    const session = await engine.session();
    const verdict = await runAttackExpectingVerdict(session, 'disk_fill', {
      args: { maxMb: (WORKSPACE_MAX_BYTES >> 20) * 2, maxFiles: WORKSPACE_MAX_FILES * 2 },
      timeoutMs: 60_000,
    });
    expect(verdict.byteFailure).toBe('ENOSPC');
    expect(verdict.writtenMb).toBeLessThanOrEqual(WORKSPACE_MAX_BYTES >> 20);
    expect(verdict.fileFailure).toBe('ENOSPC');
    expect(verdict.files).toBeLessThanOrEqual(WORKSPACE_MAX_FILES);
    const hostFreeAfter = await statfs(engine.dataDir);
    const usedBytes = (hostFreeBefore.bavail - hostFreeAfter.bavail) * hostFreeBefore.bsize;
    expect(usedBytes).toBeLessThan(WORKSPACE_MAX_BYTES * 1.5);
    expect((await session.execute('import shutil; shutil.rmtree("/workspace/many"); 1+1')).result).toEqual({
      'text/plain': '2',
    });
  });
});

describe('output flood', () => {
  it('60 MiB of stdout/stderr is capped at maxOutputBytes with truncated.output, and the host RSS stays flat', async () => {
    const session = await engine.session();
    const maxOutputBytes = engine.vv.config.limits.maxOutputBytes;
    const rssBefore = process.memoryUsage().rss;
    const { execution } = await runAttack(session, 'output_flood', { timeoutMs: 60_000 });
    const rssAfter = process.memoryUsage().rss;
    expect(execution.status, describeExecution(execution)).toBe('ok');
    expect(execution.truncated.output).toBe(true);
    expect(execution.result).toEqual({ 'text/plain': String(60 * 1024 * 1024) });
    const kept = Buffer.byteLength(execution.stdout) + Buffer.byteLength(execution.stderr);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(maxOutputBytes);
    const streamed = execution.outputs
      .filter((output) => output.output_type === 'stream')
      .reduce(
        (sum, output) => sum + Buffer.byteLength(output.output_type === 'stream' ? output.text : ''),
        0,
      );
    expect(streamed).toBeLessThanOrEqual(maxOutputBytes);
    expect(rssAfter - rssBefore).toBeLessThan(200 * 1024 * 1024);
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
  });
});
