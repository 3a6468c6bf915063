import { z } from 'zod';
import { MAX_TIMER_MS } from '../config/index.js';
import { isVivariumError, validate, VivariumError } from '../errors/index.js';
import { normalizeWorkspacePath, type Session } from '../session/index.js';
import { runSandboxTool } from './sandbox-tool.js';

/** Wall clock of one describe, kernel start excluded, unless the caller says otherwise. */
export const DEFAULT_DESCRIBE_TIMEOUT_MS = 20_000;
/** Bytes of one file the describe reads (line counts, JSON scans, decompression), unless told otherwise. */
export const DEFAULT_DESCRIBE_MAX_BYTES_READ = 64 * 1_048_576;
/** Declared uncompressed size above which an archive is flagged as a possible bomb. */
export const DEFAULT_DESCRIBE_MAX_UNCOMPRESSED_BYTES = 1_073_741_824;
/** Compression ratio (uncompressed : compressed) above which an archive is flagged as a possible bomb. */
export const DESCRIBE_BOMB_RATIO = 100;
/**
 * Share of `timeoutMs` the tool's own loops may use (they stop and answer `partial: true`), and the
 * share after which a library call still running is interrupted (SIGALRM in the sandbox). What is
 * left is for answering; past `timeoutMs` the side kernel is killed and the answer says so.
 */
const SOFT_BUDGET_SHARE = 0.6;
const HARD_BUDGET_SHARE = 0.8;

/** Options of {@link describeFile}. */
export interface DescribeFileOptions {
  /**
   * Wall clock of the describe in the sandbox. The tool answers `partial: true` within it (its
   * loops stop at 60 %, a stuck library call is interrupted at 80 %); past it the side kernel is
   * killed and the answer is `kind: 'unknown'`, `partial: true`. @default DEFAULT_DESCRIBE_TIMEOUT_MS
   */
  timeoutMs?: number;
  /**
   * Bytes read from the file for what needs a pass over it: line and row counts (estimated past
   * it), the JSON scan (at most 32 MiB of it), the decompressed stream of a compressed tar.
   * @default DEFAULT_DESCRIBE_MAX_BYTES_READ
   */
  maxBytesRead?: number;
  /** Declared uncompressed size over which an archive gets `bombSuspected`. @default DEFAULT_DESCRIBE_MAX_UNCOMPRESSED_BYTES */
  maxUncompressedBytes?: number;
  /** Aborts the describe with `ABORTED` (the side kernel is killed). @default undefined */
  signal?: AbortSignal;
}

const describeOptionsSchema = z
  .object({
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    maxBytesRead: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    maxUncompressedBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

const count = z.number().int().nonnegative();
const nullableCount = count.nullable();

/** What every description carries. */
const baseShape = {
  /** The workspace-relative path described (normalised). */
  path: z.string(),
  sizeBytes: count,
  /** True when a budget (time, bytes, nodes) or a defect of the file cut the description short. */
  partial: z.boolean(),
  /** Why the description is partial, and what else is worth knowing (a suspected bomb, a guess). */
  warnings: z.array(z.string()),
};

const columnSchema = z.object({ name: z.string(), dtype: z.string() });

/** CSV/TSV: the dialect, the columns with pandas dtypes of the first rows, the row count. */
export const csvDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('csv'),
  format: z.enum(['csv', 'tsv']),
  /** Python codec name (`ascii`, `utf-8`, `utf-8-sig`, `windows-1252`, …), from a sample. */
  encoding: z.string(),
  /** 1 for a BOM or valid ASCII/UTF-8, chardet's confidence otherwise. */
  encodingConfidence: z.number(),
  delimiter: z.string(),
  quoteChar: z.string(),
  hasHeader: z.boolean(),
  columnCount: count,
  /** pandas dtypes of the first 1000 rows (`int64`, `float64`, `object`, `bool`, `datetime64[ns]`). */
  columns: z.array(columnSchema),
  /** Up to 5 data rows as written in the file, cells cut at 200 characters. */
  firstRows: z.array(z.array(z.string())),
  /** Data rows (the header excluded); an estimate when `rowCountExact` is false. */
  rowCount: nullableCount,
  rowCountExact: z.boolean(),
});

const sheetSchema = z.object({
  name: z.string(),
  /** Rows below the first (header) row, from the sheet's dimension record. */
  rowCount: nullableCount,
  columnCount: nullableCount,
  /** The first row's values. */
  columns: z.array(z.string()),
  /** Up to 5 rows after the first, stringified. */
  firstRows: z.array(z.array(z.string())),
  rowCountExact: z.boolean().optional(),
  type: z.literal('chartsheet').optional(),
});

/** Excel: sheets with their size, header row and first rows. */
export const excelDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('excel'),
  format: z.enum(['xlsx', 'xlsm', 'xls']),
  sheetCount: nullableCount,
  /** The first 50 sheets. */
  sheets: z.array(sheetSchema),
  bombSuspected: z.boolean().optional(),
});

/** JSON and NDJSON: shape, keys, array lengths, one sample path per leaf kind. */
export const jsonDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('json'),
  format: z.enum(['json', 'ndjson']),
  encoding: z.string(),
  /** The document's type; for NDJSON the type of the records. */
  topLevelType: z.enum(['object', 'array', 'string', 'number', 'boolean', 'null', 'unknown']),
  /** First 50 keys of the top-level object (of the first element of a top-level array; of the records). */
  keys: z.array(z.string()),
  keyCount: count,
  /** Elements of a top-level array, records of an NDJSON file; null for other documents. */
  length: nullableCount,
  lengthExact: z.boolean(),
  /** Arrays by path shape (the shallowest 50), with their length; `complete: false` when the scan ended inside. */
  arrays: z.array(z.object({ path: z.string(), length: count, complete: z.boolean() })),
  /** One sample path per (path shape, leaf type): `{path: '$.items[0].price', type: 'number'}`. */
  leaves: z.array(z.object({ path: z.string(), type: z.string() })),
  maxDepth: count,
});

const headingSchema = z.object({ level: count, text: z.string() });

/** Text, Markdown, logs: encoding, lines, head, Markdown headings. */
export const textDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('text'),
  format: z.enum(['text', 'markdown', 'log']),
  encoding: z.string(),
  encodingConfidence: z.number(),
  /** First 20 lines, each cut at 200 characters. */
  head: z.array(z.string()),
  lineCount: nullableCount,
  lineCountExact: z.boolean(),
  /** Markdown only: ATX headings outside code fences (first 100), with their 1-based line. */
  headings: z.array(headingSchema.extend({ line: count })).optional(),
});

/** PDF: pages, document information, the first text found. */
export const pdfDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('pdf'),
  pageCount: nullableCount,
  title: z.string().nullable(),
  author: z.string().nullable(),
  subject: z.string().nullable(),
  creator: z.string().nullable(),
  producer: z.string().nullable(),
  encrypted: z.boolean(),
  /** Text of the first page that has some (among the first 5), cut at 2000 characters. */
  firstText: z.string().nullable(),
  firstTextPage: z.number().int().positive().nullable(),
});

/** DOCX: paragraphs, tables, headings (`Title` is level 0), the first paragraphs. */
export const docxDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('docx'),
  paragraphCount: nullableCount,
  tableCount: nullableCount,
  title: z.string().nullable(),
  author: z.string().nullable(),
  headings: z.array(headingSchema),
  firstParagraphs: z.array(z.string()),
  bombSuspected: z.boolean().optional(),
});

/** Images: from the header only, pixels are never decoded. */
export const imageDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('image'),
  /** Pillow's format name: `PNG`, `JPEG`, `GIF`, `BMP`, `TIFF`, `WEBP`, `ICO`, `SVG`, … */
  format: z.string(),
  width: nullableCount,
  height: nullableCount,
  /** Pillow's mode (`RGB`, `L`, `P`, `RGBA`, …); null for SVG or when Pillow could not open it. */
  mode: z.string().nullable(),
  frameCount: nullableCount,
  /** Over Pillow's `MAX_IMAGE_PIXELS`. */
  bombSuspected: z.boolean().optional(),
});

/** HDF5: groups and datasets (first 200) with shapes and dtypes, root attributes. */
export const hdf5DescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('hdf5'),
  groupCount: count,
  datasetCount: count,
  datasets: z.array(
    z.object({
      path: z.string(),
      shape: z.array(count),
      dtype: z.string(),
      chunks: z.array(count).optional(),
      compression: z.string().optional(),
    }),
  ),
  attributes: z.record(z.string(), z.string()),
});

/** NetCDF-4 (through h5py) or classic netCDF 3 (through scipy): dimensions, variables, attributes. */
export const netcdfDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('netcdf'),
  format: z.enum(['netcdf4', 'netcdf3']),
  dimensions: z.array(z.object({ name: z.string(), size: count, unlimited: z.boolean() })),
  variables: z.array(
    z.object({
      name: z.string(),
      shape: z.array(count),
      dtype: z.string(),
      dimensions: z.array(z.string()),
      units: z.string().optional(),
      longName: z.string().optional(),
      standardName: z.string().optional(),
    }),
  ),
  attributes: z.record(z.string(), z.string()),
});

/** Archives, listed without extracting anything; sizes are the ones the archive declares. */
export const archiveDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('archive'),
  /** `zip`, `tar`, `tar.gz`, `tar.bz2`, `tar.xz`, `gz`, `bz2`, `xz`, `7z`. */
  format: z.string(),
  entryCount: nullableCount,
  entryCountExact: z.boolean(),
  /** The first 100 entries. */
  entries: z.array(
    z.object({
      name: z.string(),
      type: z.enum(['file', 'directory', 'symlink', 'other']),
      sizeBytes: nullableCount,
      compressedSizeBytes: nullableCount,
      encrypted: z.boolean().optional(),
    }),
  ),
  compressedSizeBytes: count,
  uncompressedSizeBytes: nullableCount,
  compressionRatio: z.number().nullable(),
  /** Ratio over 100, uncompressed size over the limit, or overlapping zip entries. Never extracted. */
  bombSuspected: z.boolean(),
});

/** Parquet/Feather schema, when pyarrow is installed in the sandbox (else `unsupported`). */
export const columnarDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('columnar'),
  format: z.enum(['parquet', 'feather']),
  rowCount: nullableCount,
  columnCount: count,
  columns: z.array(columnSchema),
});

/** A type recognised but not readable here (7z without py7zr, Parquet without pyarrow, .doc, …). */
export const unsupportedDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('unsupported'),
  format: z.string(),
  reason: z.string(),
});

/** A zero-byte file. */
export const emptyDescriptionSchema = z.object({ ...baseShape, kind: z.literal('empty') });

/** Not identified (binary data of no known type), or the describe was killed at its timeout. */
export const unknownDescriptionSchema = z.object({
  ...baseShape,
  kind: z.literal('unknown'),
  reason: z.string(),
  /** The first 32 bytes, hex. */
  headHex: z.string(),
});

/** What {@link describeFile} returns: a union discriminated by `kind`. */
export const fileDescriptionSchema = z
  .discriminatedUnion('kind', [
    csvDescriptionSchema,
    excelDescriptionSchema,
    jsonDescriptionSchema,
    textDescriptionSchema,
    pdfDescriptionSchema,
    docxDescriptionSchema,
    imageDescriptionSchema,
    hdf5DescriptionSchema,
    netcdfDescriptionSchema,
    archiveDescriptionSchema,
    columnarDescriptionSchema,
    unsupportedDescriptionSchema,
    emptyDescriptionSchema,
    unknownDescriptionSchema,
  ])
  .meta({ id: 'FileDescription' });

export type FileDescription = z.infer<typeof fileDescriptionSchema>;
export type FileKind = FileDescription['kind'];
export type CsvDescription = z.infer<typeof csvDescriptionSchema>;
export type ExcelDescription = z.infer<typeof excelDescriptionSchema>;
export type JsonDescription = z.infer<typeof jsonDescriptionSchema>;
export type TextDescription = z.infer<typeof textDescriptionSchema>;
export type PdfDescription = z.infer<typeof pdfDescriptionSchema>;
export type DocxDescription = z.infer<typeof docxDescriptionSchema>;
export type ImageDescription = z.infer<typeof imageDescriptionSchema>;
export type Hdf5Description = z.infer<typeof hdf5DescriptionSchema>;
export type NetcdfDescription = z.infer<typeof netcdfDescriptionSchema>;
export type ArchiveDescription = z.infer<typeof archiveDescriptionSchema>;
export type ColumnarDescription = z.infer<typeof columnarDescriptionSchema>;
export type UnsupportedDescription = z.infer<typeof unsupportedDescriptionSchema>;
export type EmptyDescription = z.infer<typeof emptyDescriptionSchema>;
export type UnknownDescription = z.infer<typeof unknownDescriptionSchema>;

/** Execution statuses of a side kernel that was stopped from outside: answered as a partial result. */
const STOPPED_STATUSES = new Set(['timeout', 'memory_exceeded', 'killed']);

/**
 * Describes a workspace file for prompts and people — its kind, shape and a small sample — computed
 * in a side kernel of the session (same sandbox and limits; the session's namespace untouched), so
 * the host never parses user files. Identified by content first (magic numbers), extension second.
 *
 * Bounded in time and memory: line counts and scans stop at `maxBytesRead` or the time budget and
 * answer `partial: true` with estimates and a warning; archives are listed, never extracted, with
 * bombs flagged; images are never decoded. A file the sandbox cannot finish within `timeoutMs` is
 * answered as `kind: 'unknown'`, `partial: true`, never a hang.
 *
 * Throws `PATH_INVALID` (bad path), `FILE_NOT_FOUND`, `FILE_REFUSED` (a directory, symlink or
 * special file), `INVALID_ARGUMENT` (bad options), `ABORTED`, `TOOL_FAILED` (the tool itself broke).
 */
export async function describeFile(
  session: Session,
  path: string,
  options: DescribeFileOptions = {},
): Promise<FileDescription> {
  const parsed = validate(describeOptionsSchema, options, 'options');
  const {
    timeoutMs = DEFAULT_DESCRIBE_TIMEOUT_MS,
    maxBytesRead = DEFAULT_DESCRIBE_MAX_BYTES_READ,
    maxUncompressedBytes = DEFAULT_DESCRIBE_MAX_UNCOMPRESSED_BYTES,
    signal,
  } = parsed;
  const cleanPath = normalizeWorkspacePath(path);
  const entry = await session.files.stat(cleanPath, signal ? { signal } : {});
  if (entry.type !== 'file') {
    throw new VivariumError(
      'FILE_REFUSED',
      `Refused: \`${cleanPath}\` is a ${entry.type}; only regular files can be described`,
      { details: { path: cleanPath, type: entry.type } },
    );
  }
  const args = {
    path: cleanPath,
    timeBudgetMs: Math.max(1, Math.floor(timeoutMs * SOFT_BUDGET_SHARE)),
    hardTimeBudgetMs: Math.max(1, Math.floor(timeoutMs * HARD_BUDGET_SHARE)),
    maxBytesRead,
    maxUncompressedBytes,
    bombRatio: DESCRIBE_BOMB_RATIO,
  };
  try {
    const { result } = await runSandboxTool(
      { session, tool: 'file_metadata', args, timeoutMs, ...(signal ? { signal } : {}) },
      fileDescriptionSchema,
    );
    return result;
  } catch (error) {
    if (signal?.aborted || !isVivariumError(error, 'TOOL_FAILED')) throw error;
    const status = error.details.status;
    if (typeof status === 'string' && STOPPED_STATUSES.has(status)) {
      return {
        path: cleanPath,
        sizeBytes: entry.sizeBytes,
        kind: 'unknown',
        reason: `The describe was stopped (${status.replace('_', ' ')}) before it could answer`,
        headHex: '',
        partial: true,
        warnings: [
          status === 'timeout'
            ? `The sandbox did not answer within ${timeoutMs} ms; the file is too costly to describe (raise \`timeoutMs\` or lower \`maxBytesRead\`)`
            : `The sandbox was stopped (${status.replace('_', ' ')}) while reading the file; it is too costly to describe within the session's limits`,
        ],
      };
    }
    const ename = (error.details.error as { ename?: unknown } | null | undefined)?.ename;
    if (ename === 'FileNotFoundError') {
      throw new VivariumError('FILE_NOT_FOUND', `No such file in the workspace: \`${cleanPath}\``, {
        details: { path: cleanPath },
        cause: error,
      });
    }
    if (ename === 'IsADirectoryError' || ename === 'OSError' || ename === 'PermissionError') {
      throw new VivariumError(
        'FILE_REFUSED',
        `Refused: \`${cleanPath}\` could not be opened as a regular file in the sandbox (${String(ename)})`,
        { details: { path: cleanPath }, cause: error },
      );
    }
    throw error;
  }
}
