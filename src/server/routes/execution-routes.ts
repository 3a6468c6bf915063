import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Execution } from '../../kernel/index.js';
import type { Session } from '../../session/index.js';
import {
  errorResponses,
  executeBodySchema,
  executionSchema,
  runBodySchema,
  sessionIdParamsSchema,
} from '../api-schemas.js';
import { toHttpError } from '../http-errors.js';
import type { Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { SseStream, wantsEventStream } from '../sse-stream.js';

const security = [{ bearerAuth: [] }];
const streamingNote =
  'With `Accept: text/event-stream` the answer is a Server-Sent Events stream: `execution-start`, `stream-delta`, `display-data`, `execute-result`, `execution-error`, …, then `execution-end` carrying the stored Execution.';

/**
 * Runs `code` on `session` and answers: the Execution as JSON, or (for `Accept: text/event-stream`)
 * the events as SSE ending with `execution-end`. Either way the execution is stored first.
 */
async function answerExecution(
  context: ServiceContext,
  request: FastifyRequest,
  reply: FastifyReply,
  principal: Principal,
  session: Session,
  body: { code: string; timeoutMs?: number | undefined },
  receivedAtMs: number,
  after?: () => Promise<void>,
): Promise<Execution | FastifyReply> {
  const run = {
    code: body.code,
    receivedAtMs,
    ...(body.timeoutMs === undefined ? {} : { timeoutMs: body.timeoutMs }),
  };
  if (!wantsEventStream(request.headers.accept)) {
    try {
      return await context.executions.execute(principal, session, run);
    } finally {
      await after?.();
    }
  }
  const stream = new SseStream(reply, { heartbeatMs: context.sseHeartbeatMs });
  try {
    const execution = await context.executions.execute(principal, session, {
      ...run,
      onEvent: (event) => stream.send(event.type, event),
    });
    stream.send('execution-end', { type: 'execution-end', executionId: execution.id, execution });
  } catch (error) {
    if (!stream.isOpen) throw error;
    const { body: errorBody, serverFault } = toHttpError(error, request.id);
    if (serverFault) request.log.error({ err: error }, 'execution stream failed');
    stream.send('error', { type: 'error', ...errorBody });
  } finally {
    stream.end();
    await after?.();
  }
  return reply;
}

/** Executions on a session, and one-shot runs. */
export function executionRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/sessions/:id/executions', {
      schema: {
        tags: ['executions'],
        security,
        summary: 'Run a cell on the session',
        description: `Answers the Execution (a Python exception is a 200 with status \`error\`). ${streamingNote}`,
        params: sessionIdParamsSchema,
        body: executeBodySchema,
        response: { 200: executionSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const receivedAtMs = performance.now();
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        executions.admit(principal, request.body, session.limits.timeoutMs);
        return answerExecution(context, request, reply, principal, session, request.body, receivedAtMs);
      },
    });

    app.post('/v1/run', {
      schema: {
        tags: ['executions'],
        security,
        summary: 'Run code once in a fresh sandbox, closed afterwards',
        description: `The same Execution shape; the session is stored (closed) with its one execution. ${streamingNote}`,
        body: runBodySchema,
        response: { 200: executionSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const receivedAtMs = performance.now();
        const principal = principalOf(request);
        const { code, timeoutMs, limits, mode, preload, env } = request.body;
        const effective = directory.effectiveLimits(principal, limits);
        // Refused before anything is counted against the key.
        directory.effectiveMode(principal, mode);
        executions.admit(principal, { code, timeoutMs }, effective.timeoutMs);
        const session = await directory.create(principal, {
          ...(limits ? { limits } : {}),
          ...(mode === undefined ? {} : { mode }),
          ...(preload ? { preload } : {}),
          ...(env ? { env } : {}),
          idleTimeoutMs: 0,
        });
        const close = async (): Promise<void> => {
          await directory.close(principal, session.id, 'one-shot run finished').catch((error: unknown) => {
            request.log.warn({ err: error, sessionId: session.id }, 'one-shot session did not close cleanly');
          });
        };
        return answerExecution(
          context,
          request,
          reply,
          principal,
          session,
          { code, timeoutMs },
          receivedAtMs,
          close,
        );
      },
    });
  };
}
