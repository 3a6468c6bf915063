import { randomInt } from 'node:crypto';

/** Options of {@link UidAllocator}. */
export interface UidAllocatorOptions {
  /** First uid of the range. */
  start: number;
  /** Number of uids in the range. */
  size: number;
}

/**
 * Hands out a distinct unprivileged host uid per kernel when the engine runs as root, so
 * `RLIMIT_NPROC` counts one kernel's processes only and kernels cannot signal each other.
 * Engines sharing a host should be given disjoint ranges.
 */
export class UidAllocator {
  private readonly start: number;
  private readonly size: number;
  private readonly inUse = new Set<number>();
  private cursor: number;

  constructor(options: UidAllocatorOptions) {
    this.start = options.start;
    this.size = options.size;
    this.cursor = randomInt(options.size);
  }

  /** A uid not handed out by this allocator right now. */
  acquire(): number {
    for (let attempt = 0; attempt < this.size; attempt += 1) {
      const uid = this.start + ((this.cursor + attempt) % this.size);
      if (!this.inUse.has(uid)) {
        this.inUse.add(uid);
        this.cursor = (this.cursor + attempt + 1) % this.size;
        return uid;
      }
    }
    throw new Error(`All ${this.size} sandbox uids from ${this.start} are in use`);
  }

  /** Marks a uid as taken (a workspace restored from disk keeps the uid that owns its files). */
  reserve(uid: number): void {
    this.inUse.add(uid);
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }
}
