import { createHash, randomBytes } from 'node:crypto';
import { cp, readdir, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { join, relative } from 'node:path';

async function listFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '__pycache__' || entry.name.endsWith('.pyc')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(root, path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path);
    else await chmod(path, 0o644);
  }
}

/**
 * Copies the runtime into `<sandboxDir>/runtime-<content hash>` once, atomically (temp + rename),
 * so engines sharing a data directory never pull a runtime out from under each other's kernels.
 * Returns the directory.
 */
export async function installRuntime(sourceDir: string, sandboxDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(sourceDir)) {
    hash
      .update(relative(sourceDir, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  const target = join(sandboxDir, `runtime-${hash.digest('hex').slice(0, 16)}`);
  if (await exists(target)) return target;
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await cp(sourceDir, temp, {
      recursive: true,
      filter: (source) => !source.includes('__pycache__') && !source.endsWith('.pyc'),
    });
    await chmodTree(temp);
    await rename(temp, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another engine installed the same content first: theirs is as good as ours.
      if (!(await exists(target))) throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return target;
}

/** Writes a small file atomically (temp + rename), readable by all. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, content, { mode: 0o644 });
  await rename(temp, path);
}
