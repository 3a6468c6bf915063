import { Vivarium } from '../../engine/index.js';
import { batch, DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY } from '../../tools/index.js';
import type { BatchItemResult, BatchProgressEvent, BatchReport } from '../../tools/index.js';
import { existingDirectory, listenForInterrupts, type CliIo } from '../cli-io.js';
import {
  engineOptionsFromFlags,
  limitsFromFlags,
  type EngineFlags,
  type LimitFlags,
} from '../engine-flags.js';
import { EXIT_OK, EXIT_PYTHON_ERROR, EXIT_SIGINT } from '../exit-codes.js';
import { neutralizeControls, renderTable } from '../render.js';
import { CliUsageError, flagExpectation } from '../usage-error.js';

/** Flags of `vivarium batch` (raw commander values). */
export interface BatchFlags extends EngineFlags, LimitFlags {
  /** `--parallel` alone is `true` (default concurrency); `--parallel N` is `'N'`. */
  parallel?: boolean | string;
  stopOnFailure?: boolean;
  json?: boolean;
  workspace?: string;
}

/** Width of the progress bar, characters. */
const PROGRESS_BAR_WIDTH = 24;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** `--parallel 4` → 4; `--parallel` alone → the default. */
export function parseParallel(raw: boolean | string | undefined): number | null {
  if (raw === undefined || raw === false) return null;
  if (raw === true) return DEFAULT_BATCH_CONCURRENCY;
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_BATCH_CONCURRENCY)
    throw flagExpectation('--parallel', `a whole number from 1 to ${MAX_BATCH_CONCURRENCY}`, raw);
  return value;
}

/** A failure's one-line explanation. */
function detailOf(result: BatchItemResult): string {
  if (result.fault) return `${result.fault.code}: ${result.fault.message}`;
  const error = result.execution?.error;
  if (error) return `${error.ename}: ${error.evalue}`;
  if (result.execution?.reason) return result.execution.reason;
  if (result.namespaceReset) return 'ran on a fresh kernel (variables of earlier items lost)';
  return '';
}

/**
 * Progress on stderr: a bar redrawn in place on a terminal, one plain line per finished item
 * otherwise (a log, a CI job).
 */
class BatchProgress {
  private readonly tty: boolean;
  private drawn = false;
  private ok = 0;
  private failed = 0;

  constructor(private readonly stderr: CliIo['stderr']) {
    this.tty = stderr.isTTY === true;
  }

  readonly handle = (event: BatchProgressEvent): void => {
    if (event.type === 'item-start') {
      if (this.tty) this.draw(event.total, this.ok + this.failed, event.name);
      return;
    }
    if (event.result.status === 'ok') this.ok += 1;
    else this.failed += 1;
    if (this.tty) {
      this.draw(event.total, event.completed, event.name);
      return;
    }
    const detail = detailOf(event.result);
    this.stderr.write(
      `${neutralizeControls(
        `[${event.completed}/${event.total}] ${event.name}: ${event.result.status} ${seconds(event.result.durationMs)}${detail ? ` (${detail.split('\n')[0] ?? ''})` : ''}`,
      )}\n`,
    );
  };

  private draw(total: number, done: number, current: string): void {
    const filled = total === 0 ? PROGRESS_BAR_WIDTH : Math.round((done / total) * PROGRESS_BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(PROGRESS_BAR_WIDTH - filled)}`;
    const name = neutralizeControls(current.replace(/\s+/g, ' ')).slice(0, 40);
    // \r and "erase line": the bar redraws over itself.
    this.stderr.write(`\r\x1b[2K[${bar}] ${done}/${total}  ok ${this.ok}  failed ${this.failed}  ${name}`);
    this.drawn = true;
  }

  /** Clears the bar so what follows starts on a clean line. */
  end(): void {
    if (this.drawn) this.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/** The human summary: a table of items, then one line of counts. */
export function batchSummaryText(report: BatchReport): string {
  const table = renderTable(
    ['NAME', 'STATUS', 'DURATION', 'DETAIL'],
    report.results.map((result) => [
      result.name,
      result.status,
      result.status === 'skipped' ? '-' : seconds(result.durationMs),
      detailOf(result).split('\n')[0] ?? '',
    ]),
  );
  const counts = Object.entries(report.counts)
    .filter(([status, count]) => status !== 'total' && count > 0)
    .map(([status, count]) => `${count} ${status}`)
    .join(', ');
  const total = report.counts.total;
  return `${table}\n${total} item${total === 1 ? '' : 's'} (${report.mode}): ${counts || 'none'} in ${seconds(report.totalDurationMs)}${report.aborted ? ', interrupted' : ''}\n`;
}

/** `vivarium batch FILE…`: runs the files, prints a report; exit 0 when every item ended `ok`, else 1. */
export async function batchCommand(files: string[], flags: BatchFlags, io: CliIo): Promise<number> {
  if (files.length === 0) throw new CliUsageError('Expected one or more Python FILEs to run');
  const concurrency = parseParallel(flags.parallel);
  const engineOptions = engineOptionsFromFlags(flags);
  const limits = limitsFromFlags(flags);
  const workspaceDir =
    flags.workspace === undefined ? undefined : await existingDirectory('--workspace', flags.workspace);
  if (workspaceDir !== undefined && concurrency !== null)
    throw new CliUsageError(
      'Pass either `--workspace` or `--parallel`: parallel items run in separate sandboxes, one workspace each',
    );

  const vv = await Vivarium.start({ ...engineOptions, pool: { size: 0 } });
  const abort = new AbortController();
  const interrupts = listenForInterrupts({
    onInterrupt: () => abort.abort(),
    stderr: io.stderr,
    exitCode: EXIT_SIGINT,
  });
  const progress = new BatchProgress(io.stderr);
  let report: BatchReport;
  try {
    report = await batch(
      vv,
      files.map((file) => ({ name: file, file })),
      {
        mode: concurrency === null ? 'sequential' : 'parallel',
        ...(concurrency === null ? {} : { concurrency }),
        stopOnFirstFailure: flags.stopOnFailure === true,
        signal: abort.signal,
        onProgress: progress.handle,
        session: {
          ...(Object.keys(limits).length > 0 ? { limits } : {}),
          ...(workspaceDir === undefined ? {} : { workspaceDir }),
        },
      },
    );
  } finally {
    progress.end();
    interrupts.dispose();
    await vv.stop();
  }
  if (flags.json === true) io.stdout.write(`${JSON.stringify(report)}\n`);
  else io.stdout.write(batchSummaryText(report));
  return report.ok ? EXIT_OK : EXIT_PYTHON_ERROR;
}
