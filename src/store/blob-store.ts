import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VivariumError } from '../errors/index.js';

/** Temp files older than this are leftovers of a crash and removed at open. */
export const STALE_BLOB_TEMP_MS = 60 * 60 * 1000;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const TEMP_SUFFIX = '.tmp';

/** Options of {@link BlobStore}. */
export interface BlobStoreOptions {
  /** Directory of the blob files, created (mode 0700) by `open()`. Usually `<dataDir>/blobs`. */
  dir: string;
}

/** A stored blob: its name and its size. */
export interface BlobInfo {
  /** sha256 of the content, hex: the file is `<dir>/<sha256>.b64`. */
  sha256: string;
  /** Bytes in the file (base64 text is ASCII, so also its length in characters). */
  sizeBytes: number;
}

/**
 * Content-addressed text files beside the database: `<dir>/<sha256>.b64`. A blob is written to a
 * temp file, fsynced, renamed into place and the directory fsynced, so a name that exists always
 * has its whole content, and it exists on disk before any row that refers to it is committed.
 * The same content is stored once.
 */
export class BlobStore {
  readonly dir: string;

  constructor(options: BlobStoreOptions) {
    this.dir = options.dir;
  }

  /** Creates the directory and removes temp files left by a crash mid-write. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(TEMP_SUFFIX)) continue;
      const path = join(this.dir, name);
      try {
        if (now - (await stat(path)).mtimeMs > STALE_BLOB_TEMP_MS) await rm(path, { force: true });
      } catch {
        // Another process may have renamed or removed it meanwhile.
      }
    }
  }

  /** The file of a blob. Throws for anything but a sha256 in hex, so no name can leave `dir`. */
  pathOf(sha256: string): string {
    if (!SHA256_PATTERN.test(sha256))
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected a sha256 in hex as a blob name, got \`${sha256}\``,
      );
    return join(this.dir, `${sha256}.b64`);
  }

  /** Stores `content` (durably when the promise resolves) and returns its name and size. */
  async put(content: string): Promise<BlobInfo> {
    const bytes = Buffer.from(content, 'utf8');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256);
    try {
      if ((await stat(path)).size === bytes.length) return { sha256, sizeBytes: bytes.length };
    } catch {
      // Not there yet.
    }
    const temp = join(this.dir, `.${sha256}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw new VivariumError('INTERNAL', `Could not write blob ${sha256} in ${this.dir}`, { cause: error });
    }
    await this.syncDir();
    return { sha256, sizeBytes: bytes.length };
  }

  /**
   * A blob's content, or null when it is missing, unreadable or not `expectedSizeBytes` long.
   * Never throws for a bad name or a damaged file: a reader gets null and carries on.
   */
  async get(sha256: string, expectedSizeBytes?: number): Promise<string | null> {
    if (!SHA256_PATTERN.test(sha256)) return null;
    try {
      const content = await readFile(this.pathOf(sha256), 'utf8');
      if (expectedSizeBytes !== undefined && Buffer.byteLength(content, 'utf8') !== expectedSizeBytes)
        return null;
      return content;
    } catch {
      return null;
    }
  }

  /** Makes the rename itself durable. */
  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
