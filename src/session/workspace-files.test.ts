import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VivariumError } from '../errors/index.js';
import { WorkspaceFiles, normalizeWorkspacePath } from './workspace-files.js';

const SECRET = 'TOPSECRET';
const TEBIBYTE = 2 ** 40;

let base: string;
let ws: string;
let outside: string;
let files: WorkspaceFiles;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'vivarium-wsfiles-'));
  ws = join(base, 'ws');
  outside = join(base, 'outside');
  await mkdir(ws);
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), SECRET);
  files = new WorkspaceFiles({ root: ws, allowedExtensions: ['*'], maxTransferBytes: 1024 });
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Resolves to the VivariumError `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<VivariumError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VivariumError);
    return error as VivariumError;
  }
  throw new Error('expected a rejection');
}

function thrown(run: () => unknown): VivariumError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(VivariumError);
    return error as VivariumError;
  }
  throw new Error('expected a throw');
}

describe('normalizeWorkspacePath', () => {
  it('accepts relative paths and normalises `.` and repeated slashes', () => {
    expect(normalizeWorkspacePath('a/b.txt')).toBe('a/b.txt');
    expect(normalizeWorkspacePath('./a//./b.txt/')).toBe('a/b.txt');
  });

  it('strips the /workspace prefix the sandbox sees', () => {
    expect(normalizeWorkspacePath('/workspace/x.txt')).toBe('x.txt');
    expect(normalizeWorkspacePath('/workspace//d/x.txt')).toBe('d/x.txt');
  });

  it.each([
    ['../x', '`..`'],
    ['a/../../x', '`..`'],
    ['a/..', '`..`'],
    ['/workspace/../etc/passwd', '`..`'],
    ['/etc/passwd', 'relative to the workspace'],
    ['/workspacex/y', 'relative to the workspace'],
    ['a\0b', 'NUL'],
    ['', 'non-empty'],
    ['.', 'non-empty'],
    ['/workspace', 'non-empty'],
    ['a\\b.txt', 'backslashes'],
    ['..\\x', 'backslashes'],
    [`${'a'.repeat(256)}.txt`, '255 bytes'],
    [`${'d/'.repeat(2100)}x.txt`, '4096 bytes'],
  ])('refuses %j with PATH_INVALID saying what is accepted', (path, phrase) => {
    const error = thrown(() => normalizeWorkspacePath(path));
    expect(error.code).toBe('PATH_INVALID');
    expect(error.message).toMatch(/^Expected `path` to be /);
    expect(error.message).toContain(phrase);
  });

  it('refuses non-strings', () => {
    const error = thrown(() => normalizeWorkspacePath(42 as unknown as string));
    expect(error.code).toBe('PATH_INVALID');
    expect(error.message).toContain('(number)');
  });
});

describe('WorkspaceFiles options', () => {
  it('refuses invalid options with the house message form', () => {
    const cases: [Partial<ConstructorParameters<typeof WorkspaceFiles>[0]>, string][] = [
      [{ root: 'relative' }, '`root`'],
      [{ allowedExtensions: ['.CSV'] }, '`allowedExtensions[0]`'],
      [{ maxTransferBytes: -1 }, '`maxTransferBytes`'],
      [{ ownerUid: -5 }, '`ownerUid`'],
    ];
    for (const [override, name] of cases) {
      const error = thrown(
        () => new WorkspaceFiles({ root: ws, allowedExtensions: ['*'], maxTransferBytes: 10, ...override }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`Expected ${name} to be`);
    }
  });
});

describe('WorkspaceFiles round trip', () => {
  it('writes, reads, stats, lists and removes', async () => {
    expect(await files.write('hello.txt', 'hi there')).toEqual({ path: 'hello.txt', sizeBytes: 8 });
    expect(await readFile(join(ws, 'hello.txt'), 'utf8')).toBe('hi there');
    expect((await files.read('hello.txt')).toString()).toBe('hi there');
    expect((await files.read('/workspace/hello.txt')).toString()).toBe('hi there');

    const bytes = new Uint8Array([0, 1, 2, 255]);
    await files.write('bin.dat', bytes);
    expect([...(await files.read('bin.dat'))]).toEqual([0, 1, 2, 255]);

    const entry = await files.stat('hello.txt');
    expect(entry).toMatchObject({ path: 'hello.txt', name: 'hello.txt', type: 'file', sizeBytes: 8 });
    expect(new Date(entry.modifiedAt).toISOString()).toBe(entry.modifiedAt);

    const listing = await files.list();
    expect(listing.truncated).toBe(false);
    expect(listing.entries.map((e) => [e.path, e.type])).toEqual([
      ['bin.dat', 'file'],
      ['hello.txt', 'file'],
    ]);

    await files.remove('hello.txt');
    expect(existsSync(join(ws, 'hello.txt'))).toBe(false);
    expect((await rejection(files.read('hello.txt'))).code).toBe('FILE_NOT_FOUND');
    expect((await rejection(files.stat('hello.txt'))).code).toBe('FILE_NOT_FOUND');
    expect((await rejection(files.remove('hello.txt'))).code).toBe('FILE_NOT_FOUND');
  });

  it('replaces an existing file and leaves no temporary file behind', async () => {
    await files.write('a.txt', 'first version, longer');
    await files.write('a.txt', 'second');
    expect(await readFile(join(ws, 'a.txt'), 'utf8')).toBe('second');
    expect(await readdir(ws)).toEqual(['a.txt']);
  });

  it('creates nested parent directories, and refuses when createParents is false', async () => {
    await files.write('/workspace/a/b/c/deep.txt', 'deep');
    expect(await readFile(join(ws, 'a/b/c/deep.txt'), 'utf8')).toBe('deep');
    expect((await lstat(join(ws, 'a/b'))).isDirectory()).toBe(true);

    const error = await rejection(files.write('x/y.txt', 'no', { createParents: false }));
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(existsSync(join(ws, 'x'))).toBe(false);
  });

  it('gives created files and directories to the configured owner', async () => {
    const owned = new WorkspaceFiles({
      root: ws,
      allowedExtensions: ['*'],
      maxTransferBytes: 1024,
      ownerUid: 12345,
      ownerGid: 23456,
    });
    await owned.write('made/here.txt', 'x');
    for (const path of ['made', 'made/here.txt']) {
      const stats = await stat(join(ws, path));
      if (process.getuid?.() === 0) expect([stats.uid, stats.gid]).toEqual([12345, 23456]);
    }
  });

  it('lists a subdirectory, recursively, and bounds the entries', async () => {
    await files.write('d/one.txt', '1');
    await files.write('d/sub/two.txt', '22');
    await files.write('top.txt', 'top');

    const flat = await files.list('d');
    expect(flat.entries.map((e) => e.path)).toEqual(['d/one.txt', 'd/sub']);
    expect(flat.entries[1]).toMatchObject({ type: 'directory', sizeBytes: 0 });

    const deep = await files.list('', { recursive: true });
    expect(deep.entries.map((e) => e.path)).toEqual(['d', 'd/one.txt', 'd/sub', 'd/sub/two.txt', 'top.txt']);
    expect(deep.truncated).toBe(false);

    const bounded = await files.list('/workspace', { recursive: true, maxEntries: 3 });
    expect(bounded.entries.map((e) => e.path)).toEqual(['d', 'd/one.txt', 'd/sub']);
    expect(bounded.truncated).toBe(true);

    const exact = await files.list('d', { maxEntries: 2 });
    expect(exact.truncated).toBe(false);

    expect((await rejection(files.list('missing'))).code).toBe('FILE_NOT_FOUND');
    expect((await rejection(files.list('top.txt'))).code).toBe('PATH_INVALID');
  });

  it('refuses to remove a directory unless recursive, then removes it whole', async () => {
    await files.write('d/sub/x.txt', 'x');
    await files.write('d/y.txt', 'y');
    const error = await rejection(files.remove('d'));
    expect(error.code).toBe('FILE_REFUSED');
    expect(error.message).toContain('recursive: true');
    await files.remove('d', { recursive: true });
    expect(await readdir(ws)).toEqual([]);
  });

  it('refuses to read a directory', async () => {
    await mkdir(join(ws, 'dir.txt'));
    expect((await rejection(files.read('dir.txt'))).code).toBe('FILE_REFUSED');
    expect((await rejection(files.write('dir.txt', 'x'))).code).toBe('FILE_REFUSED');
  });

  it('throws ABORTED for an aborted signal', async () => {
    const signal = AbortSignal.abort();
    expect((await rejection(files.write('a.txt', 'x', { signal }))).code).toBe('ABORTED');
    expect((await rejection(files.read('a.txt', { signal }))).code).toBe('ABORTED');
    expect((await rejection(files.list(undefined, { signal }))).code).toBe('ABORTED');
    expect((await rejection(files.remove('a.txt', { signal }))).code).toBe('ABORTED');
    expect((await rejection(files.stat('a.txt', { signal }))).code).toBe('ABORTED');
    expect(existsSync(join(ws, 'a.txt'))).toBe(false);
  });

  it('reports an absurd mtime set by the sandbox without throwing', async () => {
    await writeFile(join(ws, 'old.txt'), 'x');
    execFileSync('touch', ['-d', '@-99999999999999', join(ws, 'old.txt')]);
    const entry = await files.stat('old.txt');
    expect(typeof entry.modifiedAt).toBe('string');
  });
});

describe('WorkspaceFiles traversal', () => {
  it.each(['../outside/secret.txt', 'a/../../outside/secret.txt', '/etc/passwd', 'a\0b', ''])(
    'refuses %j for every operation',
    async (path) => {
      for (const operation of [
        () => files.read(path),
        () => files.write(path, 'pwned'),
        () => files.stat(path),
        () => files.remove(path),
      ]) {
        expect((await rejection(operation())).code).toBe('PATH_INVALID');
      }
      expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
    },
  );

  it('refuses list outside the workspace', async () => {
    expect((await rejection(files.list('..'))).code).toBe('PATH_INVALID');
    expect((await rejection(files.list('/etc'))).code).toBe('PATH_INVALID');
  });
});

describe('WorkspaceFiles symlinks', () => {
  beforeEach(async () => {
    await symlink(join(outside, 'secret.txt'), join(ws, 'link.txt'));
    await symlink(outside, join(ws, 'linkdir'));
    await mkdir(join(ws, 'real'));
    await symlink(join(outside, 'secret.txt'), join(ws, 'real', 'inner.txt'));
  });

  it('refuses to read through a symlink in final or intermediate position', async () => {
    for (const path of ['link.txt', 'linkdir/secret.txt', 'real/inner.txt']) {
      const error = await rejection(files.read(path));
      expect(error.code).toBe('FILE_REFUSED');
      expect(error.message).toContain('never follows symlinks');
    }
  });

  it('refuses to write through a symlink and leaves the outside untouched', async () => {
    for (const path of [
      'link.txt',
      'linkdir/secret.txt',
      'linkdir/new.txt',
      'linkdir/sub/new.txt',
      'real/inner.txt',
    ]) {
      const error = await rejection(files.write(path, 'pwned'));
      expect(error.code).toBe('FILE_REFUSED');
      expect(error.message).toContain('never follows symlinks');
    }
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect((await lstat(join(ws, 'link.txt'))).isSymbolicLink()).toBe(true);
  });

  it('lists symlinks as symlinks and never descends into them', async () => {
    const { entries } = await files.list(undefined, { recursive: true });
    expect(entries.map((e) => [e.path, e.type])).toEqual([
      ['link.txt', 'symlink'],
      ['linkdir', 'symlink'],
      ['real', 'directory'],
      ['real/inner.txt', 'symlink'],
    ]);
    expect((await rejection(files.list('linkdir'))).code).toBe('FILE_REFUSED');
  });

  it('stats a symlink without following it', async () => {
    expect(await files.stat('link.txt')).toMatchObject({ type: 'symlink', path: 'link.txt' });
    expect((await rejection(files.stat('linkdir/secret.txt'))).code).toBe('FILE_REFUSED');
  });

  it('removes only the link, never its target', async () => {
    await files.remove('link.txt');
    await files.remove('linkdir');
    expect(existsSync(join(ws, 'link.txt'))).toBe(false);
    expect(existsSync(join(ws, 'linkdir'))).toBe(false);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
    expect((await rejection(files.remove('real/../linkdir/secret.txt'))).code).toBe('PATH_INVALID');
  });

  it('removes a tree holding symlinks without touching their targets', async () => {
    await symlink(outside, join(ws, 'real', 'dirlink'));
    await files.remove('real', { recursive: true });
    expect(existsSync(join(ws, 'real'))).toBe(false);
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
  });
});

describe('WorkspaceFiles special files and sizes', () => {
  it('refuses a FIFO without blocking, for read and write', async () => {
    // A blocking open would hang here until the test timeout.
    execFileSync('mkfifo', [join(ws, 'pipe.txt')]);
    const readError = await rejection(files.read('pipe.txt'));
    expect(readError.code).toBe('FILE_REFUSED');
    expect(readError.message).toContain('FIFO');
    expect((await rejection(files.write('pipe.txt', 'x'))).code).toBe('FILE_REFUSED');
    expect((await files.stat('pipe.txt')).type).toBe('other');
  });

  it('refuses a sparse 1 TiB file by its size, without reading it', async () => {
    await writeFile(join(ws, 'huge.dat'), '');
    await truncate(join(ws, 'huge.dat'), TEBIBYTE);
    const large = new WorkspaceFiles({
      root: ws,
      allowedExtensions: ['*'],
      maxTransferBytes: 100 * 1_048_576,
    });
    const error = await rejection(large.read('huge.dat'));
    // The full 2^40 in the details comes from fstat; a read-then-count would report limit + 1.
    expect(error.code).toBe('FILE_TOO_LARGE');
    expect(error.details).toMatchObject({ sizeBytes: TEBIBYTE, maxTransferBytes: 100 * 1_048_576 });
    expect((await large.list()).entries[0]).toMatchObject({ name: 'huge.dat', sizeBytes: TEBIBYTE });
  });

  it('enforces maxTransferBytes on read and write, at the exact limit', async () => {
    await writeFile(join(ws, 'at-limit.bin'), Buffer.alloc(1024, 1));
    await writeFile(join(ws, 'over.bin'), Buffer.alloc(1025, 1));
    expect((await files.read('at-limit.bin')).length).toBe(1024);
    const readError = await rejection(files.read('over.bin'));
    expect(readError.code).toBe('FILE_TOO_LARGE');
    expect(readError.details).toMatchObject({ sizeBytes: 1025, maxTransferBytes: 1024 });

    expect((await files.write('ok.bin', Buffer.alloc(1024))).sizeBytes).toBe(1024);
    const writeError = await rejection(files.write('big.bin', Buffer.alloc(1025)));
    expect(writeError.code).toBe('FILE_TOO_LARGE');
    expect(writeError.details).toMatchObject({ sizeBytes: 1025, maxTransferBytes: 1024 });
    expect(existsSync(join(ws, 'big.bin'))).toBe(false);
    // A string is measured in UTF-8 bytes, not characters.
    expect((await rejection(files.write('wide.txt', 'é'.repeat(513)))).code).toBe('FILE_TOO_LARGE');
  });

  it('refuses disallowed extensions for read and write, not for list, stat or remove', async () => {
    const typed = new WorkspaceFiles({
      root: ws,
      allowedExtensions: ['txt', 'csv', 'gz'],
      maxTransferBytes: 1024,
    });
    await writeFile(join(ws, 'run.sh'), 'echo');
    await writeFile(join(ws, 'Makefile'), 'all:');

    const error = await rejection(typed.write('evil.sh', 'x'));
    expect(error.code).toBe('FILE_TYPE_NOT_ALLOWED');
    expect(error.message).toContain('txt, csv, gz');
    expect(error.details.allowedExtensions).toEqual(['txt', 'csv', 'gz']);
    expect((await rejection(typed.read('run.sh'))).code).toBe('FILE_TYPE_NOT_ALLOWED');
    expect((await rejection(typed.read('Makefile'))).code).toBe('FILE_TYPE_NOT_ALLOWED');
    expect((await rejection(typed.write('.bashrc', 'x'))).code).toBe('FILE_TYPE_NOT_ALLOWED');

    await typed.write('data.tar.gz', 'gz');
    await typed.write('UPPER.CSV', 'a,b');
    expect((await typed.read('data.tar.gz')).toString()).toBe('gz');
    expect((await typed.list()).entries.map((e) => e.name)).toContain('run.sh');
    expect((await typed.stat('run.sh')).type).toBe('file');
    await typed.remove('run.sh');
    expect(existsSync(join(ws, 'run.sh'))).toBe(false);
  });

  it('refuses paths through a regular file', async () => {
    await writeFile(join(ws, 'plain.txt'), 'x');
    const error = await rejection(files.read('plain.txt/child.txt'));
    expect(error.code).toBe('PATH_INVALID');
    expect(error.message).toContain('not a directory');
    expect((await rejection(files.write('plain.txt/child.txt', 'x'))).code).toBe('PATH_INVALID');
  });

  it('reads a file the sandbox made unreadable for its own uid (host is root) or refuses cleanly', async () => {
    await writeFile(join(ws, 'locked.txt'), 'locked');
    await chmod(join(ws, 'locked.txt'), 0);
    if (process.getuid?.() === 0) {
      expect((await files.read('locked.txt')).toString()).toBe('locked');
    } else {
      expect((await rejection(files.read('locked.txt'))).code).toBe('INTERNAL');
    }
  });
});
