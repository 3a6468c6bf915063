import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Vivarium } from '../engine/index.js';
import { validate, VivariumError } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { ExecutionRateLimiter } from './execution-rate-limiter.js';
import { ExecutionService } from './execution-service.js';
import { toHttpError } from './http-errors.js';
import { anonymousPrincipal, authenticate, isUpgradeRequest } from './principal.js';
import { devtoolsFilesRoutes } from './routes/devtools-files-routes.js';
import { analysisRoutes } from './routes/analysis-routes.js';
import { devtoolsNotebookRoutes } from './routes/devtools-notebook-routes.js';
import { devtoolsTestingRoutes } from './routes/devtools-testing-routes.js';
import { devtoolsCodeRoutes } from './routes/devtools-code-routes.js';
import { executionRoutes } from './routes/execution-routes.js';
import { fileRoutes } from './routes/file-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { toolRoutes } from './routes/tool-routes.js';
import { websocketRoutes } from './routes/websocket-routes.js';
import { taskRoutes } from './routes/task-routes.js';
import { serviceTaskHost } from './service-task-host.js';
import { sandboxAnalyzer, sandboxPackageProbe, TaskManager } from '../pipeline/index.js';
import type { ServiceContext } from './service-context.js';
import { ServiceMetrics } from './service-metrics.js';
import { createServiceLogger } from './service-logger.js';
import { SessionDirectory } from './session-directory.js';
import { DEFAULT_SSE_HEARTBEAT_MS } from './sse-stream.js';

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** The started engine. Not stopped by the app: its owner (`startService`) does that. */
  vv: Vivarium;
  /** The open store. Not closed by the app. */
  store: Store;
  /** The configuration (`server` section: limits, auth). */
  config: Config;
  /** Where logs go. @default {@link createServiceLogger}: pino JSON on stdout at `info` (`VIVARIUM_LOG_LEVEL` overrides) */
  logger?: FastifyBaseLogger;
  /** Require API keys. @default config `server.auth` */
  auth?: boolean;
  /** The session directory, when the caller restored sessions into it first. @default a new one */
  directory?: SessionDirectory;
  /** Interval of SSE heartbeat comments. @default 15_000 */
  sseHeartbeatMs?: number;
  /** Include Node process metrics in `/metrics`. @default true */
  processMetrics?: boolean;
}

/** What `startService` drives on the app: shutdown and housekeeping. */
export interface ServiceHandle {
  readonly context: ServiceContext;
  /** True once `beginShutdown()` was called: new requests answer 503 `ENGINE_STOPPED`. */
  readonly draining: boolean;
  beginShutdown(): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's state, for `startService` and tests. */
    vivarium: ServiceHandle;
  }
}

/** Longest `x-request-id` honoured; others are replaced by a fresh id. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** How often closed-by-engine sessions are written to the store and rate-limit buckets pruned. */
export const HOUSEKEEPING_INTERVAL_MS = 5_000;

/** An incoming `x-request-id` when it is sane, else a fresh UUID. */
export function requestIdFor(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
}

/** Validates request parts with zod, in the house message form (``Expected `body.code` to be a string, …``). */
const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    try {
      return { value: validate(schema, data, httpPart ?? 'request') };
    } catch (error) {
      return { error: error as Error };
    }
  };

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    // eslint-disable-next-line no-restricted-syntax -- our own package.json, validated on the same line
    return z.object({ version: z.string() }).parse(JSON.parse(text)).version;
  } catch {
    return '0.0.0';
  }
}

/** The URL without its query (which may carry a WebSocket `token`), for logs and errors. */
function pathOf(url: string): string {
  const index = url.indexOf('?');
  return index === -1 ? url : url.slice(0, index);
}

/** Routes that need an API key: the API proper. Health, metrics and docs are public. */
function needsAuth(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && (routeUrl.startsWith('/v1/') || routeUrl.startsWith('/api/'));
}

/**
 * Builds the HTTP service around a started engine and an open store: routes, zod validation and
 * serialisation, OpenAPI at `/docs/json` (UI at `/docs`), auth, rate limits, metrics, one error
 * handler. Does not listen (`startService` does); `app.inject` works on it directly.
 */
export function createApp(options: CreateAppOptions): FastifyInstance {
  const { vv, store, config } = options;
  const authEnabled = options.auth ?? config.server.auth;
  const logger = options.logger ?? createServiceLogger();
  const app = Fastify({
    loggerInstance: logger,
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: config.server.bodyLimitBytes,
    // Idle keep-alive connections are closed at shutdown; streams are left to finish.
    forceCloseConnections: 'idle',
    // Draining is answered by the auth hook in the one error shape, not by Fastify's own 503.
    return503OnClosing: false,
    routerOptions: { maxParamLength: 4096 },
  });
  // The API speaks JSON; a text body is a 415, not a string handed to the routes.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const directory = options.directory ?? new SessionDirectory({ vv, store, config, logger: app.log });
  const limiter = new ExecutionRateLimiter();
  const metrics = new ServiceMetrics({
    vv,
    activeSessions: () => directory.size,
    processMetrics: options.processMetrics ?? true,
  });
  const executions = new ExecutionService({ config, store, directory, limiter, metrics, logger: app.log });
  const tasks = new TaskManager({
    config,
    store,
    host: serviceTaskHost({ store, config, directory, executions }),
    generator: vv.generator,
    analyze: sandboxAnalyzer,
    probePackages: sandboxPackageProbe(),
  });
  const context: ServiceContext = {
    vv,
    store,
    config,
    directory,
    executions,
    metrics,
    sseHeartbeatMs: options.sseHeartbeatMs ?? DEFAULT_SSE_HEARTBEAT_MS,
    toolSessions: new Map(),
    tasks,
  };
  let draining = false;
  app.decorate('vivarium', {
    context,
    get draining() {
      return draining;
    },
    beginShutdown() {
      draining = true;
    },
  } satisfies ServiceHandle);
  app.decorateRequest('principal', null);

  const housekeeping = setInterval(() => {
    limiter.prune();
    // Tool session names whose session is gone start a new one on next use; forget them.
    for (const [name, sessionId] of context.toolSessions) {
      if (directory.ownerOf(sessionId) === undefined) context.toolSessions.delete(name);
    }
    directory.sync().catch((error: unknown) => app.log.warn({ err: error }, 'session sync failed'));
  }, HOUSEKEEPING_INTERVAL_MS);
  housekeeping.unref();
  app.addHook('onClose', () => {
    clearInterval(housekeeping);
  });

  app.addHook('onRequest', async (request, reply) => {
    const startedAt = performance.now();
    reply.raw.setHeader('x-request-id', request.id);
    // Counted when the response ends, whoever wrote it (Fastify, an SSE stream, an error).
    reply.raw.once('close', () => {
      metrics.recordHttpRequest(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.raw.statusCode,
        (performance.now() - startedAt) / 1000,
      );
    });
    // A refused WebSocket upgrade is answered over the raw socket, which nothing else would close.
    if (isUpgradeRequest(request.raw)) reply.raw.once('finish', () => request.raw.socket.end());
    if (!needsAuth(request.routeOptions.url)) return;
    if (draining)
      throw new VivariumError('ENGINE_STOPPED', 'The service is shutting down; retry on another instance');
    request.principal = authEnabled ? await authenticate(store, config, request) : anonymousPrincipal(config);
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toHttpError(error, request.id);
    if (answer.serverFault) request.log.error({ err: error }, 'request failed');
    else
      request.log.info(
        { code: answer.body.error.code, statusCode: answer.statusCode },
        answer.body.error.message,
      );
    return reply.code(answer.statusCode).headers(answer.headers).send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    return reply.code(404).send({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: `No route ${request.method} ${path}; the API is described at /docs`,
        details: { method: request.method, path },
      },
    });
  });

  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Vivarium',
        description:
          'Sandboxed, stateful Python sessions over HTTP: sessions, executions (JSON, SSE, WebSocket), files, tools.',
        version: packageVersion(),
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  void app.register(fastifyWebsocket, { options: { maxPayload: config.server.bodyLimitBytes } });

  const typed = app.withTypeProvider<ZodTypeProvider>();
  void typed.register(healthRoutes(context, () => draining));
  void typed.register(sessionRoutes(context));
  void typed.register(executionRoutes(context));
  void typed.register(fileRoutes(context));
  void typed.register(devtoolsFilesRoutes(context));
  void typed.register(toolRoutes(context));
  void typed.register(devtoolsCodeRoutes(context));
  void typed.register(analysisRoutes(context));
  void typed.register(devtoolsNotebookRoutes(context));
  void typed.register(devtoolsTestingRoutes(context));
  void typed.register(taskRoutes(context));
  void app.register(websocketRoutes(context));
  return app;
}
