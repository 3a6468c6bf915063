import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Session } from '../../src/index.js';
import { describeFile, type FileDescription, type FileKind } from '../../src/tools/index.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService } from '../helpers/server.js';

/** `describeFile`: metadata of workspace files, computed in a side kernel of the real sandbox. */

const FIXTURES = fileURLToPath(new URL('../fixtures/files/', import.meta.url));
/** Debian's interpreter, with the libraries the generator writes xlsx/docx/h5/png with. */
const HOST_PYTHON = '/usr/bin/python3';

let samples = '';
beforeAll(async () => {
  samples = await mkdtemp(join(tmpdir(), 'vivarium-describe-samples-'));
  await promisify(execFile)(HOST_PYTHON, [join(FIXTURES, 'make_samples.py'), samples], { timeout: 60_000 });
});
afterAll(async () => {
  if (samples) await rm(samples, { recursive: true, force: true });
});

/** Copies committed fixtures (`fixtures/…`) or generated samples into the session's workspace. */
async function upload(session: Session, ...names: string[]): Promise<void> {
  for (const name of names) {
    const [dir, file] = name.startsWith('fixtures/')
      ? [FIXTURES, name.slice('fixtures/'.length)]
      : [samples, name];
    await session.files.write(file, await readFile(join(dir, file)));
  }
}

/** Narrows a description to its kind (a failed expectation otherwise). */
function as<K extends FileKind>(
  description: FileDescription,
  kind: K,
): Extract<FileDescription, { kind: K }> {
  expect(description.kind, JSON.stringify(description)).toBe(kind);
  return description as Extract<FileDescription, { kind: K }>;
}

describe('describeFile', () => {
  const engine = useEngine({ pool: { size: 0 }, files: { allowedExtensions: ['*'] } });

  it('describes CSV and TSV: dialect, encoding, pandas dtypes, rows; the session namespace untouched', async () => {
    const session = await engine.vv.createSession();
    await session.execute('marker = 1');
    await upload(session, 'fixtures/cities.csv', 'fixtures/scores.tsv');

    const csv = as(await describeFile(session, 'cities.csv'), 'csv');
    expect(csv).toMatchObject({
      path: 'cities.csv',
      format: 'csv',
      encoding: 'ascii',
      delimiter: ',',
      hasHeader: true,
      columnCount: 6,
      rowCount: 6,
      rowCountExact: true,
      partial: false,
      warnings: [],
    });
    expect(csv.columns).toEqual([
      { name: 'city', dtype: 'object' },
      { name: 'country', dtype: 'object' },
      { name: 'population', dtype: 'int64' },
      { name: 'updated', dtype: 'datetime64[ns]' },
      { name: 'capital', dtype: 'bool' },
      { name: 'area_km2', dtype: 'float64' },
    ]);
    expect(csv.firstRows).toHaveLength(5);
    expect(csv.firstRows[3]).toEqual([
      'Hamburg, Freie',
      'Germany',
      '1841000',
      '2024-03-01',
      'false',
      '755.2',
    ]);

    const tsv = as(await describeFile(session, '/workspace/./scores.tsv'), 'csv');
    expect(tsv).toMatchObject({ path: 'scores.tsv', format: 'tsv', delimiter: '\t', rowCount: 3 });
    expect(tsv.columns.map((column) => column.dtype)).toEqual([
      'int64',
      'object',
      'float64',
      'datetime64[ns]',
    ]);

    // The describes ran in side kernels: the session's variables and state are as they were.
    expect((await session.variables()).map((variable) => variable.name)).toEqual(['marker']);
    expect((await session.execute('marker + 1')).result).toEqual({ 'text/plain': '2' });
  });

  it('describes Excel workbooks: sheets, header row, rows per sheet, first rows (.xlsx and .xls)', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'sales.xlsx');
    const xlsx = as(await describeFile(session, 'sales.xlsx'), 'excel');
    expect(xlsx).toMatchObject({ format: 'xlsx', sheetCount: 3, partial: false });
    expect(xlsx.sheets.map((sheet) => [sheet.name, sheet.rowCount, sheet.columnCount])).toEqual([
      ['Sales', 40, 4],
      ['Notes', 1, 1],
      ['Empty', 0, 1],
    ]);
    expect(xlsx.sheets[0]?.columns).toEqual(['region', 'month', 'revenue', 'units']);
    expect(xlsx.sheets[0]?.firstRows[0]).toEqual(['north', '2024-02-01', '1001.5', '1']);
    expect(xlsx.sheets[1]?.firstRows).toEqual([['figures in EUR']]);

    // The .xls comes from Debian's python3-xlrd documentation (nothing here writes one).
    const xls = await readFile(join(samples, 'legacy.xls')).catch(() => null);
    if (xls === null) return;
    await session.files.write('legacy.xls', xls);
    const legacy = as(await describeFile(session, 'legacy.xls'), 'excel');
    expect(legacy.format).toBe('xls');
    expect(legacy.sheets.map((sheet) => sheet.name)).toEqual([
      'Sheet1',
      'Sheet2',
      'Sheet3',
      "Seamus O'Reilly",
    ]);
    expect(legacy.sheets[2]?.columns.slice(1, 4)).toEqual(['Jan', 'Feb', 'Mar']);
  });

  it('describes JSON and NDJSON: shape, keys, array lengths, a sample path per leaf kind', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'fixtures/orders.json', 'fixtures/events.ndjson');
    const json = as(await describeFile(session, 'orders.json'), 'json');
    expect(json).toMatchObject({
      format: 'json',
      topLevelType: 'object',
      keys: ['store', 'open', 'items', 'owner', 'ratings'],
      keyCount: 5,
      maxDepth: 4,
      partial: false,
    });
    expect(json.arrays).toContainEqual({ path: '$.items', length: 2, complete: true });
    expect(json.arrays).toContainEqual({ path: '$.ratings', length: 3, complete: true });
    expect(json.leaves).toEqual(
      expect.arrayContaining([
        { path: '$.items[0].price', type: 'number' },
        { path: '$.items[0].discount', type: 'null' },
        { path: '$.items[1].discount', type: 'number' },
        { path: '$.items[1].tags', type: 'array (empty)' },
        { path: '$.owner.address.city', type: 'string' },
        { path: '$.open', type: 'boolean' },
      ]),
    );

    const ndjson = as(await describeFile(session, 'events.ndjson'), 'json');
    expect(ndjson).toMatchObject({
      format: 'ndjson',
      topLevelType: 'object',
      length: 3,
      lengthExact: true,
      keys: ['ts', 'level', 'user', 'detail', 'code'],
    });
    expect(ndjson.leaves).toContainEqual({ path: '$[0].user.id', type: 'number' });
    expect(ndjson.leaves).toContainEqual({ path: '$[2].user', type: 'null' });
  });

  it('describes text, Markdown and logs: encoding, lines, head, headings', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'fixtures/guide.md', 'fixtures/server.log', 'latin1.txt');
    const markdown = as(await describeFile(session, 'guide.md'), 'text');
    expect(markdown).toMatchObject({
      format: 'markdown',
      encoding: 'ascii',
      lineCount: 16,
      lineCountExact: true,
    });
    expect(markdown.head[0]).toBe('# Vivarium guide');
    // The `# not a heading` line inside the code fence is not one.
    expect(markdown.headings).toEqual([
      { level: 1, text: 'Vivarium guide', line: 1 },
      { level: 2, text: 'Install', line: 5 },
      { level: 2, text: 'Use', line: 12 },
      { level: 3, text: 'Sessions', line: 14 },
    ]);

    const log = as(await describeFile(session, 'server.log'), 'text');
    expect(log).toMatchObject({ format: 'log', lineCount: 30 });
    expect(log.head).toHaveLength(20);
    expect(log.headings).toBeUndefined();

    const latin = as(await describeFile(session, 'latin1.txt'), 'text');
    expect(latin.encoding).toBe('windows-1252');
    expect(latin.head[0]).toBe('Café crème, déjà vu — naïve façade.');
  });

  it('describes PDF and DOCX documents', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'summary.pdf', 'report.docx');
    const pdf = as(await describeFile(session, 'summary.pdf'), 'pdf');
    expect(pdf).toMatchObject({
      pageCount: 2,
      title: 'Annual summary',
      author: 'Grace Hopper',
      encrypted: false,
      firstText: 'Annual summary of the Vivarium project',
      firstTextPage: 1,
      partial: false,
    });

    const docx = as(await describeFile(session, 'report.docx'), 'docx');
    expect(docx).toMatchObject({ title: 'Field report', author: 'Ada', tableCount: 1, partial: false });
    expect(docx.headings).toEqual([
      { level: 0, text: 'Field report' },
      { level: 1, text: 'Introduction' },
      { level: 2, text: 'Method' },
      { level: 1, text: 'Results' },
    ]);
    expect(docx.firstParagraphs).toContain('We measured the river at three points.');
    expect(docx.paragraphCount).toBeGreaterThanOrEqual(7);
  });

  it('describes images from their headers: format, size, mode, frames', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'photo.png', 'gray.jpg', 'anim.gif');
    expect(await describeFile(session, 'photo.png')).toMatchObject({
      kind: 'image',
      format: 'PNG',
      width: 64,
      height: 48,
      mode: 'RGB',
      frameCount: 1,
    });
    expect(await describeFile(session, 'gray.jpg')).toMatchObject({
      format: 'JPEG',
      width: 20,
      height: 10,
      mode: 'L',
    });
    expect(await describeFile(session, 'anim.gif')).toMatchObject({
      format: 'GIF',
      width: 16,
      frameCount: 3,
    });
  });

  it('describes HDF5 and NetCDF (4 through h5py, classic through scipy): datasets, variables, shapes', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'measurements.h5', 'climate.nc', 'classic.nc');
    const hdf5 = as(await describeFile(session, 'measurements.h5'), 'hdf5');
    expect(hdf5).toMatchObject({ groupCount: 2, datasetCount: 3, attributes: { instrument: 'probe-7' } });
    expect(hdf5.datasets).toContainEqual({
      path: '/raw/temperature',
      shape: [100, 3],
      dtype: 'float32',
      chunks: [10, 3],
      compression: 'gzip',
    });
    expect(hdf5.datasets).toContainEqual({ path: '/summary/mean', shape: [], dtype: 'float64' });

    const netcdf4 = as(await describeFile(session, 'climate.nc'), 'netcdf');
    expect(netcdf4.format).toBe('netcdf4');
    expect(netcdf4.attributes).toEqual({ title: 'Monthly temperatures' });
    expect(netcdf4.dimensions).toContainEqual({ name: 'time', size: 12, unlimited: true });
    expect(netcdf4.variables).toContainEqual({
      name: 'temperature',
      shape: [12, 5],
      dtype: 'float32',
      dimensions: ['time', 'lat'],
      units: 'K',
      longName: 'air temperature',
    });

    const classic = await describeFile(session, 'classic.nc');
    if (classic.kind === 'unsupported') {
      expect(classic.reason).toContain('scipy');
      return;
    }
    const netcdf3 = as(classic, 'netcdf');
    expect(netcdf3.format).toBe('netcdf3');
    expect(netcdf3.dimensions).toEqual([
      { name: 'time', size: 3, unlimited: true },
      { name: 'station', size: 4, unlimited: false },
    ]);
    expect(netcdf3.variables).toEqual([
      { name: 'pressure', shape: [3, 4], dtype: '>f4', dimensions: ['time', 'station'], units: 'hPa' },
    ]);
  });

  it('lists archives without extracting them: entries, counts, sizes', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'bundle.zip', 'bundle.tar.gz', 'events.log.gz');
    const zip = as(await describeFile(session, 'bundle.zip'), 'archive');
    expect(zip).toMatchObject({
      format: 'zip',
      entryCount: 3,
      entryCountExact: true,
      uncompressedSizeBytes: 806,
      bombSuspected: false,
      partial: false,
    });
    expect(zip.entries.map((entry) => [entry.name, entry.type])).toEqual([
      ['data/a.csv', 'file'],
      ['data/', 'directory'],
      ['readme.txt', 'file'],
    ]);
    const tar = as(await describeFile(session, 'bundle.tar.gz'), 'archive');
    expect(tar).toMatchObject({
      format: 'tar.gz',
      entryCount: 2,
      entryCountExact: true,
      uncompressedSizeBytes: 21,
    });
    expect(tar.entries.map((entry) => entry.name)).toEqual(['src/main.py', 'README.md']);
    const gz = as(await describeFile(session, 'events.log.gz'), 'archive');
    expect(gz).toMatchObject({
      format: 'gz',
      entryCount: 1,
      uncompressedSizeBytes: 5000,
      bombSuspected: false,
    });
    expect(gz.entries[0]?.name).toBe('events.log');
    // Nothing was extracted next to them.
    const listing = await session.files.list('');
    expect(listing.entries.map((entry) => entry.name).sort()).toEqual([
      'bundle.tar.gz',
      'bundle.zip',
      'events.log.gz',
    ]);
  });

  it('flags bombs and damaged files with partial results and warnings, never a hang', async () => {
    const session = await engine.vv.createSession();
    await upload(session, 'bomb.zip', 'bomb.tar.gz', 'bomb.png', 'broken.pdf', 'deep.json');

    const zipBomb = as(await describeFile(session, 'bomb.zip'), 'archive');
    expect(zipBomb).toMatchObject({ bombSuspected: true, entryCount: 1, uncompressedSizeBytes: 1024 ** 3 });
    expect(zipBomb.compressionRatio).toBeGreaterThan(100);
    expect(zipBomb.warnings.join('\n')).toMatch(/possible decompression bomb: compression ratio \d+:1/);

    // Listing a compressed tar means decompressing it: stopped at maxBytesRead of decompressed data.
    const started = performance.now();
    const tarBomb = as(
      await describeFile(session, 'bomb.tar.gz', { maxBytesRead: 16 * 1_048_576 }),
      'archive',
    );
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(tarBomb).toMatchObject({
      format: 'tar.gz',
      partial: true,
      bombSuspected: true,
      entryCountExact: false,
      uncompressedSizeBytes: 512 * 1_048_576,
    });
    expect(tarBomb.warnings.join('\n')).toContain('stopped listing after 1 entries');

    // 10 gigapixels declared: Pillow's guard refuses it, the size comes from the header.
    const imageBomb = as(await describeFile(session, 'bomb.png'), 'image');
    expect(imageBomb).toMatchObject({ width: 100_000, height: 100_000, bombSuspected: true, partial: true });

    const broken = as(await describeFile(session, 'broken.pdf'), 'pdf');
    expect(broken).toMatchObject({ partial: true, pageCount: null });
    expect(broken.warnings.join('\n')).toContain('malformed PDF');

    // 100 000 levels of nesting: json.loads would recurse; the token scan does not.
    const deep = as(await describeFile(session, 'deep.json'), 'json');
    expect(deep).toMatchObject({ topLevelType: 'array', length: 1, maxDepth: 100_000 });

    // The session's own kernel is still fine.
    expect((await session.execute('1 + 1')).result).toEqual({ 'text/plain': '2' });
  });

  it('gives a big CSV a partial, estimated row count within the byte budget', async () => {
    const session = await engine.vv.createSession();
    // ~300 MiB written in the sandbox (faster than uploading it): 37 blocks of 8 MiB of lines.
    const line = '2024-01-01,alpha,12.5,true,some text here\n';
    const rows = 37 * Math.floor((8 * 1024 * 1024) / line.length);
    const made = await session.execute(
      [
        'def _make():',
        `    block = ${JSON.stringify(line)}.encode() * (8 * 1024 * 1024 // ${line.length})`,
        "    with open('big.csv', 'wb') as handle:",
        "        handle.write(b'date,name,value,flag,note\\n')",
        '        for _ in range(37):',
        '            handle.write(block)',
        '_make()',
        'del _make',
      ].join('\n'),
    );
    expect(made.status, JSON.stringify(made.error)).toBe('ok');
    const timeoutMs = 20_000;
    const started = performance.now();
    const big = as(await describeFile(session, 'big.csv', { timeoutMs }), 'csv');
    expect(performance.now() - started).toBeLessThan(timeoutMs);
    expect(big).toMatchObject({ partial: true, rowCountExact: false, columnCount: 5, hasHeader: true });
    expect(big.sizeBytes).toBeGreaterThan(300 * 1_000_000);
    expect(Math.abs((big.rowCount ?? 0) - rows) / rows).toBeLessThan(0.01);
    expect(big.warnings.join('\n')).toMatch(/the row count is an estimate/);
    // A budget too short for anything: still an answer, partial (from the tool or, killed, from the host).
    const rushed = await describeFile(session, 'big.csv', { timeoutMs: 100 });
    expect(rushed.partial).toBe(true);
    expect(['csv', 'unknown']).toContain(rushed.kind);
    expect(big.columns.map((column) => column.dtype)).toEqual([
      'datetime64[ns]',
      'object',
      'float64',
      'bool',
      'object',
    ]);
  });

  it('answers empty, unknown and unsupported files, and refuses what is not a workspace file', async () => {
    const session = await engine.vv.createSession();
    await session.files.write('empty.csv', '');
    await session.files.write('blob.bin', Buffer.from([0, 1, 2, 3, 255, 254, 0, 0, 7]));
    await session.files.write(
      'archive.7z',
      Buffer.from('377abcaf271c000400000000000000000000000000000000', 'hex'),
    );
    await session.files.write('table.parquet', Buffer.from('PAR1\0\0\0\0PAR1'));
    await session.files.write('dir/inside.txt', 'x');

    expect(await describeFile(session, 'empty.csv')).toEqual({
      path: 'empty.csv',
      sizeBytes: 0,
      kind: 'empty',
      partial: false,
      warnings: [],
    });
    expect(await describeFile(session, 'blob.bin')).toMatchObject({
      kind: 'unknown',
      headHex: '00010203fffe000007',
    });
    const sevenZip = await describeFile(session, 'archive.7z');
    if (sevenZip.kind === 'unsupported') expect(sevenZip.reason).toContain('py7zr');
    const parquet = await describeFile(session, 'table.parquet');
    if (parquet.kind === 'unsupported') expect(parquet.reason).toContain('pyarrow');

    const code = async (promise: Promise<unknown>): Promise<string | undefined> =>
      promise.then(
        () => undefined,
        (error: unknown) => (isVivariumError(error) ? error.code : String(error)),
      );
    expect(await code(describeFile(session, 'missing.csv'))).toBe('FILE_NOT_FOUND');
    expect(await code(describeFile(session, 'dir'))).toBe('FILE_REFUSED');
    expect(await code(describeFile(session, '../etc/passwd'))).toBe('PATH_INVALID');
    expect(await code(describeFile(session, '/etc/passwd'))).toBe('PATH_INVALID');
    expect(await code(describeFile(session, 'dir/inside.txt', { timeoutMs: -1 }))).toBe('INVALID_ARGUMENT');
    // A symlink the sandbox made is refused, not followed.
    await session.execute("import os\nos.symlink('/etc/passwd', 'link.txt')");
    expect(await code(describeFile(session, 'link.txt'))).toBe('FILE_REFUSED');
  });
});

describe('POST /v1/sessions/:id/files/describe', () => {
  // `*`: a file named `describe` (no extension) must be writable to show the routes do not collide.
  const svc = useService({ config: { files: { allowedExtensions: ['*'] } } });

  it('describes a workspace file over HTTP, beside the file routes', async () => {
    const call = (method: string, path: string, options: Parameters<typeof api>[3] = {}) =>
      api(svc.url, method, path, { key: svc.keys.a, ...options });
    const created = await call('POST', '/v1/sessions', { json: {} });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    const put = await call('PUT', `/v1/sessions/${id}/files/data/cities.csv`, {
      body: await readFile(join(FIXTURES, 'cities.csv')),
      headers: { 'content-type': 'text/csv' },
    });
    expect(put.status, put.text).toBe(200);

    const described = await call('POST', `/v1/sessions/${id}/files/describe`, {
      json: { path: 'data/cities.csv' },
    });
    expect(described.status, described.text).toBe(200);
    expect(described.body).toMatchObject({
      path: 'data/cities.csv',
      kind: 'csv',
      delimiter: ',',
      rowCount: 6,
      partial: false,
      warnings: [],
    });
    expect(described.body.columns[2]).toEqual({ name: 'population', dtype: 'int64' });

    const missing = await call('POST', `/v1/sessions/${id}/files/describe`, { json: { path: 'nope.csv' } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('FILE_NOT_FOUND');
    const invalid = await call('POST', `/v1/sessions/${id}/files/describe`, {
      json: { path: 'a.csv', extra: 1 },
    });
    expect(invalid.status).toBe(400);
    const traversal = await call('POST', `/v1/sessions/${id}/files/describe`, { json: { path: '../x.csv' } });
    expect(traversal.status).toBe(400);
    expect(traversal.body.error.code).toBe('PATH_INVALID');
    const otherKey = await api(svc.url, 'POST', `/v1/sessions/${id}/files/describe`, {
      key: svc.keys.b,
      json: { path: 'data/cities.csv' },
    });
    expect(otherKey.status).toBe(404);

    // The route and its answer are in the OpenAPI document.
    const openapi = await api(svc.url, 'GET', '/docs/json');
    expect(openapi.status).toBe(200);
    expect(openapi.body.paths['/v1/sessions/{id}/files/describe'].post).toBeDefined();
    expect(openapi.body.components.schemas.FileDescription).toBeDefined();

    // A file named `describe` is still written and read through the wildcard routes.
    expect((await call('PUT', `/v1/sessions/${id}/files/describe`, { body: 'x' })).status).toBe(200);
    const download = await call('GET', `/v1/sessions/${id}/files/describe`);
    expect(download.status).toBe(200);
    expect(download.text).toBe('x');
  });
});
