import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../../config/index.js';
import { DEFAULT_DESCRIBE_TIMEOUT_MS, describeFile, fileDescriptionSchema } from '../../tools/index.js';
import { errorResponses, sessionIdParamsSchema } from '../api-schemas.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { abortOnDisconnect } from './abort-on-disconnect.js';

/*
 * Input-file metadata over HTTP. The route is `POST /v1/sessions/:id/files/describe` with the path
 * in the JSON body: no existing route uses POST under `/files/`, so it cannot collide with the
 * `GET|PUT|DELETE /v1/sessions/:id/files/*` wildcards, and a file that happens to be called
 * `describe` stays reachable through them.
 */

const security = [{ bearerAuth: [] }];

export const describeFileBodySchema = z
  .object({
    path: z.string().min(1).max(4096).describe('Workspace-relative path of the file to describe'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_TIMER_MS)
      .optional()
      .describe(
        "Wall clock of the describe, ms (default 20000, at most the session's `limits.timeoutMs` unless admin)",
      ),
    maxBytesRead: z
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('Bytes of the file read for counts and scans (default 64 MiB); past it counts are estimates'),
  })
  .strict();

/** `POST /v1/sessions/:id/files/describe`. */
export function devtoolsFilesRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/sessions/:id/files/describe', {
      schema: {
        tags: ['files'],
        security,
        summary: 'Describe a workspace file: kind, shape and a small sample, computed in the sandbox',
        description:
          'CSV/TSV, Excel, JSON/NDJSON, text/Markdown/logs, PDF, DOCX, images, HDF5/NetCDF, archives (listed, never extracted). Runs in a side kernel of the session (its variables untouched) and counts as one execution of the key. Budgets cut the description short with `partial: true` and warnings, never a hang.',
        params: sessionIdParamsSchema,
        body: describeFileBodySchema,
        response: { 200: fileDescriptionSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const { path, timeoutMs: requestedMs, maxBytesRead } = request.body;
        executions.admit(
          principal,
          { code: '', ...(requestedMs === undefined ? {} : { timeoutMs: requestedMs }) },
          session.limits.timeoutMs,
        );
        const timeoutMs =
          requestedMs ??
          (principal.admin
            ? DEFAULT_DESCRIBE_TIMEOUT_MS
            : Math.min(DEFAULT_DESCRIBE_TIMEOUT_MS, session.limits.timeoutMs));
        const abort = abortOnDisconnect(reply);
        const result = await describeFile(session, path, {
          timeoutMs,
          ...(maxBytesRead === undefined ? {} : { maxBytesRead }),
          signal: abort.signal,
        });
        await store.audit({
          keyId: principal.keyId,
          action: 'file.describe',
          target: `${session.id}:${result.path}`,
          status: 'ok',
          details: { kind: result.kind, partial: result.partial, sizeBytes: result.sizeBytes },
        });
        return result;
      },
    });
  };
}
