import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../config/index.js';
import type { CreateSessionOptions, Vivarium } from '../engine/index.js';
import { describeValue, isVivariumError, validate, VivariumError } from '../errors/index.js';
import type { Execution, MimeBundle, Output } from '../kernel/index.js';
import { Session } from '../session/index.js';
import type { HistoryEntry } from '../session/session-history.js';

/*
 * Notebooks: a session's history as nbformat 4.5 `.ipynb`, and `.ipynb` files run cell by cell in
 * a session. Execution outputs are Jupyter-shaped already (DESIGN.md), so an output maps 1:1 onto
 * a notebook output; only host-side fields (`transient`, SyntaxError positions) are left out.
 */

/** The nbformat version written: 4.5 is the first with cell ids. */
export const NBFORMAT_MAJOR = 4;
export const NBFORMAT_MINOR = 5;
/** Largest notebook text {@link importNotebook} parses (32 MiB). */
export const DEFAULT_MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024;
/** Most cells {@link importNotebook} accepts. */
export const MAX_NOTEBOOK_CELLS = 10_000;
/** The kernelspec name written into exported notebooks. */
export const DEFAULT_KERNEL_NAME = 'python3';

/** nbformat's multiline string: one string, or a list of lines each ending in `\n` but the last. */
export type MultilineString = string | string[];

export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: MultilineString }
  | { output_type: 'display_data'; data: MimeBundle; metadata: Record<string, unknown> }
  | {
      output_type: 'execute_result';
      execution_count: number | null;
      data: MimeBundle;
      metadata: Record<string, unknown>;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export type NotebookCodeCell = {
  id: string;
  cell_type: 'code';
  metadata: Record<string, unknown>;
  source: MultilineString;
  outputs: NotebookOutput[];
  execution_count: number | null;
};

export type NotebookTextCell = {
  id: string;
  cell_type: 'markdown' | 'raw';
  metadata: Record<string, unknown>;
  source: MultilineString;
  attachments?: Record<string, unknown>;
};

export type NotebookCell = NotebookCodeCell | NotebookTextCell;

/** An nbformat 4 notebook (type aliases, not interfaces: they serialise as plain JSON records). */
export type Notebook = {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: NotebookCell[];
};

/** `metadata.vivarium` of an executed code cell. */
export interface CellVivariumMetadata {
  executionId: string;
  status: Execution['status'];
  durationMs: number;
  startedAt: string;
  cpuMs: number;
  peakMemoryBytes: number;
  /** Host-side reason of a `timeout`, `memory_exceeded` or `killed`. Only when there is one. */
  reason?: string;
  /** A fresh kernel ran this cell: variables of earlier cells were lost. Only when true. */
  namespaceReset?: true;
  /** Which outputs were cut by the session's limits. Only when something was. */
  truncated?: Execution['truncated'];
}

// ---------------------------------------------------------------------------------------------
// Export

/** Options of {@link exportNotebook}. */
export interface ExportNotebookOptions {
  /** Written as `metadata.vivarium.sessionId`. @default the first entry's `execution.sessionId`, else none */
  sessionId?: string;
  /** `metadata.kernelspec.name`. @default DEFAULT_KERNEL_NAME (`python3`) */
  kernelName?: string;
  /** `metadata.language_info.version`: the kernel's Python (`vv.sandbox.interpreterInfo.version`). @default left out */
  languageVersion?: string;
  /** `metadata.vivarium.exportedAt`. @default now */
  exportedAt?: Date;
}

const exportOptionsSchema = z
  .object({
    sessionId: z.string().min(1).optional(),
    kernelName: z.string().min(1).max(256).optional(),
    languageVersion: z.string().min(1).max(64).optional(),
    exportedAt: z.date().optional(),
  })
  .strict();

/** Valid nbformat 4.5 cell id. */
const CELL_ID_PATTERN = /^[a-zA-Z0-9-_]{1,64}$/;
/** MIME types nbformat writes as lists of lines (as Jupyter does); others stay one string. */
const SPLIT_MIME_TYPES = new Set(['application/javascript', 'image/svg+xml']);
const JSON_MIME_PATTERN = /^application\/(.*\+)?json$/;

/** `"a\nb\n"` → `["a\n", "b\n"]`: how Jupyter writes sources and text, one line per item. */
export function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === '' ? [] : lines;
}

/** A multiline string as one string. */
export function joinLines(value: MultilineString): string {
  return typeof value === 'string' ? value : value.join('');
}

/** A random cell id: 12 hex characters. */
export function newCellId(): string {
  return randomBytes(6).toString('hex');
}

/** Hands out unique cell ids, keeping a wanted one when it is valid and unused. */
class CellIds {
  private readonly used = new Set<string>();

  take(wanted: string | undefined): string {
    let id = wanted !== undefined && CELL_ID_PATTERN.test(wanted) && !this.used.has(wanted) ? wanted : '';
    while (id === '' || this.used.has(id)) id = newCellId();
    this.used.add(id);
    return id;
  }
}

function notebookBundle(bundle: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, value] of Object.entries(bundle)) {
    if (JSON_MIME_PATTERN.test(mime)) out[mime] = value;
    else if (typeof value === 'string')
      out[mime] = mime.startsWith('text/') || SPLIT_MIME_TYPES.has(mime) ? splitLines(value) : value;
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) out[mime] = value;
    // Not text: nbformat wants a string for every non-JSON type.
    else out[mime] = JSON.stringify(value) ?? String(value);
  }
  return out;
}

/** One Execution output as an nbformat output (host-only fields left out). */
export function toNotebookOutput(output: Output): NotebookOutput {
  switch (output.output_type) {
    case 'stream':
      return { output_type: 'stream', name: output.name, text: splitLines(output.text) };
    case 'display_data':
      return {
        output_type: 'display_data',
        data: notebookBundle(output.data),
        metadata: { ...output.metadata },
      };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        execution_count: output.execution_count,
        data: notebookBundle(output.data),
        metadata: { ...output.metadata },
      };
    case 'error':
      return {
        output_type: 'error',
        ename: output.ename,
        evalue: output.evalue,
        traceback: [...output.traceback],
      };
  }
}

/**
 * An execution's outputs as notebook outputs, in order. An execution that failed without an error
 * output (none today, but the contract allows it) gets one from `execution.error`, so the notebook
 * shows why the cell stopped.
 */
export function notebookOutputs(execution: Execution): NotebookOutput[] {
  const outputs = execution.outputs.map(toNotebookOutput);
  if (execution.error && !outputs.some((output) => output.output_type === 'error')) {
    outputs.push({
      output_type: 'error',
      ename: execution.error.ename,
      evalue: execution.error.evalue,
      traceback: [...execution.error.traceback],
    });
  }
  return outputs;
}

/** `metadata.vivarium` of a cell that ran as `execution`. */
export function cellVivariumMetadata(execution: Execution, namespaceReset = false): CellVivariumMetadata {
  const { truncated } = execution;
  return {
    executionId: execution.id,
    status: execution.status,
    durationMs: execution.durationMs,
    startedAt: execution.startedAt,
    cpuMs: execution.cpuMs,
    peakMemoryBytes: execution.peakMemoryBytes,
    ...(execution.reason === null ? {} : { reason: execution.reason }),
    ...(namespaceReset || execution.namespaceReset ? { namespaceReset: true as const } : {}),
    ...(truncated.output || truncated.display || truncated.files ? { truncated: { ...truncated } } : {}),
  };
}

function kernelMetadata(kernelName: string, languageVersion: string | undefined): Record<string, unknown> {
  return {
    kernelspec: { name: kernelName, display_name: 'Python 3', language: 'python' },
    language_info: {
      name: 'python',
      ...(languageVersion === undefined ? {} : { version: languageVersion }),
      mimetype: 'text/x-python',
      file_extension: '.py',
      pygments_lexer: 'ipython3',
      codemirror_mode: { name: 'ipython', version: 3 },
      nbconvert_exporter: 'python',
    },
  };
}

/**
 * A session's history (code + Execution per cell, oldest first) as an nbformat 4.5 notebook: one
 * code cell per execution with its execution count and outputs (streams, display data with images,
 * results, errors), `kernelspec` and `language_info`, and Vivarium metadata (session id and export
 * time on the notebook; execution id, status, timing per cell). Validates against nbformat's schema.
 */
export function exportNotebook(
  entries: ReadonlyArray<HistoryEntry>,
  options: ExportNotebookOptions = {},
): Notebook {
  const parsed = validate(exportOptionsSchema, options, 'options');
  const given: unknown = entries;
  if (!Array.isArray(given))
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`entries\` to be an array of {code, execution}, got ${describeValue(entries)}`,
    );
  const ids = new CellIds();
  const cells: NotebookCodeCell[] = entries.map((entry) => ({
    id: ids.take(entry.execution.id),
    cell_type: 'code',
    metadata: { vivarium: cellVivariumMetadata(entry.execution) },
    source: splitLines(entry.code),
    outputs: notebookOutputs(entry.execution),
    execution_count: entry.execution.executionCount,
  }));
  const sessionId = parsed.sessionId ?? entries[0]?.execution.sessionId;
  return {
    nbformat: NBFORMAT_MAJOR,
    nbformat_minor: NBFORMAT_MINOR,
    metadata: {
      ...kernelMetadata(parsed.kernelName ?? DEFAULT_KERNEL_NAME, parsed.languageVersion),
      vivarium: {
        ...(sessionId === undefined ? {} : { sessionId }),
        exportedAt: (parsed.exportedAt ?? new Date()).toISOString(),
      },
    },
    cells,
  };
}

/**
 * The in-memory history of a live session (`session.history()`) as a notebook; see
 * {@link exportNotebook}. A session keeps its last 1000 executions; the service's
 * `GET /v1/sessions/:id/notebook` exports the full stored history instead.
 */
export function exportSessionNotebook(
  session: Session,
  options: Omit<ExportNotebookOptions, 'sessionId'> = {},
): Notebook {
  return exportNotebook(session.history(), { ...options, sessionId: session.id });
}

// ---------------------------------------------------------------------------------------------
// Import

const multilineSchema = z.union([z.string(), z.array(z.string())]);
const metadataSchema = z.record(z.string(), z.unknown());

const importedCellSchema = z.discriminatedUnion('cell_type', [
  z.looseObject({
    cell_type: z.literal('code'),
    id: z.string().optional(),
    metadata: metadataSchema.default({}),
    source: multilineSchema,
    outputs: z.array(z.looseObject({ output_type: z.string() })).default([]),
    execution_count: z.number().int().nonnegative().nullable().default(null),
  }),
  z.looseObject({
    cell_type: z.enum(['markdown', 'raw']),
    id: z.string().optional(),
    metadata: metadataSchema.default({}),
    source: multilineSchema,
    attachments: z.record(z.string(), z.unknown()).optional(),
  }),
]);

const importedNotebookSchema = z.looseObject({
  nbformat: z.literal(4),
  nbformat_minor: z.number().int().nonnegative(),
  metadata: metadataSchema.default({}),
  cells: z.array(importedCellSchema).max(MAX_NOTEBOOK_CELLS),
});

/** A code cell of an imported notebook. */
export interface ImportedCodeCell {
  /** Position among all cells of the notebook. */
  index: number;
  id: string;
  source: string;
}

/** What {@link importNotebook} gives: the notebook (normalised to nbformat 4.5) and its code cells. */
export interface ImportedNotebook {
  /** Every cell with a unique valid id (added where the file had none), outputs kept as they were. */
  notebook: Notebook;
  codeCells: ImportedCodeCell[];
}

/** Options of {@link importNotebook}. */
export interface ImportNotebookOptions {
  /** Longest notebook text accepted, bytes. @default DEFAULT_MAX_NOTEBOOK_BYTES */
  maxBytes?: number;
}

function parseNotebookText(text: string, maxBytes: number): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes)
    throw new VivariumError(
      'PAYLOAD_TOO_LARGE',
      `Expected the notebook to be at most ${maxBytes} bytes, got ${bytes} bytes`,
      { details: { maxBytes, sizeBytes: bytes } },
    );
  try {
    // eslint-disable-next-line no-restricted-syntax -- size capped above, validated by importedNotebookSchema
    return JSON.parse(text);
  } catch (error) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected the notebook to be JSON (an .ipynb file), but it does not parse: ${(error as Error).message}`,
    );
  }
}

/**
 * Reads an `.ipynb` (its JSON text, or the parsed object): validates the nbformat 4 shape with zod,
 * refuses other major versions with a clear error, gives every cell a unique valid id (notebooks
 * older than 4.5 have none) and lists the code cells with their source. Throws `INVALID_ARGUMENT`
 * (or `PAYLOAD_TOO_LARGE` past `maxBytes`).
 */
export function importNotebook(input: unknown, options: ImportNotebookOptions = {}): ImportedNotebook {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_NOTEBOOK_BYTES;
  const raw = typeof input === 'string' ? parseNotebookText(input, maxBytes) : input;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`notebook\` to be an nbformat 4 notebook (an object with \`nbformat\`, \`metadata\`, \`cells\`), got ${describeValue(raw)}`,
    );
  const major = (raw as { nbformat?: unknown }).nbformat;
  if (major !== NBFORMAT_MAJOR) {
    const hint =
      typeof major === 'number' && major < NBFORMAT_MAJOR
        ? '; upgrade it with `jupyter nbconvert --to notebook --nbformat 4 FILE.ipynb`'
        : '';
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`nbformat\` to be 4 (only nbformat 4 notebooks are supported), got ${describeValue(major)}${hint}`,
      { details: { nbformat: major ?? null } },
    );
  }
  const parsed = validate(importedNotebookSchema, raw, 'notebook');
  const ids = new CellIds();
  const codeCells: ImportedCodeCell[] = [];
  const cells: NotebookCell[] = parsed.cells.map((cell, index) => {
    const id = ids.take(cell.id);
    if (cell.cell_type === 'code') {
      codeCells.push({ index, id, source: joinLines(cell.source) });
      return {
        id,
        cell_type: 'code',
        metadata: cell.metadata,
        source: cell.source,
        outputs: cell.outputs as NotebookOutput[],
        execution_count: cell.execution_count,
      };
    }
    return {
      id,
      cell_type: cell.cell_type,
      metadata: cell.metadata,
      source: cell.source,
      ...(cell.attachments === undefined ? {} : { attachments: cell.attachments }),
    };
  });
  return {
    notebook: {
      nbformat: NBFORMAT_MAJOR,
      nbformat_minor: Math.max(parsed.nbformat_minor, NBFORMAT_MINOR),
      metadata: parsed.metadata,
      cells,
    },
    codeCells,
  };
}

/**
 * A Python script in the percent format (cells start at lines `# %%`; `# %% [markdown]` cells are
 * comment lines holding Markdown, `# %% [raw]` raw text) as a notebook without outputs. Text before
 * the first marker is a cell of its own; blank lines around a cell are dropped, empty cells too.
 */
export function notebookFromScript(script: string): Notebook {
  const ids = new CellIds();
  const cells: NotebookCell[] = [];
  let kind: 'code' | 'markdown' | 'raw' = 'code';
  let lines: string[] = [];
  const flush = (): void => {
    while (lines.length > 0 && (lines[0] ?? '').trim() === '') lines.shift();
    while (lines.length > 0 && (lines[lines.length - 1] ?? '').trim() === '') lines.pop();
    if (lines.length > 0) {
      const body =
        kind === 'markdown' ? lines.map((line) => line.replace(/^# ?/, '')).join('\n') : lines.join('\n');
      const source = splitLines(body);
      cells.push(
        kind === 'code'
          ? {
              id: ids.take(undefined),
              cell_type: 'code',
              metadata: {},
              source,
              outputs: [],
              execution_count: null,
            }
          : { id: ids.take(undefined), cell_type: kind, metadata: {}, source },
      );
    }
    lines = [];
  };
  for (const line of script.replace(/\r\n/g, '\n').split('\n')) {
    const marker = /^#\s*%%(.*)$/.exec(line);
    if (marker) {
      flush();
      const tag = /\[(\w+)\]/.exec(marker[1] ?? '')?.[1]?.toLowerCase();
      kind = tag === 'markdown' || tag === 'md' ? 'markdown' : tag === 'raw' ? 'raw' : 'code';
    } else {
      lines.push(line);
    }
  }
  flush();
  return {
    nbformat: NBFORMAT_MAJOR,
    nbformat_minor: NBFORMAT_MINOR,
    metadata: kernelMetadata(DEFAULT_KERNEL_NAME, undefined),
    cells,
  };
}

// ---------------------------------------------------------------------------------------------
// Run

/** Progress of {@link runNotebook}, one event before and one after each code cell it runs. */
export type NotebookCellEvent =
  | {
      type: 'cell-start';
      /** Position among all cells. */
      cellIndex: number;
      cellId: string;
      /** 1-based position among the code cells, and their number. */
      codeCellNumber: number;
      codeCellCount: number;
    }
  | {
      type: 'cell-end';
      cellIndex: number;
      cellId: string;
      codeCellNumber: number;
      codeCellCount: number;
      execution: Execution;
    };

/** How one cell runs; the HTTP service passes one that admits, stores and audits each execution. */
export type NotebookCellExecutor = (
  session: Session,
  code: string,
  options: { timeoutMs?: number; signal?: AbortSignal },
) => Promise<Execution>;

/** Options of {@link runNotebook}. */
export interface RunNotebookOptions {
  /** Run the remaining cells after a failed one (a dead kernel is restarted first). @default false */
  continueOnError?: boolean;
  /** Wall-clock limit of each cell, ms. @default the session's `limits.timeoutMs` */
  timeoutMs?: number;
  /** Called before and after each code cell runs. Exceptions thrown here are ignored. */
  onCell?: (event: NotebookCellEvent) => void;
  /** Aborting interrupts the running cell and stops; the result says `aborted`. */
  signal?: AbortSignal;
  /** Session options when `target` is a `Vivarium` (a fresh session, closed afterwards). @default {} */
  session?: CreateSessionOptions;
  /** `language_info.version` of the result. @default the engine's interpreter version when known */
  languageVersion?: string;
  /** How a cell runs. @default `session.execute(code, options)` */
  executeCell?: NotebookCellExecutor;
}

const runOptionsSchema = z
  .object({
    continueOnError: z.boolean().optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    onCell: z.function().optional(),
    signal: z.instanceof(AbortSignal).optional(),
    session: z.record(z.string(), z.unknown()).optional(),
    languageVersion: z.string().min(1).max(64).optional(),
    executeCell: z.function().optional(),
  })
  .strict();

/** The first code cell that did not end `ok`. */
export interface NotebookFailure {
  cellIndex: number;
  cellId: string;
  status: Execution['status'];
  ename: string | null;
  evalue: string | null;
  reason: string | null;
}

/** What a notebook run did. */
export interface NotebookRunSummary {
  /** `ok` when every non-empty code cell ran and ended `ok`. */
  status: 'ok' | 'error';
  sessionId: string;
  codeCells: number;
  /** Code cells that ran. */
  executed: number;
  ok: number;
  /** Executed cells that did not end `ok`. */
  failed: number;
  /** Code cells left without outputs: after a stop, on abort, or empty. */
  notExecuted: number;
  firstFailure: NotebookFailure | null;
  /** True when `signal` stopped the run. */
  aborted: boolean;
  durationMs: number;
}

/** What {@link runNotebook} gives back. */
export interface NotebookRunResult {
  /** The executed notebook (nbformat 4.5): outputs and counts filled, unexecuted code cells cleared. */
  notebook: Notebook;
  summary: NotebookRunSummary;
  /** The executions, in cell order. */
  executions: Execution[];
}

function isVivarium(target: unknown): target is Vivarium {
  return (
    target !== null &&
    typeof target === 'object' &&
    typeof (target as { createSession?: unknown }).createSession === 'function'
  );
}

/**
 * Runs a notebook's code cells in order in one session — a fresh one when `target` is the engine
 * (closed afterwards), or the given live session — and returns the executed notebook: outputs and
 * execution counts filled in, per-cell `metadata.vivarium`, code cells that did not run left
 * without outputs. Stops at the first cell that does not end `ok` unless `continueOnError`.
 * Markdown and raw cells are kept as they are. A Python error is data; engine faults throw.
 */
export async function runNotebook(
  target: Vivarium | Session,
  notebook: unknown,
  options: RunNotebookOptions = {},
): Promise<NotebookRunResult> {
  const parsedOptions = validate(runOptionsSchema, options, 'options');
  const { continueOnError = false, timeoutMs, signal } = parsedOptions;
  const onCell = options.onCell;
  const executeCell: NotebookCellExecutor =
    options.executeCell ?? ((session, code, cellOptions) => session.execute(code, cellOptions));
  if (!(target instanceof Session) && !isVivarium(target))
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`target\` to be a Vivarium engine or a Session, got ${describeValue(target)}`,
    );
  const imported = importNotebook(notebook);
  const startedAtMs = performance.now();
  const owned = !(target instanceof Session);
  const session =
    target instanceof Session
      ? target
      : await target.createSession({ ...(options.session ?? {}), ...(signal ? { signal } : {}) });
  const languageVersion =
    parsedOptions.languageVersion ??
    (target instanceof Session ? undefined : target.sandbox.interpreterInfo?.version);
  const notify = (event: NotebookCellEvent): void => {
    try {
      onCell?.(event);
    } catch {
      // A progress callback never stops the run.
    }
  };

  const cells = imported.notebook.cells.map((cell): NotebookCell => {
    if (cell.cell_type !== 'code') return cell;
    const metadata = { ...cell.metadata };
    // Timing of an earlier run and our own metadata describe outputs that are gone.
    delete metadata.execution;
    delete metadata.vivarium;
    return { ...cell, metadata, outputs: [], execution_count: null };
  });
  const executions: Execution[] = [];
  let failed = 0;
  let firstFailure: NotebookFailure | null = null;
  let aborted = false;
  let stopped = false;
  try {
    const codeCellCount = imported.codeCells.length;
    for (const [position, codeCell] of imported.codeCells.entries()) {
      if (signal?.aborted) {
        aborted = true;
        break;
      }
      if (stopped) break;
      if (codeCell.source.trim() === '') continue;
      const base = {
        cellIndex: codeCell.index,
        cellId: codeCell.id,
        codeCellNumber: position + 1,
        codeCellCount,
      };
      let namespaceReset = false;
      if (session.state === 'dead' && executions.length > 0) {
        // Only reached with continueOnError: the failed cell killed the kernel (timeout, memory).
        await session.restart(signal ? { signal } : {});
        namespaceReset = true;
      }
      notify({ type: 'cell-start', ...base });
      let execution: Execution;
      try {
        execution = await executeCell(session, codeCell.source, {
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (isVivariumError(error, 'ABORTED')) {
          aborted = true;
          break;
        }
        throw error;
      }
      executions.push(execution);
      cells[codeCell.index] = {
        id: codeCell.id,
        cell_type: 'code',
        metadata: {
          ...cells[codeCell.index]?.metadata,
          vivarium: cellVivariumMetadata(execution, namespaceReset),
        },
        source: cells[codeCell.index]?.source ?? codeCell.source,
        outputs: notebookOutputs(execution),
        execution_count: execution.executionCount,
      };
      notify({ type: 'cell-end', ...base, execution });
      if (execution.status !== 'ok') {
        failed += 1;
        firstFailure ??= {
          cellIndex: codeCell.index,
          cellId: codeCell.id,
          status: execution.status,
          ename: execution.error?.ename ?? null,
          evalue: execution.error?.evalue ?? null,
          reason: execution.reason,
        };
        if (signal?.aborted) aborted = true;
        if (!continueOnError || aborted) stopped = true;
      }
    }
  } finally {
    if (owned) await session.close();
  }

  const durationMs = Math.round(performance.now() - startedAtMs);
  const nonEmpty = imported.codeCells.filter((cell) => cell.source.trim() !== '').length;
  const summary: NotebookRunSummary = {
    status: failed === 0 && !aborted && executions.length === nonEmpty ? 'ok' : 'error',
    sessionId: session.id,
    codeCells: imported.codeCells.length,
    executed: executions.length,
    ok: executions.length - failed,
    failed,
    notExecuted: imported.codeCells.length - executions.length,
    firstFailure,
    aborted,
    durationMs,
  };
  const metadata = {
    ...imported.notebook.metadata,
    ...kernelMetadata(DEFAULT_KERNEL_NAME, languageVersion),
    vivarium: {
      sessionId: session.id,
      executedAt: new Date().toISOString(),
      status: summary.status,
      durationMs,
    },
  };
  return {
    notebook: { nbformat: NBFORMAT_MAJOR, nbformat_minor: NBFORMAT_MINOR, metadata, cells },
    summary,
    executions,
  };
}
