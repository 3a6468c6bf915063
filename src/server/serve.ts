import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import { Vivarium } from '../engine/index.js';
import { VivariumError } from '../errors/index.js';
import { openSqliteStore, type Store } from '../store/index.js';
import { createApp } from './create-app.js';
import { createServiceLogger } from './service-logger.js';
import { SessionDirectory, type RestoreReport } from './session-directory.js';

/** Options of {@link startService}. */
export interface StartServiceOptions {
  /** The loaded configuration (`loadConfig`); its `dataDir` holds the store and the workspaces. */
  config: Config;
  /** Address to bind. @default config `server.host` (127.0.0.1) */
  host?: string;
  /** Port; 0 picks a free one. @default config `server.port` (8420) */
  port?: number;
  /** Serve without API keys. Refused unless `host` is a loopback address. @default false */
  noAuth?: boolean;
  /** Aborting stops the service gracefully (as `stop()`). @default undefined */
  signal?: AbortSignal;
  /** Where logs go. @default {@link createServiceLogger} (JSON on stdout, `VIVARIUM_LOG_LEVEL` or `info`) */
  logger?: FastifyBaseLogger;
  /** Interval of SSE heartbeat comments. @default 15_000 */
  sseHeartbeatMs?: number;
}

/** A running service. */
export interface RunningService {
  app: FastifyInstance;
  /** `http://host:port`, with the port actually bound. */
  url: string;
  vv: Vivarium;
  store: Store;
  /** Sessions brought back from the store at start, and those whose workspace was gone. */
  restored: RestoreReport;
  /**
   * Graceful shutdown: stops accepting, lets running cells finish (interrupting them after
   * `server.shutdownGraceMs`), stops the kernels keeping workspaces for the next start, closes the
   * store. Idempotent.
   */
  stop(): Promise<void>;
}

/** How long shutdown waits for the last requests and executions once the kernels are stopped. */
export const SHUTDOWN_SETTLE_MS = 5_000;

/** How often shutdown closes connections that went idle. */
const CLOSE_POLL_MS = 50;

/** True for loopback addresses (127.0.0.0/8, ::1, their IPv4-mapped forms) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Runs the service: opens the store under `config.dataDir`, starts the engine, restores stored
 * sessions that were not closed, builds the app and listens. `vivarium serve` calls this and
 * `stop()` on SIGTERM/SIGINT.
 */
export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const { config } = options;
  const host = options.host ?? config.server.host;
  const port = options.port ?? config.server.port;
  const authEnabled = !options.noAuth && config.server.auth;
  if (!authEnabled && !isLoopbackHost(host)) {
    throw new VivariumError(
      'CONFIG_INVALID',
      `Refusing to serve without auth on \`${host}\`: auth may be turned off (--no-auth, server.auth false) only on a loopback address such as 127.0.0.1 or ::1. Create a key with \`vivarium keys create --name NAME\` instead`,
      { details: { host } },
    );
  }
  const logger = options.logger ?? createServiceLogger();
  options.signal?.throwIfAborted();

  const store = await openSqliteStore({ dataDir: config.dataDir });
  let vv: Vivarium | undefined;
  try {
    // The configuration is already resolved: the engine gets it whole, not the environment again.
    vv = await Vivarium.start({ ...config, processEnv: {} });
    const directory = new SessionDirectory({ vv, store, config, logger });
    const restored = await directory.restore();
    if (restored.restored.length > 0 || restored.lost.length > 0) {
      logger.info(
        { restored: restored.restored.length, lost: restored.lost.length },
        'sessions restored from the store',
      );
    }
    const app = createApp({
      vv,
      store,
      config,
      logger,
      auth: authEnabled,
      directory,
      ...(options.sseHeartbeatMs === undefined ? {} : { sseHeartbeatMs: options.sseHeartbeatMs }),
    });
    await app.listen({ host, port });
    // Tasks that were waiting for a decision wait again; the ones cut off mid-run are marked failed.
    const tasks = await app.vivarium.context.tasks.resume();
    if (tasks.resumed > 0 || tasks.interrupted > 0) logger.info(tasks, 'tasks resumed from the store');
    // Upgraded sockets are not the HTTP server's to close; the last resort of shutdown destroys them.
    const upgraded = new Set<Duplex>();
    app.server.on('upgrade', (_request, socket: Duplex) => {
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
    });
    const address = app.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${shownHost}:${address.port}`;
    if (!authEnabled) {
      logger.warn(
        { host },
        'auth is OFF: anyone who can reach this address can run code (loopback dev use only)',
      );
    }
    logger.info(
      { url, auth: authEnabled, isolation: config.isolation, dataDir: config.dataDir },
      'vivarium service listening',
    );

    const engine = vv;
    let stopping: Promise<void> | null = null;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        const { context } = app.vivarium;
        app.vivarium.beginShutdown();
        logger.info({ running: context.executions.running }, 'shutting down');
        const closing = app.close();
        try {
          // Tasks waiting for a decision stay pending in the store; running ones end `interrupted`.
          await context.tasks.stop();
          const left = await context.executions.drain(config.server.shutdownGraceMs);
          if (left > 0) logger.warn({ executions: left }, 'shutdown: cells still running are killed');
          await context.directory.freeze();
          logger.info('shutdown: stopping kernels (workspaces kept)');
          await engine.stop({ keepWorkspaces: true });
          await context.executions.settle(SHUTDOWN_SETTLE_MS);
          logger.info('shutdown: waiting for the last connections');
          // Connections that were busy when the close began go idle later: close them as they do.
          let closed = false;
          void closing.then(() => (closed = true));
          for (let waited = 0; !closed && waited < SHUTDOWN_SETTLE_MS; waited += CLOSE_POLL_MS) {
            app.server.closeIdleConnections();
            await sleep(CLOSE_POLL_MS);
          }
          if (!closed) {
            logger.warn('shutdown: closing connections that did not end');
            app.server.closeAllConnections();
            for (const socket of upgraded) socket.destroy();
            await closing;
          }
        } finally {
          await store.close();
          logger.info('stopped');
        }
      })());
    options.signal?.addEventListener('abort', () => void stop(), { once: true });
    return { app, url, vv, store, restored, stop };
  } catch (error) {
    await vv?.stop({ keepWorkspaces: true }).catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
}
