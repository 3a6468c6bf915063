import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, rename, rmdir, stat as statPath, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { VivariumError, expectationMessage } from '../errors/index.js';

/*
 * Why this file looks the way it does: the workspace is writable by hostile code in the sandbox
 * while the host (running as root) works on it. "Resolve, check it is inside, then open" loses a
 * race against a symlink swap (SANDBOX-NOTES point 9), and Node has no openat2. So every path is
 * walked one component at a time, each component opened relative to a directory fd the host
 * already holds, through the magic link `/proc/self/fd/<fd>/<name>`, with `O_NOFOLLOW` on the one
 * component that is resolved by name. A directory fd, once held, stays inside the workspace whatever
 * happens to its name (a rename cannot move it across the bind mount), so nothing reached from it
 * can be outside. Every decision about a file is taken with `fstat` on the opened fd, never on a
 * name.
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fsConstants;

/** Flags to open a directory component: never a symlink, never a non-directory. */
const DIRECTORY_OPEN_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
/** Flags to open a file for reading: never a symlink, and a FIFO cannot block the open. */
const FILE_READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
/** Flags to create the temporary file of a write: a new inode, never an existing entry. */
const FILE_CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK;

/** The prefix under which the sandbox sees the workspace; paths printed by Python carry it. */
export const WORKSPACE_MOUNT_PATH = '/workspace';
/** Longest accepted path component, in UTF-8 bytes (Linux `NAME_MAX`). */
export const MAX_PATH_COMPONENT_BYTES = 255;
/** Longest accepted relative path, in UTF-8 bytes (Linux `PATH_MAX`). */
export const MAX_PATH_BYTES = 4096;
/** Default bound on the entries one {@link WorkspaceFiles.list} call returns. */
export const DEFAULT_MAX_LIST_ENTRIES = 10_000;
/** Deepest directory level a recursive list or remove descends to, counted from where it starts. */
export const MAX_TREE_DEPTH = 128;
/** Mode of files the host creates (before the process umask). */
export const CREATED_FILE_MODE = 0o644;
/** Mode of directories the host creates (before the process umask). */
export const CREATED_DIRECTORY_MODE = 0o755;
/** How many times a recursive remove retries a directory the sandbox keeps refilling. */
const MAX_REMOVE_ATTEMPTS = 5;
/** Size of the reads after the first one, when a file grows while it is read, in bytes. */
const READ_CHUNK_BYTES = 64 * 1024;
/** How many allowed extensions an error message shows before `...`. */
const SHOWN_EXTENSIONS = 12;
/** Largest and smallest times a JavaScript `Date` holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** Options of {@link WorkspaceFiles}. */
export interface WorkspaceFilesOptions {
  /**
   * Absolute host path of the workspace directory (what the sandbox sees as `/workspace`). It must
   * exist and must not be a symlink; it is opened afresh by every operation.
   */
  root: string;
  /**
   * Extensions (lower case, no dot: `csv`) that {@link WorkspaceFiles.read} and
   * {@link WorkspaceFiles.write} accept; `['*']` accepts every file. The extension is what follows
   * the last dot of the file name (`data.tar.gz` → `gz`); a name without one is accepted only by `*`.
   */
  allowedExtensions: readonly string[];
  /** Largest file read or written, in bytes. */
  maxTransferBytes: number;
  /**
   * Host uid given (`fchown`) to every file and directory the host creates, so the sandboxed
   * kernel can modify them. @default undefined (ownership left as created: the engine's uid)
   */
  ownerUid?: number;
  /** Host gid given to every file and directory the host creates. @default undefined */
  ownerGid?: number;
}

/** One entry of the workspace, as `lstat` sees it (a symlink is reported, never followed). */
export interface WorkspaceEntry {
  /** Path relative to the workspace root, POSIX separators, no leading slash. */
  path: string;
  /** Last component of `path`. */
  name: string;
  /** `other` covers FIFOs, sockets and device nodes. */
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Size in bytes: the file's apparent size, a symlink's target length, 0 for directories and others. */
  sizeBytes: number;
  /** Last modification time, ISO 8601 (clamped to the range a `Date` holds). */
  modifiedAt: string;
}

/** Options of {@link WorkspaceFiles.write}. */
export interface WorkspaceWriteOptions {
  /** Create missing parent directories (owned like created files). @default true */
  createParents?: boolean;
  /** Aborts the operation with `ABORTED`. @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link WorkspaceFiles.read}. */
export interface WorkspaceReadOptions {
  /** Aborts the operation with `ABORTED`. @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link WorkspaceFiles.list}. */
export interface WorkspaceListOptions {
  /**
   * Descend into subdirectories (never into symlinks), down to {@link MAX_TREE_DEPTH} levels.
   * @default false
   */
  recursive?: boolean;
  /** Most entries returned; beyond it the result says `truncated: true`. @default 10_000 */
  maxEntries?: number;
  /** Aborts the operation with `ABORTED`. @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link WorkspaceFiles.remove}. */
export interface WorkspaceRemoveOptions {
  /** Remove a directory and everything in it (symlinks inside are unlinked, never followed). @default false */
  recursive?: boolean;
  /** Aborts the operation with `ABORTED`. @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link WorkspaceFiles.stat}. */
export interface WorkspaceStatOptions {
  /** Aborts the operation with `ABORTED`. @default undefined */
  signal?: AbortSignal;
}

/** Result of {@link WorkspaceFiles.list}. */
export interface WorkspaceListing {
  /** Entries sorted by name within each directory; a directory comes right before its contents. */
  entries: WorkspaceEntry[];
  /** True when entries were left out (the `maxEntries` bound or the depth bound was reached). */
  truncated: boolean;
}

/** Result of {@link WorkspaceFiles.write}. */
export interface WorkspaceWriteResult {
  /** The normalised path written, relative to the workspace root. */
  path: string;
  /** Bytes written. */
  sizeBytes: number;
}

/**
 * Validates a path given to the workspace file API and returns it clean: relative to the workspace
 * root, POSIX, with `.` components and repeated slashes removed. A leading `/workspace/` (how the
 * sandbox sees the workspace) is stripped. Refused with `PATH_INVALID`: non-strings, empty paths,
 * other absolute paths, `..` components, NUL bytes, backslashes, components over 255 bytes, paths
 * over 4096 bytes.
 */
/**
 * `FILE_TYPE_NOT_ALLOWED` unless `cleanPath`'s extension is in `allowedExtensions` (`*` allows
 * every file): the host file API's rule, for callers that check before writing (task input files).
 */
export function checkFileExtension(cleanPath: string, allowedExtensions: readonly string[]): void {
  if (allowedExtensions.includes('*')) return;
  const name = cleanPath.slice(cleanPath.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  if (extension !== '' && allowedExtensions.includes(extension)) return;
  const shown = allowedExtensions.slice(0, SHOWN_EXTENSIONS).join(', ');
  const more = allowedExtensions.length > SHOWN_EXTENSIONS ? ', ...' : '';
  const what = extension === '' ? 'has no extension' : `has extension \`${extension}\``;
  throw new VivariumError(
    'FILE_TYPE_NOT_ALLOWED',
    `File type not allowed: \`${cleanPath}\` ${what}; allowed extensions: ${shown}${more}`,
    { details: { path: cleanPath, extension, allowedExtensions: [...allowedExtensions] } },
  );
}

export function normalizeWorkspacePath(path: string): string {
  const components = pathComponents(path, { allowRoot: false });
  return components.join('/');
}

/**
 * The host side of a workspace: read, write, list, stat and remove files in it without ever
 * touching anything outside, whatever the sandbox does to the workspace meanwhile. Symlinks are never
 * followed (a symlink anywhere in a path is refused with `FILE_REFUSED`); only regular files are read
 * or written; sizes are checked before any byte moves.
 */
export class WorkspaceFiles {
  readonly #root: string;
  readonly #allowedExtensions: readonly string[];
  readonly #allowAllExtensions: boolean;
  readonly #maxTransferBytes: number;
  readonly #ownerUid: number | undefined;
  readonly #ownerGid: number | undefined;
  #procChecked = false;

  constructor(options: WorkspaceFilesOptions) {
    const { root, allowedExtensions, maxTransferBytes, ownerUid, ownerGid } = options;
    if (typeof root !== 'string' || !isAbsolute(root) || root.includes('\0')) {
      throw invalidArgument('root', 'an absolute host path of the workspace directory', root);
    }
    const extensionsInput: unknown = allowedExtensions;
    if (!Array.isArray(extensionsInput)) {
      throw invalidArgument(
        'allowedExtensions',
        'an array of lower-case extensions without dot, or `["*"]`',
        allowedExtensions,
      );
    }
    allowedExtensions.forEach((extension: unknown, index) => {
      if (typeof extension !== 'string' || !/^(\*|[a-z0-9]+)$/.test(extension)) {
        throw invalidArgument(
          `allowedExtensions[${index}]`,
          'a lower-case extension without dot (`csv`), or `*`',
          extension,
        );
      }
    });
    if (!Number.isSafeInteger(maxTransferBytes) || maxTransferBytes <= 0) {
      throw invalidArgument('maxTransferBytes', 'a positive integer (bytes)', maxTransferBytes);
    }
    for (const [name, id] of [
      ['ownerUid', ownerUid],
      ['ownerGid', ownerGid],
    ] as const) {
      if (id !== undefined && (!Number.isSafeInteger(id) || id < 0 || id > 0xfffffffe)) {
        throw invalidArgument(name, 'a non-negative integer id, or undefined', id);
      }
    }
    this.#root = root;
    this.#allowedExtensions = Object.freeze([...allowedExtensions]);
    this.#allowAllExtensions = allowedExtensions.includes('*');
    this.#maxTransferBytes = maxTransferBytes;
    this.#ownerUid = ownerUid;
    this.#ownerGid = ownerGid;
  }

  /**
   * Writes `data` (a string is written as UTF-8) to `path`, replacing an existing regular file
   * atomically: the bytes go to a new temporary file in the same directory, which is then renamed
   * over the name, so a failed write leaves the old file intact and an existing inode (another hard
   * link, a file the kernel has open) is never modified. Refused: a symlink anywhere in the path or
   * as the target, a target that is not a regular file, a disallowed extension, more than
   * `maxTransferBytes` bytes.
   */
  async write(
    path: string,
    data: Uint8Array | string,
    options: WorkspaceWriteOptions = {},
  ): Promise<WorkspaceWriteResult> {
    const { createParents = true, signal } = options;
    throwIfAborted(signal);
    const components = pathComponents(path, { allowRoot: false });
    const cleanPath = components.join('/');
    this.#checkExtension(cleanPath);
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw invalidArgument('data', 'a string or a Uint8Array', data);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.byteLength > this.#maxTransferBytes) throw this.#tooLarge(cleanPath, bytes.byteLength);

    const name = lastOf(components);
    const parent = await this.#openDirectory(components.slice(0, -1), {
      cleanPath,
      create: createParents,
      signal,
    });
    try {
      // Only picks the error: the rename below replaces a symlink entry without following it and
      // fails on a directory, so a swap after this check cannot reach outside the workspace.
      const existing = await lstatOrUndefined(entryPath(parent, name));
      if (existing !== undefined && !existing.isFile()) throw refusedType(cleanPath, existing, 'written');
      throwIfAborted(signal);

      const temporaryName = `.vivarium-write-${randomBytes(8).toString('hex')}.tmp`;
      let temporary: FileHandle;
      try {
        temporary = await open(entryPath(parent, temporaryName), FILE_CREATE_FLAGS, CREATED_FILE_MODE);
      } catch (error) {
        throw fileSystemError(error, cleanPath);
      }
      let renamed = false;
      try {
        try {
          await writeAll(temporary, bytes, signal);
          await this.#chownCreated(temporary);
        } finally {
          await temporary.close();
        }
        throwIfAborted(signal);
        try {
          await rename(entryPath(parent, temporaryName), entryPath(parent, name));
        } catch (error) {
          if (
            errorCode(error) === 'EISDIR' ||
            errorCode(error) === 'ENOTEMPTY' ||
            errorCode(error) === 'EEXIST'
          ) {
            throw new VivariumError('FILE_REFUSED', `Refused to write \`${cleanPath}\`: it is a directory`, {
              details: { path: cleanPath, type: 'directory' },
              cause: error,
            });
          }
          throw fileSystemError(error, cleanPath);
        }
        renamed = true;
      } finally {
        if (!renamed) await unlink(entryPath(parent, temporaryName)).catch(() => undefined);
      }
    } finally {
      await parent.close();
    }
    return { path: cleanPath, sizeBytes: bytes.byteLength };
  }

  /**
   * Reads the regular file at `path`. Refused: a symlink anywhere in the path, anything but a regular
   * file (FIFOs are opened non-blocking and refused after `fstat`), a disallowed extension, a file over
   * `maxTransferBytes` (judged by its size before reading, and again by the bytes read, so a file
   * that grows meanwhile is caught too).
   */
  async read(path: string, options: WorkspaceReadOptions = {}): Promise<Buffer> {
    const { signal } = options;
    throwIfAborted(signal);
    const components = pathComponents(path, { allowRoot: false });
    const cleanPath = components.join('/');
    this.#checkExtension(cleanPath);

    const name = lastOf(components);
    const parent = await this.#openDirectory(components.slice(0, -1), { cleanPath, create: false, signal });
    let file: FileHandle;
    try {
      try {
        file = await open(entryPath(parent, name), FILE_READ_FLAGS);
      } catch (error) {
        throw await describeOpenFailure(error, parent, name, cleanPath, name);
      }
    } finally {
      await parent.close();
    }
    try {
      const stats = await file.stat();
      if (!stats.isFile()) throw refusedType(cleanPath, stats, 'read');
      if (stats.size > this.#maxTransferBytes) throw this.#tooLarge(cleanPath, stats.size);
      return await this.#readBounded(file, stats.size, cleanPath, signal);
    } finally {
      await file.close();
    }
  }

  /**
   * Lists the directory at `path` (the workspace root when omitted, `''`, `.` or `/workspace`).
   * Entries are `lstat`ed: a symlink is listed as `symlink` and never followed or descended into.
   */
  async list(path?: string, options: WorkspaceListOptions = {}): Promise<WorkspaceListing> {
    const { recursive = false, maxEntries = DEFAULT_MAX_LIST_ENTRIES, signal } = options;
    throwIfAborted(signal);
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      throw invalidArgument('maxEntries', 'a positive integer', maxEntries);
    }
    const components = path === undefined ? [] : pathComponents(path, { allowRoot: true });
    const cleanPath = components.join('/');
    const directory = await this.#openDirectory(components, { cleanPath, create: false, signal });
    const state: ListState = { entries: [], truncated: false, maxEntries, recursive, signal };
    try {
      await listInto(directory, cleanPath, 0, state);
    } finally {
      await directory.close();
    }
    return { entries: state.entries, truncated: state.truncated };
  }

  /**
   * Removes the file, symlink (the link only) or other entry at `path`. A directory is refused
   * unless `recursive` is set; then its contents are removed by the same rules, never following a
   * symlink. The workspace root itself cannot be removed.
   */
  async remove(path: string, options: WorkspaceRemoveOptions = {}): Promise<void> {
    const { recursive = false, signal } = options;
    throwIfAborted(signal);
    const components = pathComponents(path, { allowRoot: false });
    const cleanPath = components.join('/');
    const name = lastOf(components);
    const parent = await this.#openDirectory(components.slice(0, -1), { cleanPath, create: false, signal });
    try {
      try {
        await unlink(entryPath(parent, name));
        return;
      } catch (error) {
        const code = errorCode(error);
        if (code !== 'EISDIR') throw fileSystemError(error, cleanPath);
        if (!recursive) {
          throw new VivariumError(
            'FILE_REFUSED',
            `Refused to remove \`${cleanPath}\`: it is a directory; pass \`recursive: true\` to remove it with its contents`,
            { details: { path: cleanPath, type: 'directory' }, cause: error },
          );
        }
      }
      await removeTree(parent, name, cleanPath, { depth: 0, signal });
    } finally {
      await parent.close();
    }
  }

  /** Describes the entry at `path` with `lstat` semantics: a symlink is described, never followed. */
  async stat(path: string, options: WorkspaceStatOptions = {}): Promise<WorkspaceEntry> {
    const { signal } = options;
    throwIfAborted(signal);
    const components = pathComponents(path, { allowRoot: false });
    const cleanPath = components.join('/');
    const name = lastOf(components);
    const parent = await this.#openDirectory(components.slice(0, -1), { cleanPath, create: false, signal });
    try {
      let stats: Stats;
      try {
        stats = await lstat(entryPath(parent, name));
      } catch (error) {
        throw fileSystemError(error, cleanPath);
      }
      return toEntry(cleanPath, name, stats);
    } finally {
      await parent.close();
    }
  }

  /**
   * Opens the directory reached by `components` from the root, one component at a time relative to
   * the fd of the previous one, refusing symlinks. The caller owns (and closes) the returned handle.
   */
  async #openDirectory(
    components: readonly string[],
    context: { cleanPath: string; create: boolean; signal: AbortSignal | undefined },
  ): Promise<FileHandle> {
    let current: FileHandle | undefined = await this.#openRoot();
    try {
      for (let index = 0; index < components.length; index += 1) {
        throwIfAborted(context.signal);
        const name = components[index] as string;
        const shownPrefix = components.slice(0, index + 1).join('/');
        const next = await this.#openChildDirectory(current, name, context, shownPrefix);
        const previous: FileHandle = current;
        current = next;
        await previous.close();
      }
      const opened = current;
      current = undefined;
      return opened;
    } finally {
      if (current !== undefined) await current.close();
    }
  }

  async #openRoot(): Promise<FileHandle> {
    let root: FileHandle;
    try {
      root = await open(this.#root, DIRECTORY_OPEN_FLAGS);
    } catch (error) {
      throw new VivariumError(
        'INTERNAL',
        'The workspace directory cannot be opened (missing, or not a directory)',
        {
          details: { errno: errorCode(error) },
          cause: error,
        },
      );
    }
    if (!this.#procChecked) {
      try {
        await assertProcFdWorks(root);
      } catch (error) {
        await root.close();
        throw error;
      }
      this.#procChecked = true;
    }
    return root;
  }

  async #openChildDirectory(
    parent: FileHandle,
    name: string,
    context: { cleanPath: string; create: boolean },
    shownPrefix: string,
  ): Promise<FileHandle> {
    const childPath = entryPath(parent, name);
    try {
      return await open(childPath, DIRECTORY_OPEN_FLAGS);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' || !context.create) {
        throw await describeOpenFailure(error, parent, name, context.cleanPath, shownPrefix);
      }
    }
    // mkdir never follows its last component; the open below refuses whatever replaced the new
    // directory if it is not one.
    let created = false;
    try {
      await mkdir(childPath, CREATED_DIRECTORY_MODE);
      created = true;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, context.cleanPath);
    }
    let child: FileHandle;
    try {
      child = await open(childPath, DIRECTORY_OPEN_FLAGS);
    } catch (error) {
      throw await describeOpenFailure(error, parent, name, context.cleanPath, shownPrefix);
    }
    if (created) {
      try {
        await this.#chownCreated(child);
      } catch (error) {
        await child.close();
        throw error;
      }
    }
    return child;
  }

  async #chownCreated(handle: FileHandle): Promise<void> {
    if (this.#ownerUid === undefined && this.#ownerGid === undefined) return;
    await handle.chown(this.#ownerUid ?? -1, this.#ownerGid ?? -1);
  }

  async #readBounded(
    file: FileHandle,
    sizeBytes: number,
    cleanPath: string,
    signal: AbortSignal | undefined,
  ): Promise<Buffer> {
    const limit = this.#maxTransferBytes;
    const chunks: Buffer[] = [];
    let total = 0;
    // One byte more than expected, so a file that grew since fstat is noticed and read on.
    let wanted = sizeBytes + 1;
    for (;;) {
      throwIfAborted(signal);
      const buffer = Buffer.allocUnsafe(Math.min(wanted, limit + 1 - total));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, total);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) throw this.#tooLarge(cleanPath, total);
      wanted = READ_CHUNK_BYTES;
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
  }

  #checkExtension(cleanPath: string): void {
    if (!this.#allowAllExtensions) checkFileExtension(cleanPath, this.#allowedExtensions);
  }

  #tooLarge(cleanPath: string, sizeBytes: number): VivariumError {
    return new VivariumError(
      'FILE_TOO_LARGE',
      `File too large: \`${cleanPath}\` is ${sizeBytes} bytes or more, the limit is ${this.#maxTransferBytes} bytes (maxTransferBytes)`,
      { details: { path: cleanPath, sizeBytes, maxTransferBytes: this.#maxTransferBytes } },
    );
  }
}

interface ListState {
  entries: WorkspaceEntry[];
  truncated: boolean;
  maxEntries: number;
  recursive: boolean;
  signal: AbortSignal | undefined;
}

async function listInto(
  directory: FileHandle,
  prefix: string,
  depth: number,
  state: ListState,
): Promise<void> {
  // Read one more name than still fits, so a full listing is told from a truncated one; the rest of
  // a huge directory is never held in memory.
  const room = state.maxEntries - state.entries.length;
  const names: Buffer[] = [];
  const iterator = await opendir(procPath(directory), { encoding: 'buffer' as BufferEncoding });
  try {
    for (;;) {
      throwIfAborted(state.signal);
      const dirent = await iterator.read();
      if (dirent === null) break;
      names.push(dirent.name as unknown as Buffer);
      if (names.length > room) break;
    }
  } finally {
    await iterator.close();
  }
  names.sort((left, right) => Buffer.compare(left, right));

  for (const rawName of names) {
    throwIfAborted(state.signal);
    if (state.entries.length >= state.maxEntries) {
      state.truncated = true;
      return;
    }
    const name = rawName.toString('utf8');
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const rawPath = Buffer.concat([Buffer.from(`${procPath(directory)}/`), rawName]);
    let stats: Stats;
    try {
      stats = await lstat(rawPath);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') continue; // removed meanwhile
      throw fileSystemError(error, path);
    }
    state.entries.push(toEntry(path, name, stats));
    if (!state.recursive || !stats.isDirectory()) continue;
    if (depth + 1 >= MAX_TREE_DEPTH) {
      state.truncated = true;
      continue;
    }
    let child: FileHandle;
    try {
      child = await open(rawPath, DIRECTORY_OPEN_FLAGS);
    } catch (error) {
      // Swapped for a symlink or a file, or removed, since the lstat: listed as it was, not entered.
      const code = errorCode(error);
      if (code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENOENT') continue;
      throw fileSystemError(error, path);
    }
    try {
      await listInto(child, path, depth + 1, state);
    } finally {
      await child.close();
    }
  }
}

/** Removes directory `name` in `parent` with its contents; entries are unlinked, never followed. */
async function removeTree(
  parent: FileHandle,
  name: string | Buffer,
  shownPath: string,
  context: { depth: number; signal: AbortSignal | undefined },
): Promise<void> {
  if (context.depth >= MAX_TREE_DEPTH) {
    throw new VivariumError(
      'FILE_REFUSED',
      `Refused to remove \`${shownPath}\`: the tree is deeper than ${MAX_TREE_DEPTH} levels`,
      { details: { path: shownPath, maxDepth: MAX_TREE_DEPTH } },
    );
  }
  const childPath = entryPathRaw(parent, name);
  for (let attempt = 0; attempt < MAX_REMOVE_ATTEMPTS; attempt += 1) {
    throwIfAborted(context.signal);
    let directory: FileHandle;
    try {
      directory = await open(childPath, DIRECTORY_OPEN_FLAGS);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') return;
      // Swapped for a symlink or a file: unlink removes the entry itself, never what it points at.
      if (code === 'ENOTDIR' || code === 'ELOOP') {
        await unlinkIgnoringMissing(childPath, shownPath);
        return;
      }
      throw fileSystemError(error, shownPath);
    }
    try {
      await emptyDirectory(directory, shownPath, context);
    } finally {
      await directory.close();
    }
    try {
      await rmdir(childPath);
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') return;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') continue; // refilled meanwhile
      if (code === 'ENOTDIR') {
        await unlinkIgnoringMissing(childPath, shownPath);
        return;
      }
      throw fileSystemError(error, shownPath);
    }
  }
  throw new VivariumError(
    'FILE_REFUSED',
    `Refused to remove \`${shownPath}\`: its contents kept changing while it was being removed`,
    { details: { path: shownPath, attempts: MAX_REMOVE_ATTEMPTS } },
  );
}

async function emptyDirectory(
  directory: FileHandle,
  shownPath: string,
  context: { depth: number; signal: AbortSignal | undefined },
): Promise<void> {
  const iterator = await opendir(procPath(directory), { encoding: 'buffer' as BufferEncoding });
  try {
    for (;;) {
      throwIfAborted(context.signal);
      const dirent = await iterator.read();
      if (dirent === null) break;
      const rawName = dirent.name as unknown as Buffer;
      const childShown = `${shownPath}/${rawName.toString('utf8')}`;
      try {
        await unlink(entryPathRaw(directory, rawName));
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT') continue;
        if (code !== 'EISDIR') throw fileSystemError(error, childShown);
        await removeTree(directory, rawName, childShown, {
          depth: context.depth + 1,
          signal: context.signal,
        });
      }
    }
  } finally {
    await iterator.close();
  }
}

async function unlinkIgnoringMissing(path: string | Buffer, shownPath: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw fileSystemError(error, shownPath);
  }
}

/**
 * Checks once per instance that `/proc/self/fd/<fd>` leads to the directory the fd holds: without a
 * working /proc the walk would fail in confusing ways, and nothing here may fall back to plain paths.
 */
async function assertProcFdWorks(root: FileHandle): Promise<void> {
  try {
    const [held, throughProc] = await Promise.all([root.stat(), statPath(procPath(root))]);
    if (held.dev === throughProc.dev && held.ino === throughProc.ino) return;
  } catch {
    // reported below
  }
  throw new VivariumError(
    'INTERNAL',
    'The workspace file API needs /proc mounted (it opens paths through /proc/self/fd so symlinks cannot redirect it)',
  );
}

/** Splits and validates a workspace path; `allowRoot` accepts the forms that name the root itself. */
function pathComponents(path: string, options: { allowRoot: boolean }): string[] {
  if (typeof path !== 'string') {
    throw pathInvalid('a string: a relative path inside the workspace (like `data/out.csv`)', path);
  }
  if (path.includes('\0')) {
    throw pathInvalid('a path without NUL bytes', path.replaceAll('\0', '\\0'));
  }
  if (path.includes('\\')) {
    throw pathInvalid('a POSIX path with `/` separators and no backslashes (like `data/out.csv`)', path);
  }
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES + WORKSPACE_MOUNT_PATH.length + 1) {
    throw pathInvalid(`a path of at most ${MAX_PATH_BYTES} bytes`, path);
  }
  let relative = path;
  if (relative === WORKSPACE_MOUNT_PATH) relative = '';
  else if (relative.startsWith(`${WORKSPACE_MOUNT_PATH}/`))
    relative = relative.slice(WORKSPACE_MOUNT_PATH.length + 1);
  else if (relative.startsWith('/')) {
    throw pathInvalid(
      'a path relative to the workspace (like `data/out.csv`, or `/workspace/data/out.csv` as the sandbox sees it)',
      path,
    );
  }
  const components = relative.split('/').filter((component) => component !== '' && component !== '.');
  if (components.includes('..')) {
    throw pathInvalid('a path inside the workspace, without `..` components', path);
  }
  if (components.length === 0 && !options.allowRoot) {
    throw pathInvalid('a non-empty path of a file inside the workspace (like `data/out.csv`)', path);
  }
  if (components.some((component) => Buffer.byteLength(component, 'utf8') > MAX_PATH_COMPONENT_BYTES)) {
    throw pathInvalid(`a path whose components are at most ${MAX_PATH_COMPONENT_BYTES} bytes each`, path);
  }
  if (Buffer.byteLength(components.join('/'), 'utf8') > MAX_PATH_BYTES) {
    throw pathInvalid(`a path of at most ${MAX_PATH_BYTES} bytes`, path);
  }
  return components;
}

function pathInvalid(expectation: string, value: unknown): VivariumError {
  return new VivariumError('PATH_INVALID', expectationMessage('path', expectation, value), {
    details: { path: value },
  });
}

function invalidArgument(name: string, expectation: string, value: unknown): VivariumError {
  return new VivariumError('INVALID_ARGUMENT', expectationMessage(name, expectation, value), {
    details: { field: name },
  });
}

/**
 * Turns a failed open of `name` (in `parent`) into the error the caller sees. `ENOTDIR` comes both
 * from a symlink under `O_DIRECTORY | O_NOFOLLOW` and from a plain file; an lstat tells them apart.
 * That lstat only picks the message: the refusal itself came from the open.
 */
async function describeOpenFailure(
  error: unknown,
  parent: FileHandle,
  name: string,
  cleanPath: string,
  shownPrefix: string,
): Promise<VivariumError> {
  const code = errorCode(error);
  if (code === 'ELOOP') return symlinkRefused(cleanPath, shownPrefix, error);
  if (code === 'ENOTDIR') {
    const stats = await lstatOrUndefined(entryPath(parent, name));
    if (stats?.isSymbolicLink() === true) return symlinkRefused(cleanPath, shownPrefix, error);
    if (stats !== undefined && !stats.isDirectory()) {
      return new VivariumError(
        'PATH_INVALID',
        `Path \`${cleanPath}\` goes through \`${shownPrefix}\`, which is not a directory`,
        {
          details: { path: cleanPath, component: shownPrefix },
          cause: error,
        },
      );
    }
    // Gone or a directory again: it was replaced between the open and the lstat, so it was most
    // likely a symlink being swapped in and out.
    return new VivariumError(
      'FILE_REFUSED',
      `Refused \`${cleanPath}\`: \`${shownPrefix}\` was not a directory when opened and changed since (a symlink being swapped?); the host file API never follows symlinks in the workspace`,
      { details: { path: cleanPath, component: shownPrefix }, cause: error },
    );
  }
  return fileSystemError(error, cleanPath);
}

function symlinkRefused(cleanPath: string, shownPrefix: string, cause: unknown): VivariumError {
  const where = shownPrefix === cleanPath ? 'it is a symbolic link' : `\`${shownPrefix}\` is a symbolic link`;
  return new VivariumError(
    'FILE_REFUSED',
    `Refused \`${cleanPath}\`: ${where}, and the host file API never follows symlinks in the workspace`,
    { details: { path: cleanPath, symlink: shownPrefix }, cause },
  );
}

function refusedType(cleanPath: string, stats: Stats, verb: 'read' | 'written'): VivariumError {
  const type = describeType(stats);
  if (type === 'symbolic link') return symlinkRefused(cleanPath, cleanPath, undefined);
  return new VivariumError(
    'FILE_REFUSED',
    `Refused: \`${cleanPath}\` is a ${type}; only regular files can be ${verb}`,
    { details: { path: cleanPath, type } },
  );
}

function describeType(stats: Stats): string {
  if (stats.isFile()) return 'regular file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symbolic link';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'device';
  return 'special file';
}

/** Maps a Node file-system error to the stable codes; the message never shows host paths. */
function fileSystemError(error: unknown, cleanPath: string): VivariumError {
  if (error instanceof VivariumError) return error;
  const code = errorCode(error);
  switch (code) {
    case 'ENOENT':
      return new VivariumError('FILE_NOT_FOUND', `No such file in the workspace: \`${cleanPath}\``, {
        details: { path: cleanPath },
        cause: error,
      });
    case 'ELOOP':
      return symlinkRefused(cleanPath, cleanPath, error);
    case 'ENXIO':
    case 'ENODEV':
      return new VivariumError(
        'FILE_REFUSED',
        `Refused: \`${cleanPath}\` is not a regular file (a FIFO, socket or device)`,
        {
          details: { path: cleanPath },
          cause: error,
        },
      );
    case 'ENOTDIR':
      return new VivariumError(
        'PATH_INVALID',
        `Path \`${cleanPath}\` goes through an entry that is not a directory`,
        {
          details: { path: cleanPath },
          cause: error,
        },
      );
    case 'EISDIR':
      return new VivariumError('FILE_REFUSED', `Refused: \`${cleanPath}\` is a directory`, {
        details: { path: cleanPath, type: 'directory' },
        cause: error,
      });
    case 'ENAMETOOLONG':
      return pathInvalid(
        `a path whose components are at most ${MAX_PATH_COMPONENT_BYTES} bytes each`,
        cleanPath,
      );
    default:
      return new VivariumError(
        'INTERNAL',
        `Workspace file operation on \`${cleanPath}\` failed (${code ?? 'unknown error'})`,
        {
          details: { path: cleanPath, errno: code },
          cause: error,
        },
      );
  }
}

function toEntry(path: string, name: string, stats: Stats): WorkspaceEntry {
  const type: WorkspaceEntry['type'] = stats.isFile()
    ? 'file'
    : stats.isDirectory()
      ? 'directory'
      : stats.isSymbolicLink()
        ? 'symlink'
        : 'other';
  return {
    path,
    name,
    type,
    sizeBytes: type === 'file' || type === 'symlink' ? stats.size : 0,
    modifiedAt: isoTime(stats.mtimeMs),
  };
}

/** The sandbox may set any mtime (`os.utime`); one outside what a `Date` holds is clamped, not thrown. */
function isoTime(milliseconds: number): string {
  const clamped = Number.isFinite(milliseconds)
    ? Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, milliseconds))
    : 0;
  return new Date(clamped).toISOString();
}

async function writeAll(file: FileHandle, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    throwIfAborted(signal);
    const { bytesWritten } = await file.write(bytes, offset, bytes.byteLength - offset, offset);
    offset += bytesWritten;
  }
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new VivariumError('ABORTED', 'The workspace file operation was aborted', { cause: signal.reason });
  }
}

/** `/proc/self/fd/<fd>`: the directory `handle` holds, whatever its name is now. */
function procPath(handle: FileHandle): string {
  return `/proc/self/fd/${handle.fd}`;
}

/** The entry `name` (one component, validated) of the directory `handle` holds. */
function entryPath(handle: FileHandle, name: string): string {
  return `${procPath(handle)}/${name}`;
}

/** {@link entryPath} for a name read from the directory, kept as bytes (it may not be UTF-8). */
function entryPathRaw(handle: FileHandle, name: string | Buffer): string | Buffer {
  return typeof name === 'string'
    ? entryPath(handle, name)
    : Buffer.concat([Buffer.from(`${procPath(handle)}/`), name]);
}

function lastOf(components: readonly string[]): string {
  return components[components.length - 1] as string;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
