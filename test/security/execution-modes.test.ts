import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Execution, type ExecutionMode, type Session } from '../../src/index.js';
import { VivariumClient } from '../../src/client/index.js';
import { newId } from '../../src/session/index.js';
import { assertCliBuilt, runCli } from '../helpers/cli-helpers.js';
import { expectOk, waitFor } from '../helpers/engine.js';
import {
  describeExecution,
  SECURITY_RUN_DATA_DIR_PREFIX,
  SECURITY_UID_RANGE_START,
  startSecurityEngine,
  verdictOf,
  type SecurityEngine,
} from '../helpers/security.js';
import { api, startServiceFixture, type ServiceFixture } from '../helpers/server.js';

/**
 * Execution modes are a property of a session's sandbox, enforced by the OS: `read_only` binds the
 * workspace read-only (`--ro-bind`) in its own network namespace, `workspace_write` binds it
 * writable in its own network namespace, `network` binds it writable in the host's network
 * namespace. Each check here tries the thing a mode forbids (or grants) from inside the sandbox
 * and looks at the result from the host: a file that appeared, a connection the host accepted.
 */

/** Half of this run's uid block each: the engine and the service below run side by side. */
const ENGINE_UIDS = { uidRangeStart: SECURITY_UID_RANGE_START, uidRangeSize: 500 };
const SERVICE_UIDS = { uidRangeStart: SECURITY_UID_RANGE_START + 500, uidRangeSize: 500 };

/** What the host's loopback server sends to each connection. */
const GREETING = `hello-from-the-host-${randomBytes(8).toString('hex')}`;

let engine: SecurityEngine;
let server: Server;
let serverPort = 0;
/** Connections the host's loopback server accepted. */
let accepted = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    accepted += 1;
    socket.end(`${GREETING}\n`);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  serverPort = (server.address() as AddressInfo).port;
  // A pool of one kernel of the default mode (`workspace_write`).
  engine = await startSecurityEngine('modes', { pool: { size: 1 }, sandbox: ENGINE_UIDS });
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await engine?.stop();
});

/** Every write a cell might try on the workspace, each reported as `succeeded` or its errno name. */
const WRITE_ATTEMPTS = `
import errno, json, os
def attempt(action):
    try:
        action()
        return 'succeeded'
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
def create():
    with open('/workspace/new.txt', 'w') as handle:
        handle.write('written from the sandbox')
print(json.dumps({
    'create': attempt(create),
    'append': attempt(lambda: open('/workspace/input.csv', 'a').close()),
    'mkdir': attempt(lambda: os.mkdir('/workspace/new-dir')),
    'remove': attempt(lambda: os.remove('/workspace/input.csv')),
    'rename': attempt(lambda: os.rename('/workspace/input.csv', '/workspace/moved.csv')),
    'chmod': attempt(lambda: os.chmod('/workspace/input.csv', 0o777)),
    'utime': attempt(lambda: os.utime('/workspace/input.csv', (0, 0))),
    'symlink': attempt(lambda: os.symlink('/etc/passwd', '/workspace/link')),
}))
`;

/** Connects to the host's loopback server from the sandbox: `{reply}` or `{errno}`. */
function connectCode(host = '127.0.0.1'): string {
  return `
import errno, json, socket
try:
    with socket.create_connection((${JSON.stringify(host)}, ${serverPort}), timeout=5) as connection:
        connection.settimeout(5)
        print(json.dumps({'reply': connection.makefile().readline().strip()}))
except OSError as error:
    print(json.dumps({'errno': errno.errorcode.get(error.errno, type(error).__name__)}))
`;
}

const WRITE_NEW_FILE = "open('/workspace/new.txt', 'w').write('written from the sandbox')";

/** A cell that wrote into a read-only workspace: an OSError (EROFS) reported by the cell, nothing thrown. */
function expectReadOnlyError(execution: Execution): void {
  expect(execution.status, describeExecution(execution)).toBe('error');
  expect(execution.error?.ename).toBe('OSError');
  expect(execution.error?.evalue).toContain('[Errno 30] Read-only file system');
}

/** Every entry below `dir` with its type, size, mode and mtime, as the host sees it. */
async function hostTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(join(dir, relative))).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const info = await lstat(join(dir, path));
      out[path] =
        `${info.isDirectory() ? 'dir' : 'file'} ${info.size} ${info.mode.toString(8)} ${info.mtimeMs}`;
      if (info.isDirectory() && name !== 'lost+found') await walk(path);
    }
  };
  await walk('');
  return out;
}

async function sessionOfMode(mode: ExecutionMode | undefined): Promise<Session> {
  return engine.session({ ...(mode === undefined ? {} : { mode }), idleTimeoutMs: 0 });
}

describe('read_only', () => {
  it('refuses every write to /workspace with EROFS, reads what the host put there, keeps /tmp writable, has no network', async () => {
    const session = await sessionOfMode('read_only');
    try {
      expect(session.mode).toBe('read_only');
      expect(session.info().mode).toBe('read_only');
      expect(session.record().mode).toBe('read_only');
      // The host file API still writes (that is how inputs reach a read_only session).
      await session.files.write('input.csv', 'a,b\n1,2\n');
      const before = await hostTree(session.workspaceDir);

      const write = await session.execute(WRITE_NEW_FILE);
      expectReadOnlyError(write);
      expect(write.files).toEqual([]);

      const verdict = verdictOf(await session.execute(WRITE_ATTEMPTS));
      for (const [operation, outcome] of Object.entries(verdict)) expect(outcome, operation).toBe('EROFS');

      const read = await session.execute("print(open('/workspace/input.csv').read(), end='')");
      expectOk(read);
      expect(read.stdout).toBe('a,b\n1,2\n');

      const scratch = await session.execute(
        "open('/tmp/scratch.txt', 'w').write('scratch')\nprint(open('/tmp/scratch.txt').read())",
      );
      expectOk(scratch);
      expect(scratch.stdout).toBe('scratch\n');

      const network = verdictOf(await session.execute(connectCode()));
      expect(network).toEqual({ errno: 'ECONNREFUSED' });
      const interfaces = await session.execute(
        'import socket\nsorted(name for _, name in socket.if_nameindex())',
      );
      expectOk(interfaces);
      expect(interfaces.result?.['text/plain']).toBe("['lo']");

      // Ordinary cells run clean: nothing the runtime does after a cell writes to the workspace.
      const plain = await session.execute('x = 6 * 7\nx');
      expectOk(plain);
      expect(plain.result?.['text/plain']).toBe('42');
      expect(plain.stderr).toBe('');

      expect(await hostTree(session.workspaceDir)).toEqual(before);
      expect(Object.keys(before)).not.toContain('new.txt');
      expect(await readFile(join(session.workspaceDir, 'input.csv'), 'utf8')).toBe('a,b\n1,2\n');
    } finally {
      await session.close();
    }
    expect(accepted).toBe(0);
  });

  it('is an error naming the valid modes when the mode is unknown', async () => {
    const bad = await engine.vv.createSession({ mode: 'readonly' as ExecutionMode }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(isVivariumError(bad, 'INVALID_ARGUMENT')).toBe(true);
    expect((bad as Error).message).toBe(
      'Expected `mode` to be one of "read_only", "workspace_write", "network", got `readonly` (string)',
    );
  });

  it('holds for one-shot runs', async () => {
    const execution = await engine.vv.run(WRITE_NEW_FILE, { mode: 'read_only' });
    expectReadOnlyError(execution);
  });
});

describe('workspace_write (the default)', () => {
  it('writes the workspace, and cannot reach a server on the host loopback', async () => {
    const session = await sessionOfMode(undefined);
    try {
      expect(session.mode).toBe('workspace_write');
      expectOk(await session.execute(WRITE_NEW_FILE));
      expect(await readFile(join(session.workspaceDir, 'new.txt'), 'utf8')).toBe('written from the sandbox');
      const before = accepted;
      expect(verdictOf(await session.execute(connectCode()))).toEqual({ errno: 'ECONNREFUSED' });
      expect(accepted).toBe(before);
    } finally {
      await session.close();
    }
  });
});

describe('network', () => {
  it('reaches the server on the host loopback, by address and by name, and writes the workspace', async () => {
    const session = await sessionOfMode('network');
    try {
      expect(session.mode).toBe('network');
      const before = accepted;
      expect(verdictOf(await session.execute(connectCode()))).toEqual({ reply: GREETING });
      // Name resolution works: the host's `/etc/hosts` (and friends) are bound read-only.
      expect(verdictOf(await session.execute(connectCode('localhost')))).toEqual({ reply: GREETING });
      expect(accepted).toBe(before + 2);
      expectOk(await session.execute(WRITE_NEW_FILE));
      expect(await readFile(join(session.workspaceDir, 'new.txt'), 'utf8')).toBe('written from the sandbox');
      // Only what name resolution needs of /etc: no host secrets come with the network.
      const etc = await session.execute(
        "import os\nprint(sorted(os.listdir('/etc')))\nprint(os.path.exists('/etc/ssl/private'), os.path.exists('/etc/shadow'))",
      );
      expectOk(etc);
      expect(etc.stdout).toContain('False False');
    } finally {
      await session.close();
    }
  });
});

describe('kernels of a session keep its mode', () => {
  it('a pooled kernel of the default mode is never handed to a session of another mode', async () => {
    const { vv } = engine;
    await waitFor(() => vv.poolStats().ready === 1, 'the pool to fill', 30_000);
    const start = vv.poolStats();
    const readOnly = await sessionOfMode('read_only');
    const networked = await sessionOfMode('network');
    try {
      expect(vv.poolStats()).toMatchObject({ hits: start.hits, misses: start.misses + 2, ready: 1 });
      expectReadOnlyError(await readOnly.execute(WRITE_NEW_FILE));
      expect(verdictOf(await networked.execute(connectCode()))).toEqual({ reply: GREETING });
      // The control: a session of the pool's own mode takes the pooled kernel.
      const pooled = await sessionOfMode('workspace_write');
      try {
        expect(vv.poolStats().hits).toBe(start.hits + 1);
        expectOk(await pooled.execute(WRITE_NEW_FILE));
      } finally {
        await pooled.close();
      }
    } finally {
      await Promise.all([readOnly.close(), networked.close()]);
    }
  });

  it('restart keeps the mode', async () => {
    const readOnly = await sessionOfMode('read_only');
    const networked = await sessionOfMode('network');
    try {
      await readOnly.restart();
      await networked.restart();
      expect(readOnly.mode).toBe('read_only');
      expectReadOnlyError(await readOnly.execute(WRITE_NEW_FILE));
      expect(verdictOf(await networked.execute(connectCode()))).toEqual({ reply: GREETING });
    } finally {
      await Promise.all([readOnly.close(), networked.close()]);
    }
  });

  it('side kernels (tools) run in the session mode', async () => {
    const readOnly = await sessionOfMode('read_only');
    const networked = await sessionOfMode('network');
    try {
      await readOnly.files.write('input.csv', 'a,b\n1,2\n');
      const runSide = async (session: Session, code: string): Promise<Execution> => {
        const kernel = await session.startSideKernel();
        try {
          return await kernel.execute({
            executionId: newId('exe'),
            sessionId: session.id,
            code,
            timeoutMs: 20_000,
            maxOutputBytes: 65_536,
            maxDisplayBytes: 65_536,
          });
        } finally {
          await kernel.close();
        }
      };
      expectReadOnlyError(await runSide(readOnly, WRITE_NEW_FILE));
      expect(verdictOf(await runSide(networked, connectCode()))).toEqual({ reply: GREETING });

      // A tool on the read_only session: the profiled code's write fails the same way.
      const profiled = await readOnly.profile({ code: WRITE_NEW_FILE });
      expect(profiled.error?.ename).toBe('OSError');
      expect(profiled.error?.evalue).toContain('Read-only file system');
      // Tools that only read work as usual.
      expect(await readOnly.files.describe('input.csv')).toMatchObject({ kind: 'csv', columnCount: 2 });
      // Tools that would write into the workspace say so instead of failing inside.
      await expect(readOnly.runTests()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(readOnly.profile({ code: '1', saveProfile: 'p.prof' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(readOnly.install(['anything'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((await readdir(readOnly.workspaceDir)).filter((name) => name !== 'lost+found')).toEqual([
        'input.csv',
      ]);
    } finally {
      await Promise.all([readOnly.close(), networked.close()]);
    }
  });

  it('a restored session keeps its mode; a record from before modes restores as workspace_write', async () => {
    const { vv } = engine;
    const readOnly = await sessionOfMode('read_only');
    const older = await sessionOfMode('read_only');
    const readOnlyRecord = readOnly.record();
    const { mode: _dropped, ...olderRecord } = older.record();
    await Promise.all([readOnly.detach(), older.detach()]);
    const restored = await vv.restoreSession(readOnlyRecord);
    // What a store written before execution modes hands back.
    const restoredOlder = await vv.restoreSession(olderRecord as typeof readOnlyRecord);
    try {
      expect(restored.mode).toBe('read_only');
      expectReadOnlyError(await restored.execute(WRITE_NEW_FILE));
      expect(restoredOlder.mode).toBe('workspace_write');
      expectOk(await restoredOlder.execute(WRITE_NEW_FILE));
    } finally {
      await Promise.all([restored.close(), restoredOlder.close()]);
    }
  });
});

describe('over HTTP', () => {
  let svc: ServiceFixture;
  beforeAll(async () => {
    svc = await startServiceFixture({ config: { sandbox: SERVICE_UIDS } });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('creates a read_only session whose writes fail, shows its mode, and keeps it across a restart of the service', async () => {
    const key = svc.keys.a;
    const created = await api(svc.url, 'POST', '/v1/sessions', { key, json: { mode: 'read_only' } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.mode).toBe('read_only');
    const id: string = created.body.id;
    const execute = async (code: string): Promise<Execution> => {
      const answer = await api<Execution>(svc.url, 'POST', `/v1/sessions/${id}/executions`, {
        key,
        json: { code },
      });
      expect(answer.status, answer.text).toBe(200);
      return answer.body;
    };
    expectReadOnlyError(await execute(WRITE_NEW_FILE));
    expect((await api(svc.url, 'GET', `/v1/sessions/${id}`, { key })).body.mode).toBe('read_only');
    const listed = await api<{ sessions: Array<{ id: string; mode: string }> }>(
      svc.url,
      'GET',
      '/v1/sessions',
      {
        key,
      },
    );
    expect(listed.body.sessions.find((item) => item.id === id)?.mode).toBe('read_only');

    await svc.restart();
    expect((await api(svc.url, 'GET', `/v1/sessions/${id}`, { key })).body.mode).toBe('read_only');
    expectReadOnlyError(await execute(WRITE_NEW_FILE));
    await api(svc.url, 'DELETE', `/v1/sessions/${id}`, { key });

    const defaulted = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    expect(defaulted.body.mode).toBe('workspace_write');
    await api(svc.url, 'DELETE', `/v1/sessions/${defaulted.body.id}`, { key });
  });

  it('the client SDK passes the mode and reads it back', async () => {
    const client = new VivariumClient({ baseUrl: svc.url, apiKey: svc.keys.a });
    const session = await client.createSession({ mode: 'read_only', preload: [] });
    try {
      expect((await session.info()).mode).toBe('read_only');
      expectReadOnlyError(await session.execute(WRITE_NEW_FILE));
    } finally {
      await session.close();
    }
    expectReadOnlyError(await client.run(WRITE_NEW_FILE, { mode: 'read_only' }));
  });

  it('runs one-shot code read_only', async () => {
    const run = await api(svc.url, 'POST', '/v1/run', {
      key: svc.keys.a,
      json: { code: WRITE_NEW_FILE, mode: 'read_only' },
    });
    expect(run.status, run.text).toBe(200);
    expectReadOnlyError(run.body as Execution);
  });

  it('answers 400 for an unknown mode, naming the valid ones', async () => {
    for (const [path, json] of [
      ['/v1/sessions', { mode: 'readonly' }],
      ['/v1/run', { code: '1', mode: 'root' }],
      ['/v1/sessions', { mode: 7 }],
    ] as const) {
      const answer = await api(svc.url, 'POST', path, { key: svc.keys.a, json });
      expect(answer.status, answer.text).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_ARGUMENT');
      expect(answer.body.error.message).toContain(
        'Expected `mode` to be one of "read_only", "workspace_write", "network"',
      );
    }
  });

  it('lets only admin keys ask for more than the configured mode', async () => {
    const refused = await api(svc.url, 'POST', '/v1/sessions', {
      key: svc.keys.a,
      json: { mode: 'network' },
    });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.error.message).toContain("at most the service's `workspace_write`");
    const refusedRun = await api(svc.url, 'POST', '/v1/run', {
      key: svc.keys.a,
      json: { code: connectCode(), mode: 'network' },
    });
    expect(refusedRun.status, refusedRun.text).toBe(400);
    const before = accepted;
    const admin = await api(svc.url, 'POST', '/v1/run', {
      key: svc.keys.admin,
      json: { code: connectCode(), mode: 'network' },
    });
    expect(admin.status, admin.text).toBe(200);
    expect(verdictOf(admin.body as Execution)).toEqual({ reply: GREETING });
    expect(accepted).toBe(before + 1);
  });
});

describe('CLI', () => {
  it('`run --mode read_only` leaves the workspace as it was, images included; a bad `--mode` is a usage error', async () => {
    assertCliBuilt();
    const dir = await mkdtemp(join(tmpdir(), `${SECURITY_RUN_DATA_DIR_PREFIX}cli-`));
    try {
      // Kernel uids must traverse it to reach the data directory (mkdtemp makes it 0700).
      await chmod(dir, 0o711);
      const workspace = join(dir, 'workspace');
      await mkdir(workspace);
      await writeFile(join(workspace, 'in.txt'), 'input');
      const common = ['--data', join(dir, 'data'), '--no-preload', '--workspace', workspace];
      // A 1x1 PNG through the display protocol: a writable workspace would get `output-1.png`.
      const code = [
        'import base64',
        "print(open('in.txt').read())",
        'class Picture:',
        '    def _repr_png_(self):',
        "        return base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==')",
        'display(Picture())',
        "open('out.txt', 'w')",
      ].join('\n');
      const result = await runCli(['run', ...common, '--mode', 'read_only', '-c', code]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe('input\n[image/png output: 70 bytes]\n');
      expect(result.stderr).toContain("OSError: [Errno 30] Read-only file system: 'out.txt'");
      expect(await readdir(workspace)).toEqual(['in.txt']);

      // The control: the same code in the default mode writes both.
      const writable = await runCli([
        'run',
        ...common,
        '-c',
        code.replace("open('out.txt', 'w')", "open('out.txt', 'w').close()"),
      ]);
      expect(writable.code, writable.stderr).toBe(0);
      expect((await readdir(workspace)).sort()).toEqual(['in.txt', 'out.txt', 'output-1.png']);

      const bad = await runCli(['run', ...common, '--mode', 'readonly', '-c', '1']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(
        'Expected `--mode` to be one of `read_only`, `workspace_write`, `network`, got `readonly`',
      );
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  });
});
