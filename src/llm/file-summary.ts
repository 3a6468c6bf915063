import type { PromptFile } from './generator-types.js';
import { formatBytes, headBytes, stripControl } from './text-budget.js';

/** Rows of a table shown in a prompt (the description may hold more). */
const SAMPLE_ROWS = 3;
/** Characters of one sample cell or preview line. */
const CELL_CHARS = 60;
/** Columns, keys, datasets, entries listed before `… N more`. */
const LIST_ITEMS = 40;
/** Lines of a text preview. */
const PREVIEW_LINES = 8;
/** Characters of a PDF's first text. */
const PDF_TEXT_CHARS = 400;

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function str(fields: Fields, key: string): string | null {
  const value = fields[key];
  return typeof value === 'string' ? value : null;
}
function num(fields: Fields, key: string): number | null {
  const value = fields[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
function list(fields: Fields, key: string): unknown[] {
  const value = fields[key];
  return Array.isArray(value) ? value : [];
}
function records(fields: Fields, key: string): Fields[] {
  return list(fields, key).filter(isFields);
}
function strings(fields: Fields, key: string): string[] {
  return list(fields, key).filter((item): item is string => typeof item === 'string');
}
function cell(value: string): string {
  const clean = stripControl(value).replace(/\s+/g, ' ');
  return clean.length > CELL_CHARS ? `${clean.slice(0, CELL_CHARS - 1)}…` : clean;
}
function count(value: number | null, exact: unknown, noun: string): string | null {
  if (value === null) return null;
  return `${exact === false ? '~' : ''}${value.toLocaleString('en-US')} ${noun}`;
}
function listed(items: readonly string[]): string {
  const shown = items.slice(0, LIST_ITEMS).join(', ');
  return items.length > LIST_ITEMS ? `${shown}, … ${String(items.length - LIST_ITEMS)} more` : shown;
}
function rows(values: unknown[], delimiter: string): string[] {
  return values
    .slice(0, SAMPLE_ROWS)
    .filter(Array.isArray)
    .map((row) => `    ${(row as unknown[]).map((value) => cell(String(value))).join(delimiter)}`);
}
function joinFacts(facts: readonly (string | null)[]): string {
  return facts.filter((fact): fact is string => fact !== null && fact !== '').join(', ');
}

/** The lines after a file's headline, by kind. */
function detailLines(kind: string, d: Fields): { facts: string; lines: string[] } {
  switch (kind) {
    case 'csv': {
      const columns = records(d, 'columns').map(
        (c) => `${str(c, 'name') ?? '?'} (${str(c, 'dtype') ?? '?'})`,
      );
      const delimiter = str(d, 'delimiter') ?? ',';
      const sample = rows(list(d, 'firstRows'), delimiter === '\t' ? '\t' : delimiter);
      return {
        facts: joinFacts([
          str(d, 'format')?.toUpperCase() ?? 'CSV',
          count(num(d, 'rowCount'), d.rowCountExact, 'rows'),
          count(num(d, 'columnCount'), true, 'columns'),
          `delimiter ${JSON.stringify(delimiter)}`,
          str(d, 'encoding'),
          d.hasHeader === false ? 'no header row' : null,
        ]),
        lines: [
          ...(columns.length > 0 ? [`  columns: ${listed(columns)}`] : []),
          ...(sample.length > 0 ? ['  first rows:', ...sample] : []),
        ],
      };
    }
    case 'excel': {
      const sheets = records(d, 'sheets');
      const lines: string[] = [];
      for (const sheet of sheets.slice(0, 10)) {
        const size = joinFacts([
          count(num(sheet, 'rowCount'), sheet.rowCountExact, 'rows'),
          count(num(sheet, 'columnCount'), true, 'columns'),
        ]);
        lines.push(`  sheet ${JSON.stringify(str(sheet, 'name') ?? '?')}${size ? ` (${size})` : ''}`);
        const columns = strings(sheet, 'columns');
        if (columns.length > 0) lines.push(`    columns: ${listed(columns.map(cell))}`);
        lines.push(...rows(list(sheet, 'firstRows'), ' | ').map((row) => `  ${row}`));
      }
      if (sheets.length > 10) lines.push(`  … ${String(sheets.length - 10)} more sheets`);
      return {
        facts: joinFacts([
          `Excel (${str(d, 'format') ?? 'xlsx'})`,
          count(num(d, 'sheetCount'), true, 'sheets'),
        ]),
        lines,
      };
    }
    case 'json': {
      const leaves = records(d, 'leaves').map((l) => `${str(l, 'path') ?? '?'}: ${str(l, 'type') ?? '?'}`);
      const arrays = records(d, 'arrays').map(
        (a) => `${str(a, 'path') ?? '?'} [${String(num(a, 'length') ?? '?')}]`,
      );
      const keys = strings(d, 'keys');
      return {
        facts: joinFacts([
          str(d, 'format') === 'ndjson' ? 'NDJSON' : 'JSON',
          `top level ${str(d, 'topLevelType') ?? '?'}`,
          count(num(d, 'length'), d.lengthExact, str(d, 'format') === 'ndjson' ? 'records' : 'elements'),
        ]),
        lines: [
          ...(keys.length > 0 ? [`  keys: ${listed(keys)}`] : []),
          ...(arrays.length > 0 ? [`  arrays: ${listed(arrays)}`] : []),
          ...(leaves.length > 0 ? [`  leaves: ${listed(leaves)}`] : []),
        ],
      };
    }
    case 'text': {
      const head = strings(d, 'head').slice(0, PREVIEW_LINES);
      const headings = records(d, 'headings')
        .slice(0, 20)
        .map((h) => `${'#'.repeat(num(h, 'level') ?? 1)} ${cell(str(h, 'text') ?? '')}`);
      return {
        facts: joinFacts([
          str(d, 'format') ?? 'text',
          count(num(d, 'lineCount'), d.lineCountExact, 'lines'),
          str(d, 'encoding'),
        ]),
        lines: [
          ...(headings.length > 0 ? [`  headings: ${headings.join(' · ')}`] : []),
          ...(head.length > 0 ? ['  first lines:', ...head.map((line) => `    ${cell(line)}`)] : []),
        ],
      };
    }
    case 'image': {
      const width = num(d, 'width');
      const height = num(d, 'height');
      return {
        facts: joinFacts([
          `image ${str(d, 'format') ?? ''}`.trim(),
          width !== null && height !== null ? `${String(width)}×${String(height)} px` : null,
          str(d, 'mode'),
          (num(d, 'frameCount') ?? 1) > 1 ? count(num(d, 'frameCount'), true, 'frames') : null,
        ]),
        lines: [],
      };
    }
    case 'pdf': {
      const text = str(d, 'firstText');
      return {
        facts: joinFacts([
          'PDF',
          count(num(d, 'pageCount'), true, 'pages'),
          str(d, 'title') ? `title ${JSON.stringify(str(d, 'title'))}` : null,
          d.encrypted === true ? 'encrypted' : null,
        ]),
        lines: text
          ? [
              `  first text: ${JSON.stringify(stripControl(text).replace(/\s+/g, ' ').slice(0, PDF_TEXT_CHARS))}`,
            ]
          : [],
      };
    }
    case 'docx': {
      const headings = records(d, 'headings')
        .slice(0, 20)
        .map((h) => cell(str(h, 'text') ?? ''));
      const paragraphs = strings(d, 'firstParagraphs').slice(0, 3);
      return {
        facts: joinFacts([
          'Word document',
          count(num(d, 'paragraphCount'), true, 'paragraphs'),
          count(num(d, 'tableCount'), true, 'tables'),
        ]),
        lines: [
          ...(headings.length > 0 ? [`  headings: ${headings.join(' · ')}`] : []),
          ...paragraphs.map((p) => `    ${cell(p)}`),
        ],
      };
    }
    case 'hdf5':
    case 'columnar':
    case 'netcdf': {
      const datasets = records(
        d,
        kind === 'hdf5' ? 'datasets' : kind === 'netcdf' ? 'variables' : 'columns',
      ).map((item) => {
        const shape = list(item, 'shape');
        return `${str(item, 'path') ?? str(item, 'name') ?? '?'} ${str(item, 'dtype') ?? ''}${shape.length > 0 ? ` [${shape.join('×')}]` : ''}`.trim();
      });
      const dimensions = records(d, 'dimensions').map(
        (dim) => `${str(dim, 'name') ?? '?'}=${String(num(dim, 'size') ?? '?')}`,
      );
      return {
        facts: joinFacts([
          kind === 'columnar' ? (str(d, 'format') ?? 'columnar') : kind === 'hdf5' ? 'HDF5' : 'netCDF',
          count(num(d, 'rowCount'), true, 'rows'),
          count(num(d, 'datasetCount'), true, 'datasets'),
        ]),
        lines: [
          ...(dimensions.length > 0 ? [`  dimensions: ${listed(dimensions)}`] : []),
          ...(datasets.length > 0
            ? [
                `  ${kind === 'columnar' ? 'columns' : kind === 'hdf5' ? 'datasets' : 'variables'}: ${listed(datasets)}`,
              ]
            : []),
        ],
      };
    }
    case 'archive': {
      const entries = records(d, 'entries').map((e) => str(e, 'name') ?? '?');
      return {
        facts: joinFacts([
          `archive ${str(d, 'format') ?? ''}`.trim(),
          count(num(d, 'entryCount'), d.entryCountExact, 'entries'),
          d.bombSuspected === true ? 'SUSPECTED DECOMPRESSION BOMB: do not extract' : null,
        ]),
        lines: entries.length > 0 ? [`  entries: ${listed(entries)}`] : [],
      };
    }
    case 'unsupported':
      return {
        facts: joinFacts([str(d, 'format'), `not readable here: ${str(d, 'reason') ?? '?'}`]),
        lines: [],
      };
    case 'empty':
      return { facts: 'empty file', lines: [] };
    case 'unknown':
      return { facts: 'binary data of unknown type', lines: [] };
    default:
      return { facts: kind, lines: [] };
  }
}

/**
 * One input file as the prompt shows it: a headline (path, size, kind and counts) and a few
 * indented lines (columns with dtypes, sample rows, sheets, keys, preview lines), bounded by
 * `maxBytes`. The description is the `files.describe` JSON; unknown shapes degrade to the headline.
 */
export function summarizePromptFile(file: PromptFile, maxBytes: number): string {
  const headline = `- \`${file.path}\` (${formatBytes(file.sizeBytes)})`;
  const description = file.description;
  if (!isFields(description) || typeof description.kind !== 'string') return headBytes(headline, maxBytes);
  const { facts, lines } = detailLines(description.kind, description);
  const partial = description.partial === true ? ' [description partial]' : '';
  let text = `${headline}: ${facts}${partial}`;
  for (const line of lines) {
    const next = `${text}\n${line}`;
    if (Buffer.byteLength(next, 'utf8') > maxBytes) {
      text += '\n  …';
      break;
    }
    text = next;
  }
  return headBytes(text, maxBytes);
}
