import { validate } from '../errors/index.js';
import type { Execution } from '../kernel/index.js';
import { z } from 'zod';

/** One finished execution with the code that produced it. */
export interface HistoryEntry {
  code: string;
  execution: Execution;
}

/** Entries a session keeps in memory unless told otherwise. */
export const DEFAULT_HISTORY_MAX_ENTRIES = 1_000;
/** Estimated bytes of code and outputs a session keeps in memory unless told otherwise (64 MiB). */
export const DEFAULT_HISTORY_MAX_BYTES = 64 * 1024 * 1024;

/** Options of {@link SessionHistory}. */
export interface SessionHistoryOptions {
  /** Most entries kept; older ones are dropped first. @default DEFAULT_HISTORY_MAX_ENTRIES */
  maxEntries?: number;
  /**
   * Most estimated bytes kept (code, streams, MIME bundles, tracebacks); older entries are dropped
   * first. The newest entry is always kept, whatever its size: it is bounded already by the
   * session's `maxOutputBytes` and `maxDisplayBytes`. @default DEFAULT_HISTORY_MAX_BYTES
   */
  maxBytes?: number;
}

const optionsSchema = z
  .object({
    maxEntries: z.number().int().positive().optional(),
    maxBytes: z.number().int().positive().optional(),
  })
  .strict();

/** UTF-16 length is close enough to UTF-8 bytes for base64 and ASCII, and costs no encoding pass. */
function textSize(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textSize(item), 0);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).reduce((sum, [key, item]) => sum + key.length + textSize(item), 0);
  return 8;
}

/** Estimated in-memory size of an entry: its code, outputs, streams and result. */
export function historyEntrySize(entry: HistoryEntry): number {
  const { execution } = entry;
  return (
    entry.code.length +
    textSize(execution.outputs) +
    execution.stdout.length +
    execution.stderr.length +
    textSize(execution.result) +
    textSize(execution.files) +
    // ids, figures and timestamps
    256
  );
}

/**
 * The last executions of a session, in order, bounded by count and by an estimated byte budget.
 * In memory only: it goes with the session (the HTTP service keeps the full history in its store).
 */
export class SessionHistory {
  readonly maxEntries: number;
  readonly maxBytes: number;
  private readonly items: Array<{ entry: HistoryEntry; sizeBytes: number }> = [];
  private totalBytes = 0;
  private dropped = 0;

  constructor(options: SessionHistoryOptions = {}) {
    const parsed = validate(optionsSchema, options, 'options');
    this.maxEntries = parsed.maxEntries ?? DEFAULT_HISTORY_MAX_ENTRIES;
    this.maxBytes = parsed.maxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
  }

  /** Appends a finished execution, dropping the oldest entries past the bounds. */
  record(code: string, execution: Execution): void {
    const entry = { code, execution };
    const sizeBytes = historyEntrySize(entry);
    this.items.push({ entry, sizeBytes });
    this.totalBytes += sizeBytes;
    while (
      this.items.length > 1 &&
      (this.items.length > this.maxEntries || this.totalBytes > this.maxBytes)
    ) {
      const oldest = this.items.shift();
      if (oldest) this.totalBytes -= oldest.sizeBytes;
      this.dropped += 1;
    }
  }

  /** The entries kept, oldest first (a new array; the entries themselves are shared). */
  entries(): HistoryEntry[] {
    return this.items.map((item) => item.entry);
  }

  /** Entries kept now. */
  get size(): number {
    return this.items.length;
  }

  /** Estimated bytes kept now. */
  get sizeBytes(): number {
    return this.totalBytes;
  }

  /** Entries dropped so far to stay within the bounds. */
  get droppedEntries(): number {
    return this.dropped;
  }
}
