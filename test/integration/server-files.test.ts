/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument -- HTTP bodies are untyped JSON, checked by the assertions */
import { describe, expect, it } from 'vitest';
import { api, rawHttp, useService, type ApiResponse, type Json } from '../helpers/server.js';

/** The workspace over HTTP: raw PUT, multipart upload, download, list, delete, and the engine's rules. */

const MAX_TRANSFER_BYTES = 64 * 1024;
const svc = useService({ config: { files: { maxTransferBytes: MAX_TRANSFER_BYTES } } });

const call = (method: string, path: string, options: Parameters<typeof api>[3] = {}): Promise<ApiResponse> =>
  api(svc.url, method, path, { key: svc.keys.a, ...options });

async function newSession(): Promise<string> {
  const created = await call('POST', '/v1/sessions', { json: {} });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

function expectError(response: ApiResponse, status: number, code: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.body.error.code).toBe(code);
}

describe('files', () => {
  it('writes a raw body, reads it from Python and downloads what Python wrote', async () => {
    const id = await newSession();
    const put = await call('PUT', `/v1/sessions/${id}/files/data/input.csv`, {
      body: 'a,b\n1,2\n',
      headers: { 'content-type': 'text/csv' },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toEqual({ path: 'data/input.csv', sizeBytes: 8 });

    const read = await call('POST', `/v1/sessions/${id}/executions`, {
      json: {
        code: "text = open('data/input.csv').read()\nopen('out.json', 'w').write('{\"rows\": 1}')\nimport struct, zlib\nopen('chart.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + bytes(16))\ntext",
      },
    });
    expect(read.body.result).toEqual({ 'text/plain': "'a,b\\n1,2\\n'" });

    const json = await call('GET', `/v1/sessions/${id}/files/out.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.headers.get('content-disposition')).toBe(
      'attachment; filename="out.json"; filename*=UTF-8\'\'out.json',
    );
    expect(json.headers.get('x-content-type-options')).toBe('nosniff');
    expect(json.body).toEqual({ rows: 1 });

    const png = await fetch(`${svc.url}/v1/sessions/${id}/files/chart.png`, {
      headers: { authorization: `Bearer ${svc.keys.a}` },
    });
    expect(png.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.length).toBe(24);

    const csv = await call('GET', `/v1/sessions/${id}/files/data/input.csv`);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.text).toBe('a,b\n1,2\n');

    const root = await call('GET', `/v1/sessions/${id}/files`);
    expect(root.status).toBe(200);
    expect(root.body.truncated).toBe(false);
    expect(root.body.entries.map((entry: Json) => [entry.path, entry.type])).toEqual([
      ['chart.png', 'file'],
      ['data', 'directory'],
      ['out.json', 'file'],
    ]);
    for (const entry of root.body.entries) expect(Date.parse(entry.modifiedAt)).not.toBeNaN();
    const sub = await call('GET', `/v1/sessions/${id}/files?path=data`);
    expect(sub.body.entries).toEqual([
      expect.objectContaining({ path: 'data/input.csv', sizeBytes: 8, type: 'file' }),
    ]);
    const recursive = await call('GET', `/v1/sessions/${id}/files?recursive=true`);
    expect(recursive.body.entries.map((entry: Json) => entry.path)).toContain('data/input.csv');

    const deleted = await call('DELETE', `/v1/sessions/${id}/files/out.json`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ path: 'out.json', deleted: true });
    expectError(await call('GET', `/v1/sessions/${id}/files/out.json`), 404, 'FILE_NOT_FOUND');
    expectError(await call('DELETE', `/v1/sessions/${id}/files/data`), 422, 'FILE_REFUSED');
    expect((await call('DELETE', `/v1/sessions/${id}/files/data?recursive=true`)).status).toBe(200);
    expect(
      (await call('GET', `/v1/sessions/${id}/files`)).body.entries.map((entry: Json) => entry.path),
    ).toEqual(['chart.png']);
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('uploads multipart files into a directory', async () => {
    const id = await newSession();
    const form = new FormData();
    form.append('path', 'uploads');
    form.append('file', new Blob(['hello']), 'greeting.txt');
    form.append('file', new Blob([new Uint8Array([1, 2, 3])]), 'raw.dat');
    const uploaded = await call('POST', `/v1/sessions/${id}/files`, { body: form });
    expect(uploaded.status, uploaded.text).toBe(200);
    expect(uploaded.body.files).toEqual([
      { path: 'uploads/greeting.txt', sizeBytes: 5 },
      { path: 'uploads/raw.dat', sizeBytes: 3 },
    ]);
    const check = await call('POST', `/v1/sessions/${id}/executions`, {
      json: {
        code: "open('/workspace/uploads/greeting.txt').read(), list(open('uploads/raw.dat','rb').read())",
      },
    });
    expect(check.body.result).toEqual({ 'text/plain': "('hello', [1, 2, 3])" });

    expectError(
      await call('POST', `/v1/sessions/${id}/files`, { json: { not: 'multipart' } }),
      400,
      'INVALID_ARGUMENT',
    );
    const empty = new FormData();
    empty.append('path', 'x');
    expectError(await call('POST', `/v1/sessions/${id}/files`, { body: empty }), 400, 'INVALID_ARGUMENT');
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('refuses traversal, symlinks, disallowed types and oversized uploads with clear 4xx errors', async () => {
    const id = await newSession();
    // Sent byte for byte: fetch would normalise `..` (even encoded) away.
    const key = svc.keys.a;
    for (const path of ['../../etc/passwd.txt', '%2e%2e/%2e%2e/etc/passwd.txt', 'a/..%2f..%2fescape.txt']) {
      expectError(
        (await rawHttp(svc.url, 'GET', `/v1/sessions/${id}/files/${path}`, { key })) as ApiResponse,
        400,
        'PATH_INVALID',
      );
      expectError(
        (await rawHttp(svc.url, 'PUT', `/v1/sessions/${id}/files/${path}`, {
          key,
          body: 'x',
        })) as ApiResponse,
        400,
        'PATH_INVALID',
      );
    }
    expectError(await call('GET', `/v1/sessions/${id}/files?path=../..`), 400, 'PATH_INVALID');
    expectError(
      await call('PUT', `/v1/sessions/${id}/files/script.exe`, { body: 'MZ' }),
      415,
      'FILE_TYPE_NOT_ALLOWED',
    );

    await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: "import os\nos.symlink('/etc/passwd', 'link.txt')\nos.symlink('/etc', 'dir')" },
    });
    expectError(await call('GET', `/v1/sessions/${id}/files/link.txt`), 422, 'FILE_REFUSED');
    expectError(await call('PUT', `/v1/sessions/${id}/files/dir/x.txt`, { body: 'x' }), 422, 'FILE_REFUSED');
    const listing = await call('GET', `/v1/sessions/${id}/files`);
    expect(listing.body.entries).toContainEqual(
      expect.objectContaining({ path: 'link.txt', type: 'symlink' }),
    );

    const tooBig = 'z'.repeat(MAX_TRANSFER_BYTES + 1);
    expectError(
      await call('PUT', `/v1/sessions/${id}/files/big.txt`, { body: tooBig }),
      413,
      'FILE_TOO_LARGE',
    );
    const form = new FormData();
    form.append('file', new Blob([tooBig]), 'big.txt');
    expectError(await call('POST', `/v1/sessions/${id}/files`, { body: form }), 413, 'FILE_TOO_LARGE');
    await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: `open('made.txt','w').write('m' * ${MAX_TRANSFER_BYTES + 1})` },
    });
    expectError(await call('GET', `/v1/sessions/${id}/files/made.txt`), 413, 'FILE_TOO_LARGE');

    // Still serving, and nothing was written outside.
    const ok = await call('PUT', `/v1/sessions/${id}/files/fine.txt`, { body: 'fine' });
    expect(ok.status).toBe(200);
    expect((await call('GET', `/v1/sessions/${id}/files/fine.txt`)).text).toBe('fine');
    await call('DELETE', `/v1/sessions/${id}`);
    expectError(await call('GET', `/v1/sessions/${id}/files`), 410, 'SESSION_CLOSED');
  });
});
