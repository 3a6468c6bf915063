import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VivariumClient, VivariumClientError } from '../../src/client/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { assertCliBuilt, CLI_BIN, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';

/**
 * `vivarium serve` and `vivarium keys`, the built binary end to end: keys made by the CLI
 * authenticate against a `serve` child process on a loopback port, revocation holds, `--no-auth`
 * off loopback is refused, SIGTERM stops the service cleanly with the session kept in the data
 * directory. `npm run build` must have run.
 */

const KEY_LINE = /^vv_[A-Za-z0-9_-]{43}\n$/;

/** The environment of the children: none of the developer's VIVARIUM_* settings. */
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('VIVARIUM_')),
);

let data: { path: string; remove: () => Promise<void> };
let configFile: string;

/** A `vivarium serve` child, with what it printed. */
interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `vivarium serve ...args` and resolves once it printed where it listens. */
function startServe(args: readonly string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', ...args], { env: childEnv, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vivarium serve did not start within 60 s; stderr:\n${stderr}`));
    }, 60_000);
    child.stderr.on('data', (text: string) => {
      stderr += text;
      const url = /serving on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        resolve({ child, url, stdout: () => stdout, stderr: () => stderr, exited });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`vivarium serve exited (${code}) before listening; stderr:\n${stderr}`));
    });
  });
}

beforeAll(async () => {
  assertCliBuilt();
  data = await temporaryDirectory('vivarium-cli-service-');
  // Also the `--config` path: no preloaded modules, one warm kernel, a short shutdown grace.
  configFile = join(data.path, 'vivarium.config.json');
  await writeFile(
    configFile,
    JSON.stringify({ preload: [], pool: { size: 1 }, server: { shutdownGraceMs: 2_000 } }),
  );
});

afterAll(async () => {
  await data?.remove();
});

describe('vivarium keys', () => {
  it('create prints the new key alone on its line of stdout; list never shows it', async () => {
    const created = await runCli(['keys', 'create', '--name', 'listing', '--data', data.path]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(KEY_LINE);
    const key = created.stdout.trim();
    const keyId = /key (key_[0-9a-f]+)/.exec(created.stderr)?.[1];
    expect(keyId, created.stderr).toBeDefined();

    const admin = await runCli(['keys', 'create', '--name', 'operator', '--admin', '--data', data.path]);
    expect(admin.code, admin.stderr).toBe(0);
    expect(admin.stdout).toMatch(KEY_LINE);

    const table = await runCli(['keys', 'list', '--data', data.path]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+ADMIN\s+CREATED\s+REVOKED/);
    expect(table.stdout).toContain(keyId);
    expect(table.stdout).toMatch(/operator\s+yes/);
    expect(table.stdout).not.toContain(key);
    expect(table.stdout).not.toContain(admin.stdout.trim());

    const json = await runCli(['keys', 'list', '--json', '--data', data.path]);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain(key);
    const entries = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(entries.find((entry) => entry.id === keyId)).toMatchObject({
      name: 'listing',
      admin: false,
      revokedAt: null,
    });
    expect(entries.find((entry) => entry.name === 'operator')?.admin).toBe(true);
  });

  it('refuses bad input with exit 2 and a clear message', async () => {
    const unknown = await runCli(['keys', 'revoke', 'key_000000000000000000000000', '--data', data.path]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No API key with id `key_000000000000000000000000`');
    expect(unknown.stdout).toBe('');

    const noName = await runCli(['keys', 'create', '--data', data.path]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('--name');
    expect(noName.stdout).toBe('');

    const blank = await runCli(['keys', 'create', '--name', '  ', '--data', data.path]);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('Expected `--name`');
  });
});

describe('vivarium serve', () => {
  it('refuses --no-auth on a non-loopback host with exit 2, starting nothing', async () => {
    const refused = await runCli([
      'serve',
      '--no-auth',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--data',
      data.path,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('not a loopback address');
    expect(refused.stdout).toBe('');

    const badPort = await runCli(['serve', '--port', '70000', '--data', data.path]);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('Expected `--port`');
  });

  it('serves without keys on loopback with --no-auth, and says so', async () => {
    const scratch = await temporaryDirectory('vivarium-cli-noauth-');
    try {
      const serve = await startServe([
        '--no-auth',
        '--port',
        '0',
        '--data',
        scratch.path,
        '--config',
        configFile,
      ]);
      try {
        expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(serve.stderr()).toContain('WARNING: API keys are OFF');
        const execution = await new VivariumClient({ baseUrl: serve.url }).run('1 + 1');
        expect(execution.result).toEqual({ 'text/plain': '2' });
      } finally {
        serve.child.kill('SIGINT');
        expect(await serve.exited).toEqual({ code: 0, signal: null });
      }
    } finally {
      await scratch.remove();
    }
  });

  it('serves with keys from `keys create`, honours `keys revoke`, and stops on SIGTERM keeping the session', async () => {
    const created = await runCli(['keys', 'create', '--name', 'serving', '--data', data.path]);
    expect(created.stdout).toMatch(KEY_LINE);
    const key = created.stdout.trim();

    const serve = await startServe([
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      data.path,
      '--config',
      configFile,
    ]);
    let stopped = false;
    try {
      expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new VivariumClient({ baseUrl: serve.url, apiKey: key });
      const session = await client.createSession();
      const execution = await session.execute('open("kept.txt", "w").write("persisted")\n6 * 7');
      expect(execution.status).toBe('ok');
      expect(execution.result).toEqual({ 'text/plain': '42' });

      // A key created and revoked by the CLI while the service runs (the same database).
      const late = await runCli(['keys', 'create', '--name', 'short-lived', '--data', data.path]);
      expect(late.stdout).toMatch(KEY_LINE);
      const lateId = /key (key_[0-9a-f]+)/.exec(late.stderr)?.[1] ?? '';
      const lateClient = new VivariumClient({ baseUrl: serve.url, apiKey: late.stdout.trim() });
      expect(await lateClient.listSessions()).toEqual([]);
      const revoked = await runCli(['keys', 'revoke', lateId, '--data', data.path]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked ${lateId}`);
      const again = await runCli(['keys', 'revoke', lateId, '--data', data.path]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already revoked');
      const refused = await lateClient.listSessions().then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(VivariumClientError);
      expect(refused).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      // The first key still works.
      expect((await client.listSessions()).map((item) => item.id)).toEqual([session.id]);

      serve.child.kill('SIGTERM');
      const exit = await serve.exited;
      stopped = true;
      expect(exit, serve.stderr()).toEqual({ code: 0, signal: null });
      expect(serve.stderr()).toContain('SIGTERM: stopping');
      expect(serve.stderr()).toContain('vivarium: stopped');
      // stdout is the JSON log: every line parses.
      for (const line of serve
        .stdout()
        .split('\n')
        .filter((text) => text !== ''))
        expect(() => JSON.parse(line) as unknown, line).not.toThrow();

      const store = await openSqliteStore({ dataDir: data.path });
      try {
        const stored = await store.getSession(session.id);
        expect(stored).toMatchObject({ id: session.id, closedAt: null, executionCount: 1 });
        const history = await store.listExecutions(session.id);
        expect(history.map((item) => item.execution.id)).toEqual([execution.id]);
        expect(history[0]?.code).toContain('persisted');
      } finally {
        await store.close();
      }
    } finally {
      if (!stopped) {
        serve.child.kill('SIGKILL');
        await serve.exited;
      }
    }
  });
});
