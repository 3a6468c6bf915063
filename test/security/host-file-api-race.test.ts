import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVivariumError } from '../../src/errors/index.js';
import { WorkspaceFiles } from '../../src/session/workspace-files.js';

/**
 * SANDBOX-NOTES point 9, for real: a separate process plays the sandboxed code and swaps workspace
 * entries for symlinks to an outside secret as fast as it can, while the host reads and writes the
 * same paths. A check-then-open implementation leaks here within milliseconds.
 */

const PYTHON = '/usr/bin/python3';
const SECRET = 'TOPSECRET';
const HARMLESS = 'harmless';
const RACE_DURATION_MS = 3_000;
const MAX_ITERATIONS = 200_000;

/**
 * The attacker. `ws/data.txt` alternates atomically (rename) between a regular file and a symlink to
 * the outside secret; `ws/dir` cycles through a real directory holding `data.txt` = harmless, absent,
 * a symlink to an outside directory holding `data.txt` = TOPSECRET, absent. Any step that fails
 * because the host created something meanwhile resets the state and carries on.
 */
const ATTACKER = String.raw`
import os, shutil, sys, time
ws, secret_file, secret_dir, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
data = os.path.join(ws, 'data.txt')
d = os.path.join(ws, 'dir')
real = os.path.join(ws, 'dir-real')
def fresh_file(name, text):
    tmp = os.path.join(ws, name)
    with open(tmp, 'w') as f:
        f.write(text)
    return tmp
def reset_dir():
    if os.path.islink(d) or os.path.isfile(d):
        os.unlink(d)
    elif os.path.isdir(d):
        if os.path.lexists(real):
            shutil.rmtree(d, ignore_errors=True)
        else:
            os.rename(d, real)
    os.makedirs(real, exist_ok=True)
    tmp = os.path.join(real, '.data.tmp')
    with open(tmp, 'w') as f:
        f.write('harmless')
    os.rename(tmp, os.path.join(real, 'data.txt'))
reset_dir()
with open(data, 'w') as f:
    f.write('harmless')
print('ready', flush=True)
swaps = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        link = os.path.join(ws, '.swap-link')
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(secret_file, link)
        os.rename(link, data)
        os.rename(fresh_file('.swap-file', 'harmless'), data)
        os.rename(real, d)
        os.rename(d, real)
        os.symlink(secret_dir, d)
        os.unlink(d)
        swaps += 1
    except OSError:
        try:
            reset_dir()
        except OSError:
            pass
print('swaps', swaps, flush=True)
`;

interface Tally {
  ok: number;
  refused: number;
  notFound: number;
  leaks: number;
  unexpected: string[];
}

function newTally(): Tally {
  return { ok: 0, refused: 0, notFound: 0, leaks: 0, unexpected: [] };
}

function countFailure(tally: Tally, error: unknown): void {
  if (isVivariumError(error, 'FILE_REFUSED')) tally.refused += 1;
  else if (isVivariumError(error, 'FILE_NOT_FOUND')) tally.notFound += 1;
  else if (tally.unexpected.length < 5) tally.unexpected.push(String(error));
}

describe('host file API against symlink swaps (SANDBOX-NOTES point 9)', () => {
  let base: string;
  let ws: string;
  let secretDir: string;
  let secretFile: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'vivarium-race-'));
    ws = join(base, 'ws');
    secretDir = join(base, 'outside-dir');
    secretFile = join(base, 'secret.txt');
    await mkdir(ws);
    await mkdir(secretDir);
    await writeFile(secretFile, SECRET);
    await writeFile(join(secretDir, 'data.txt'), SECRET);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('never reads or writes outside the workspace while the sandbox swaps entries for symlinks', async () => {
    const files = new WorkspaceFiles({ root: ws, allowedExtensions: ['txt'], maxTransferBytes: 1_048_576 });
    let attacker: ChildProcess | undefined;
    try {
      attacker = spawn(
        PYTHON,
        ['-c', ATTACKER, ws, secretFile, secretDir, String(RACE_DURATION_MS / 1000 + 5)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const stdout = attacker.stdout!;
      stdout.setEncoding('utf8');
      const [firstLine] = (await once(stdout, 'data')) as [string];
      expect(firstLine).toContain('ready');

      const reads = newTally();
      const nestedReads = newTally();
      const writes = newTally();
      const deadline = Date.now() + RACE_DURATION_MS;
      for (let iteration = 0; iteration < MAX_ITERATIONS && Date.now() < deadline; iteration += 1) {
        const [direct, nested, written] = await Promise.allSettled([
          files.read('data.txt'),
          files.read('dir/data.txt'),
          // Creating `dir` races with the attacker's renames; do it only every fourth time.
          files.write('dir/out.txt', `host write ${iteration}`, { createParents: iteration % 4 === 0 }),
        ]);
        for (const [tally, result] of [
          [reads, direct],
          [nestedReads, nested],
        ] as const) {
          if (result.status === 'rejected') countFailure(tally, result.reason);
          else if (result.value.toString() === SECRET) tally.leaks += 1;
          else if (result.value.toString() === HARMLESS) tally.ok += 1;
          else if (tally.unexpected.length < 5) tally.unexpected.push(`content ${result.value.toString()}`);
        }
        if (written.status === 'rejected') countFailure(writes, written.reason);
        else writes.ok += 1;
      }

      // Whatever the host wrote must be in the workspace only.
      const outsideEntries = await readdir(secretDir);
      writes.leaks = outsideEntries.filter((name) => name !== 'data.txt').length;

      const summary = { reads, nestedReads, writes };
      expect(reads.leaks, JSON.stringify(summary)).toBe(0);
      expect(nestedReads.leaks, JSON.stringify(summary)).toBe(0);
      expect(writes.leaks, JSON.stringify(summary)).toBe(0);
      expect(await readFile(secretFile, 'utf8')).toBe(SECRET);
      expect(await readFile(join(secretDir, 'data.txt'), 'utf8')).toBe(SECRET);
      expect([...reads.unexpected, ...nestedReads.unexpected, ...writes.unexpected]).toEqual([]);

      // The race was really run: each path was seen both as a real file and as a symlink.
      for (const tally of [reads, nestedReads, writes]) {
        expect(tally.ok, JSON.stringify(summary)).toBeGreaterThan(0);
        expect(tally.refused, JSON.stringify(summary)).toBeGreaterThan(0);
      }
    } finally {
      if (attacker !== undefined && attacker.exitCode === null && attacker.signalCode === null) {
        const exited = once(attacker, 'exit');
        attacker.kill('SIGKILL');
        await exited;
      }
    }
  });
});
