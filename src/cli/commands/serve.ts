import { loadConfig } from '../../config/index.js';
import type { CliIo } from '../cli-io.js';
import { engineOptionsFromFlags } from '../engine-flags.js';
import { EXIT_OK, EXIT_SIGINT } from '../exit-codes.js';
import { CliUsageError, flagExpectation } from '../usage-error.js';

/** Flags of `vivarium serve` (raw commander values). */
export interface ServeFlags {
  host?: string;
  port?: string;
  data?: string;
  config?: string;
  /** False after `--no-auth`. */
  auth?: boolean;
}

/** Period of the timer that keeps the process alive while the service stops. */
const KEEP_ALIVE_INTERVAL_MS = 1_000;

/** `--port 8420` → 8420; 0 picks a free port. */
export function parsePort(raw: string): number {
  const port = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535)
    throw flagExpectation('--port', 'a port number from 0 to 65535 (0 picks a free one)', raw);
  return port;
}

/** Socket errors of `listen` that the flags (or config) can fix, as usage errors; null for others. */
function listenError(error: unknown, host: string, port: number): CliUsageError | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE')
    return new CliUsageError(
      `Cannot listen on ${where}: the port is in use (choose another with \`--port\`, or 0 for a free one)`,
    );
  if (code === 'EACCES')
    return new CliUsageError(
      `Cannot listen on ${where}: permission denied (ports below 1024 need privileges)`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new CliUsageError(`Cannot listen on ${where}: \`${host}\` is not an address of this host`);
  return null;
}

/**
 * `vivarium serve`: the HTTP service on this host, with the SQLite store in the data directory.
 * Prints where it listens on stderr (stdout carries the JSON logs); SIGINT or SIGTERM stops it
 * gracefully (running cells get `server.shutdownGraceMs`) and the command exits 0. A second SIGINT
 * quits at once (130).
 */
export async function serveCommand(flags: ServeFlags, io: CliIo): Promise<number> {
  const { configFile, ...overrides } = engineOptionsFromFlags({
    ...(flags.data === undefined ? {} : { data: flags.data }),
    ...(flags.config === undefined ? {} : { config: flags.config }),
  });
  if (flags.host !== undefined && flags.host.trim() === '')
    throw flagExpectation('--host', 'an address or host name to bind', flags.host);
  const port = flags.port === undefined ? undefined : parsePort(flags.port);
  const config = loadConfig({ overrides, ...(configFile === undefined ? {} : { configFile }) });
  // Loaded here, not at the top: `run` and `repl` do not pay for the HTTP stack.
  const { isLoopbackHost, startService } = await import('../../server/index.js');
  const host = flags.host?.trim() ?? config.server.host;
  const noAuth = flags.auth === false || !config.server.auth;
  // Checked here as well as in startService, so nothing is opened or started before the refusal.
  if (noAuth && !isLoopbackHost(host)) {
    throw new CliUsageError(
      `Refusing to serve without API keys on \`${host}\`, which is not a loopback address: ` +
        '`--no-auth` (or `server.auth: false`) is for local development on 127.0.0.1, ::1 or localhost only. ' +
        'Create a key with `vivarium keys create --name NAME` instead',
    );
  }

  // Signals that arrive while the service starts stop it as soon as it is up.
  const stopRequested = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1 && signal === 'SIGINT') {
      io.stderr.write('vivarium: interrupted twice, quitting at once\n');
      process.exit(EXIT_SIGINT);
    }
    if (signals === 1) {
      io.stderr.write(
        `vivarium: ${signal}: stopping (running cells get up to ${config.server.shutdownGraceMs} ms${signal === 'SIGINT' ? '; Ctrl-C again to quit at once' : ''})\n`,
      );
      stopRequested.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const service = await startService({
      config,
      host,
      noAuth,
      ...(port === undefined ? {} : { port }),
    }).catch((error: unknown) => {
      throw listenError(error, host, port ?? config.server.port) ?? error;
    });
    try {
      if (noAuth)
        io.stderr.write(
          `vivarium: WARNING: API keys are OFF (--no-auth): anyone who can reach ${service.url} can run code\n`,
        );
      io.stderr.write(
        `vivarium: serving on ${service.url} (data ${config.dataDir}; API docs at ${service.url}/docs)\n`,
      );
      if (!stopRequested.signal.aborted)
        await new Promise<void>((resolve) =>
          stopRequested.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
    } finally {
      // The shutdown waits on unreferenced timers and closing sockets: keep the process alive until
      // it is done, or Node would exit midway (code 13) before the store is closed.
      const keepAlive = setInterval(() => undefined, KEEP_ALIVE_INTERVAL_MS);
      try {
        await service.stop();
      } finally {
        clearInterval(keepAlive);
      }
    }
    io.stderr.write('vivarium: stopped\n');
    return EXIT_OK;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
