import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readFile, rm, rmdir, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** How workspaces are bounded. */
export type QuotaMechanism = 'loop' | 'none';

/** Bounds of one workspace. */
export interface VolumeBounds {
  maxBytes: number;
  maxFiles: number;
}

/** Whether per-workspace ext4 volumes can be made here, and why not. */
export async function detectLoopVolumes(): Promise<{ available: boolean; problem: string | null }> {
  if (process.getuid?.() !== 0) return { available: false, problem: 'needs root (mount of a loop device)' };
  for (const path of ['/dev/loop-control', '/usr/sbin/mkfs.ext4', '/usr/bin/mount']) {
    try {
      await access(path, path.startsWith('/dev') ? fsConstants.W_OK : fsConstants.X_OK);
    } catch {
      return {
        available: false,
        problem: `${path} is missing${path.includes('mkfs') ? ' (apt-get install -y e2fsprogs)' : ''}`,
      };
    }
  }
  return { available: true, problem: null };
}

/**
 * A workspace as its own small ext4 filesystem in a sparse image file, loop-mounted at the
 * workspace directory: bytes and inodes are bounded by the filesystem itself, so a full workspace
 * fails the writing call in Python with ENOSPC, frees up when files are deleted, and neither the
 * host disk nor other sessions notice. The image persists beside the data; it costs only what is
 * written.
 */
export async function createVolume(options: {
  imagePath: string;
  mountPoint: string;
  bounds: VolumeBounds;
  uid: number | undefined;
}): Promise<void> {
  const { imagePath, mountPoint, bounds } = options;
  await writeFile(imagePath, '', { mode: 0o600 });
  try {
    await truncate(imagePath, bounds.maxBytes);
    const owner = options.uid ?? 0;
    await execFileAsync(
      'mkfs.ext4',
      [
        '-q',
        '-F',
        '-m',
        '0',
        '-N',
        String(bounds.maxFiles),
        '-J',
        'size=4',
        '-E',
        `lazy_itable_init=1,lazy_journal_init=1,root_owner=${owner}:${owner}`,
        imagePath,
      ],
      { env: TOOL_ENV, timeout: 30_000 },
    );
    await execFileAsync('mount', ['-o', 'loop,nosuid,nodev', imagePath, mountPoint], {
      env: TOOL_ENV,
      timeout: 30_000,
    });
  } catch (error) {
    await rm(imagePath, { force: true });
    throw error;
  }
  try {
    await rmdir(`${mountPoint}/lost+found`).catch(() => undefined);
    await execFileAsync('chmod', ['0700', mountPoint], { env: TOOL_ENV });
  } catch (error) {
    await destroyVolume({ imagePath, mountPoint });
    throw error;
  }
}

/** Unmounts a workspace volume (the loop device goes with it); the image stays. Idempotent. */
export async function unmountVolume(options: { mountPoint: string }): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    try {
      await execFileAsync('umount', [options.mountPoint], { env: TOOL_ENV, timeout: 30_000 });
      return;
    } catch (error) {
      const message = String((error as { stderr?: string }).stderr ?? '');
      if (/not mounted|no mount point|not found/i.test(message)) return;
      if (attempt === 9) {
        await execFileAsync('umount', ['-l', options.mountPoint], { env: TOOL_ENV }).catch(() => undefined);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Mounts an existing workspace image again (after a restart of the service). Idempotent. */
export async function mountVolume(options: { imagePath: string; mountPoint: string }): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  if (mounts.split('\n').some((line) => line.split(' ')[4] === options.mountPoint)) return;
  await execFileAsync('mount', ['-o', 'loop,nosuid,nodev', options.imagePath, options.mountPoint], {
    env: TOOL_ENV,
    timeout: 30_000,
  });
}

/** Unmounts and deletes the image. Idempotent. */
export async function destroyVolume(options: { imagePath: string; mountPoint: string }): Promise<void> {
  await unmountVolume(options);
  await rm(options.imagePath, { force: true });
}
