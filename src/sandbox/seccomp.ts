import { createHash } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VivariumError } from '../errors/index.js';

/**
 * The seccomp filter: a second layer under the bubblewrap profile. Default allow with a denylist
 * (namespaces, mounts, ptrace, bpf, keyctl, perf_event_open, userfaultfd, io_uring, kexec and
 * modules, TIOCSTI/TIOCLINUX, netlink other than NETLINK_ROUTE, non-default personalities; any
 * non-native syscall ABI kills the process). `scripts/build-seccomp.py` generates it with
 * libseccomp at build time; bwrap loads it from a descriptor (`--seccomp FD`) and applies it to
 * the sandboxed process once the sandbox is set up.
 */

/**
 * Where `npm run build` writes the filter: `dist/seccomp/filter.bpf` of the package, resolved from
 * this module's own file (`src/sandbox/` and `dist/sandbox/` are both two levels below the package
 * root), so a packaged install finds the copy it ships.
 */
export const DEFAULT_SECCOMP_FILTER_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'dist',
  'seccomp',
  'filter.bpf',
);

/** Bytes of one classic BPF instruction (`struct sock_filter`). */
export const SECCOMP_INSTRUCTION_BYTES = 8;
/** Most instructions the kernel accepts in one filter (`BPF_MAXINSNS`). */
export const MAX_SECCOMP_INSTRUCTIONS = 4096;

/** How to get a filter back. */
export const REBUILD_SECCOMP_HINT =
  'regenerate it with `/usr/bin/python3 scripts/build-seccomp.py dist/seccomp/filter.bpf` (needs `apt-get install -y python3-seccomp`), or rerun `scripts/setup.sh`; `sandbox.seccomp: false` runs without this layer';

/** A validated filter, as {@link loadSeccompFilter} found it. */
export interface SeccompFilter {
  /** Absolute path of the blob; opened again for every launch. */
  path: string;
  /** SHA-256 of the blob, hex. */
  sha256: string;
  sizeBytes: number;
  instructionCount: number;
}

/**
 * Reads and checks the filter at `path`: present, not empty, a whole number of 8-byte
 * instructions, at most {@link MAX_SECCOMP_INSTRUCTIONS}. The kernel checks the program itself
 * when bwrap installs it (a malformed one stops bwrap from starting). Throws `SANDBOX_UNAVAILABLE`
 * saying how to regenerate the filter: the sandbox fails closed, never silently without it.
 */
export async function loadSeccompFilter(
  filterPath: string = DEFAULT_SECCOMP_FILTER_PATH,
): Promise<SeccompFilter> {
  const path = resolve(filterPath);
  let blob: Buffer;
  try {
    blob = await readFile(path);
  } catch (error) {
    throw unusable(
      path,
      `it cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      error,
    );
  }
  if (blob.length === 0) throw unusable(path, 'it is empty');
  if (blob.length % SECCOMP_INSTRUCTION_BYTES !== 0)
    throw unusable(
      path,
      `its size (${blob.length} bytes) is not a multiple of ${SECCOMP_INSTRUCTION_BYTES} (one BPF instruction)`,
    );
  const instructionCount = blob.length / SECCOMP_INSTRUCTION_BYTES;
  if (instructionCount > MAX_SECCOMP_INSTRUCTIONS)
    throw unusable(
      path,
      `it has ${instructionCount} instructions, more than the kernel's ${MAX_SECCOMP_INSTRUCTIONS}`,
    );
  return {
    path,
    sha256: createHash('sha256').update(blob).digest('hex'),
    sizeBytes: blob.length,
    instructionCount,
  };
}

/**
 * Opens the filter read-only for one launch; the descriptor goes to bwrap (`--seccomp FD`), and
 * whoever spawns closes it. Throws `SANDBOX_UNAVAILABLE` when the file went away since it was loaded.
 */
export function openSeccompFilter(filter: SeccompFilter): number {
  try {
    // libuv opens with O_CLOEXEC: only the child it is mapped into (by dup2) gets the descriptor.
    return openSync(filter.path, fsConstants.O_RDONLY);
  } catch (error) {
    throw unusable(
      filter.path,
      `it cannot be opened (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      error,
    );
  }
}

/** Closes the engine's copies of a launch's descriptors (after spawn, or when it did not happen); already closed ones are ignored. */
export function closeDescriptors(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

function unusable(path: string, problem: string, cause?: unknown): VivariumError {
  return new VivariumError(
    'SANDBOX_UNAVAILABLE',
    `The seccomp filter ${path} is unusable: ${problem}. Fix: ${REBUILD_SECCOMP_HINT}`,
    {
      details: { seccompFilter: path, problem, fix: REBUILD_SECCOMP_HINT },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}
