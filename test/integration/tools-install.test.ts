import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError } from '../../src/index.js';
import { dependencies, install, activateSessionPackages } from '../../src/tools/index.js';
import { startEngine, type EngineFixture } from '../helpers/engine.js';
import { api, startServiceFixture, type ServiceFixture } from '../helpers/server.js';

/*
 * Session installs, for real: the test writes tiny pure-Python wheels by hand (a zip with the
 * module, METADATA, WHEEL and RECORD — no setuptools), serves them from a temp wheelhouse (and,
 * for the index case, from a PEP 503 index on loopback), and installs them into sessions.
 */

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let crc = index;
  for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  return crc >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip archive of stored (uncompressed) entries. */
function zip(entries: ReadonlyArray<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0x00210000, 10); // 1980-01-01 00:00
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0x00210000, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, entry.data);
    centrals.push(central, name);
    offset += local.length + name.length + entry.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A pure-Python wheel `<name>-<version>-py3-none-any.whl` holding `<name>/__init__.py`. */
function buildWheel(options: {
  name: string;
  version: string;
  source: string;
  requires?: readonly string[];
}): { fileName: string; bytes: Buffer } {
  const distInfo = `${options.name}-${options.version}.dist-info`;
  const files: Array<{ name: string; data: Buffer }> = [
    { name: `${options.name}/__init__.py`, data: Buffer.from(options.source) },
    {
      name: `${distInfo}/METADATA`,
      data: Buffer.from(
        [
          'Metadata-Version: 2.1',
          `Name: ${options.name}`,
          `Version: ${options.version}`,
          'Summary: a wheel built by the Vivarium tests',
          ...(options.requires ?? []).map((requirement) => `Requires-Dist: ${requirement}`),
          '',
        ].join('\n'),
      ),
    },
    {
      name: `${distInfo}/WHEEL`,
      data: Buffer.from(
        'Wheel-Version: 1.0\nGenerator: vivarium-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
      ),
    },
  ];
  const record = [
    ...files.map((file) => {
      const digest = createHash('sha256').update(file.data).digest('base64url');
      return `${file.name},sha256=${digest},${file.data.length}`;
    }),
    `${distInfo}/RECORD,,`,
    '',
  ].join('\n');
  files.push({ name: `${distInfo}/RECORD`, data: Buffer.from(record) });
  return { fileName: `${options.name}-${options.version}-py3-none-any.whl`, bytes: zip(files) };
}

/** A world-readable temp wheelhouse (kernels run as other uids when the engine is root). */
async function makeWheelhouse(wheels: ReadonlyArray<{ fileName: string; bytes: Buffer }>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vivarium-wheelhouse-'));
  await chmod(dir, 0o755);
  for (const wheel of wheels) {
    await writeFile(join(dir, wheel.fileName), wheel.bytes);
    await chmod(join(dir, wheel.fileName), 0o644);
  }
  return dir;
}

const VVDEMO = buildWheel({
  name: 'vvdemo',
  version: '1.0',
  source: 'VALUE = 42\n\ndef greet(name):\n    return "hello " + name\n',
  requires: ['vvhelper>=2', 'numpy', 'colorama; sys_platform == "win32"'],
});
const VVDENIED = buildWheel({ name: 'vvdenied', version: '0.1', source: 'X = 1\n' });
const VVOTHER = buildWheel({ name: 'vvother', version: '0.1', source: 'X = 1\n' });

/** Code run in the session: can it open a TCP connection to the host's loopback port? */
function connectCode(port: number): string {
  return [
    'import socket',
    'try:',
    `    socket.create_connection(("127.0.0.1", ${port}), timeout=3).close()`,
    '    print("connected")',
    'except OSError as error:',
    '    print("refused", type(error).__name__)',
  ].join('\n');
}

describe('install from a local wheelhouse', () => {
  let engine: EngineFixture;
  let wheelhouse: string;

  beforeAll(async () => {
    wheelhouse = await makeWheelhouse([VVDEMO, VVDENIED, VVOTHER]);
    engine = await startEngine({
      pool: { size: 0 },
      packages: { wheelhouseDir: wheelhouse, allow: ['vvdemo', 'vvdenied', 'vvmissing'], deny: ['vvdenied'] },
    });
  });

  afterAll(async () => {
    await engine?.stop();
    if (wheelhouse) await rm(wheelhouse, { recursive: true, force: true });
  });

  it('installs into the session only: importable at once, without a restart', async () => {
    const session = await engine.vv.createSession();
    await session.execute('counter = 7');
    const before = await session.execute('import vvdemo');
    expect(before.error?.ename).toBe('ModuleNotFoundError');

    const result = await install(engine.vv, session, ['vvdemo']);
    expect(result.installed).toEqual([{ name: 'vvdemo', version: '1.0', previousVersion: null }]);
    expect(result).toMatchObject({
      targetDir: '.vivarium/site-packages',
      sources: { wheelhouse: true, indexUrl: null },
      network: false,
      activated: true,
    });
    // Installed without dependencies: what nothing satisfies is reported (numpy is Debian's).
    expect(result.unmetRequirements).toEqual([
      { distribution: 'vvdemo', requirement: 'vvhelper>=2', found: null },
    ]);

    const after = await session.execute(
      'import vvdemo\nprint(vvdemo.greet("sandbox"), vvdemo.VALUE, counter)',
    );
    expect(after.status, JSON.stringify(after.error)).toBe('ok');
    expect(after.stdout).toBe('hello sandbox 42 7\n');
    const origin = await session.execute('vvdemo.__file__');
    expect(origin.result?.['text/plain']).toContain('/workspace/.vivarium/site-packages/vvdemo/__init__.py');

    // dependencies() sees the install as the session's own.
    const analysis = await dependencies(session, 'import vvdemo');
    expect(analysis.imports).toEqual([
      expect.objectContaining({ module: 'vvdemo', kind: 'installed', location: 'session', version: '1.0' }),
    ]);

    // Another session does not have it.
    const other = await engine.vv.createSession();
    expect((await other.execute('import vvdemo')).error?.ename).toBe('ModuleNotFoundError');

    // After a restart the files are still there and the new kernel puts them on its path itself.
    await session.restart();
    expect((await session.execute('import vvdemo\nvvdemo.VALUE')).result).toEqual({ 'text/plain': '42' });
    expect(await activateSessionPackages(session)).toBe(true);
    expect((await session.execute('import vvdemo\nvvdemo.VALUE')).result).toEqual({ 'text/plain': '42' });
  });

  it('refuses names outside the allowlist and denied names, listing what is allowed', async () => {
    const session = await engine.vv.createSession();
    const outside = await install(engine.vv, session, ['vvother']).catch((error: unknown) => error);
    expect(isVivariumError(outside, 'INVALID_ARGUMENT')).toBe(true);
    expect((outside as Error).message).toContain('`vvother` is not in config `packages.allow`');
    expect((outside as Error).message).toContain('Allowed: `vvdemo`, `vvdenied`, `vvmissing`');

    const denied = await install(engine.vv, session, ['VVDenied==0.1']).catch((error: unknown) => error);
    expect(isVivariumError(denied, 'INVALID_ARGUMENT')).toBe(true);
    expect((denied as Error).message).toContain('`VVDenied` is denied by config `packages.deny`');

    const injected = await install(engine.vv, session, ['--index-url=http://evil/']).catch(
      (error: unknown) => error,
    );
    expect(isVivariumError(injected, 'INVALID_ARGUMENT')).toBe(true);
    expect((injected as Error).message).toContain('Expected `0` to be a distribution name');

    // Nothing was installed by the refusals.
    expect((await session.execute('import vvother')).error?.ename).toBe('ModuleNotFoundError');
  });

  it('says clearly when an allowed name is not in the wheelhouse', async () => {
    const session = await engine.vv.createSession();
    const error = await install(engine.vv, session, ['vvmissing']).catch((caught: unknown) => caught);
    expect(isVivariumError(error, 'TOOL_FAILED')).toBe(true);
    expect((error as Error).message).toContain('Not available from the configured sources');
    expect((error as Error).message).toContain('`vvmissing`');
    expect((error as { details: { unavailable: string[] } }).details.unavailable).toEqual(['vvmissing']);
  });

  it('leaves the kernel without network after an install', async () => {
    const server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const session = await engine.vv.createSession();
      await install(engine.vv, session, ['vvdemo']);
      const probe = await session.execute(connectCode(port));
      expect(probe.stdout).toMatch(/^refused/);
      const interfaces = await session.execute(
        'import socket\nsorted(name for _, name in socket.if_nameindex())',
      );
      expect(interfaces.result).toEqual({ 'text/plain': "['lo']" });
    } finally {
      server.close();
    }
  });
});

describe('install without configuration', () => {
  let engine: EngineFixture;
  beforeAll(async () => {
    engine = await startEngine({ pool: { size: 0 } });
  });
  afterAll(async () => {
    await engine?.stop();
  });

  it('installs nothing until sources and an allowlist are configured', async () => {
    const session = await engine.vv.createSession();
    const error = await install(engine.vv, session, ['vvdemo']).catch((caught: unknown) => caught);
    expect(isVivariumError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('Installing needs a package source');
  });
});

/** A PEP 503 simple index on loopback serving the given wheels. */
async function startIndex(
  wheels: ReadonlyArray<{ fileName: string; bytes: Buffer }>,
): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    requests.push(path);
    const project = /^\/simple\/([^/]+)\/$/.exec(path)?.[1];
    if (project !== undefined) {
      const links = wheels
        .filter((wheel) => wheel.fileName.startsWith(`${project}-`))
        .map((wheel) => {
          const digest = createHash('sha256').update(wheel.bytes).digest('hex');
          return `<a href="/files/${wheel.fileName}#sha256=${digest}">${wheel.fileName}</a>`;
        });
      if (links.length === 0) {
        response.statusCode = 404;
        response.end('not found');
        return;
      }
      response.setHeader('content-type', 'text/html');
      response.end(`<!DOCTYPE html><html><body>${links.join('\n')}</body></html>`);
      return;
    }
    const wheel = wheels.find((candidate) => path === `/files/${candidate.fileName}`);
    if (wheel) {
      response.setHeader('content-type', 'application/octet-stream');
      response.end(wheel.bytes);
      return;
    }
    response.statusCode = 404;
    response.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${port}/simple/`, requests };
}

describe('install from a package index', () => {
  let engine: EngineFixture;
  let index: Awaited<ReturnType<typeof startIndex>>;

  beforeAll(async () => {
    const remote = buildWheel({ name: 'vvremote', version: '2.0', source: 'ANSWER = "from the index"\n' });
    index = await startIndex([remote]);
    engine = await startEngine({ pool: { size: 0 }, packages: { indexUrl: index.url, allow: ['*'] } });
  });

  afterAll(async () => {
    await engine?.stop();
    index?.server.close();
  });

  it('only the pip process reaches the index; the kernel stays without network', async () => {
    const session = await engine.vv.createSession();
    // Modules planted by the session's code must not run in the networked installer.
    const plant = [
      'import os',
      'marker = "import pathlib; pathlib.Path(\'/workspace/planted-ran\').write_text(__name__)\\n"',
      'for base in (".", ".vivarium/site-packages"):',
      '    for name in ("pip", "packaging", "importlib_metadata", "vivarium_runtime"):',
      '        os.makedirs(os.path.join(base, name), exist_ok=True)',
      '        for module in ("__init__.py", "__main__.py"):',
      '            with open(os.path.join(base, name, module), "w") as file:',
      '                file.write(marker)',
    ].join('\n');
    expect((await session.execute(plant)).status).toBe('ok');
    const result = await install(engine.vv, session, ['vvremote==2.0']);
    expect(result.installed).toEqual([{ name: 'vvremote', version: '2.0', previousVersion: null }]);
    expect(result.network).toBe(true);
    expect(index.requests).toContain('/simple/vvremote/');
    expect((await session.execute('import vvremote\nvvremote.ANSWER')).result).toEqual({
      'text/plain': "'from the index'",
    });
    const port = Number(new URL(index.url).port);
    const probe = await session.execute(connectCode(port));
    expect(probe.stdout).toMatch(/^refused/);
    const planted = await session.execute('import os\nos.path.exists("planted-ran")');
    expect(planted.result).toEqual({ 'text/plain': 'False' });
  });
});

describe('POST /v1/sessions/:id/install', () => {
  let wheelhouse = '';
  let service: ServiceFixture;

  beforeAll(async () => {
    wheelhouse = await makeWheelhouse([VVDEMO]);
    service = await startServiceFixture({
      config: { packages: { wheelhouseDir: wheelhouse, allow: ['vvdemo'] } },
    });
  });
  afterAll(async () => {
    await service?.stop();
    await rm(wheelhouse, { recursive: true, force: true });
  });

  it('installs into the session and refuses names outside the allowlist with a 400', async () => {
    const key = service.keys.a;
    const created = await api(service.url, 'POST', '/v1/sessions', { key, json: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const installed = await api(service.url, 'POST', `/v1/sessions/${id}/install`, {
      key,
      json: { packages: ['vvdemo'] },
    });
    expect(installed.status, installed.text).toBe(200);
    expect(installed.body.installed).toEqual([{ name: 'vvdemo', version: '1.0', previousVersion: null }]);
    const ran = await api(service.url, 'POST', `/v1/sessions/${id}/executions`, {
      key,
      json: { code: 'import vvdemo\nvvdemo.greet("http")' },
    });
    expect(ran.body.result).toEqual({ 'text/plain': "'hello http'" });

    const refused = await api(service.url, 'POST', `/v1/sessions/${id}/install`, {
      key,
      json: { packages: ['requests'] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('INVALID_ARGUMENT');
    expect(refused.body.error.details.allowed).toEqual(['vvdemo']);
    const audit = await service.service.store.listAudit({ limit: 20 });
    expect(audit.filter((entry) => entry.action === 'tools.install').map((entry) => entry.status)).toEqual(
      expect.arrayContaining(['ok', 'INVALID_ARGUMENT']),
    );
    expect(await readFile(join(wheelhouse, VVDEMO.fileName))).toEqual(VVDEMO.bytes);
  });
});
