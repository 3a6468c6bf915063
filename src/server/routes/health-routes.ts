import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { healthResponseSchema, readyResponseSchema } from '../api-schemas.js';
import type { ServiceContext } from '../service-context.js';

/** How long the readiness check waits for the store. */
export const STORE_PING_TIMEOUT_MS = 2_000;

async function pingStore(context: ServiceContext): Promise<{ ok: boolean; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      context.store.ping(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${STORE_PING_TIMEOUT_MS} ms`)),
          STORE_PING_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, detail: 'writable' };
  } catch (error) {
    return { ok: false, detail: `not writable: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** `GET /healthz`, `GET /readyz`, `GET /metrics`: public, no key needed. */
export function healthRoutes(context: ServiceContext, isDraining: () => boolean): FastifyPluginAsyncZod {
  const { vv, metrics, config } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.get('/healthz', {
      schema: { tags: ['operations'], summary: 'Alive', response: { 200: healthResponseSchema } },
      handler: () => ({ status: 'ok' as const }),
    });

    app.get('/readyz', {
      schema: {
        tags: ['operations'],
        summary: 'Ready: sandbox usable, pool warm, store writable (503 with the same body when not)',
        response: { 200: readyResponseSchema, 503: readyResponseSchema },
      },
      handler: async (_request, reply) => {
        const stats = vv.poolStats();
        const failing = stats.backoffMs > 0;
        const sandbox = {
          ok: !failing && !isDraining(),
          detail: isDraining()
            ? 'the service is shutting down'
            : failing
              ? `kernel starts are failing (${stats.startFailures} failures; next try in ${stats.backoffMs} ms)`
              : `isolation ${config.isolation}${vv.sandbox.seccomp ? ', seccomp on' : ''}`,
          isolation: config.isolation,
        };
        const pool = {
          ok: stats.size === 0 || stats.ready >= 1,
          detail:
            stats.size === 0 ? 'pool disabled (size 0)' : `${stats.ready} of ${stats.size} kernels warm`,
          size: stats.size,
          ready: stats.ready,
          starting: stats.starting,
        };
        const store = await pingStore(context);
        const ready = sandbox.ok && pool.ok && store.ok;
        return reply.code(ready ? 200 : 503).send({ ready, checks: { sandbox, pool, store } });
      },
    });

    app.get('/metrics', {
      schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)' },
      handler: async (_request, reply) => {
        const text = await metrics.render();
        return reply.header('content-type', metrics.contentType).send(text);
      },
    });
  };
}
