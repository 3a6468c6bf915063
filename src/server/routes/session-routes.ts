import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  createSessionBodySchema,
  errorResponses,
  historyQuerySchema,
  historyResponseSchema,
  interruptResponseSchema,
  listSessionsQuerySchema,
  restartResponseSchema,
  sessionIdParamsSchema,
  sessionViewSchema,
  variablesResponseSchema,
} from '../api-schemas.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { z } from 'zod';

const tags = ['sessions'];
const security = [{ bearerAuth: [] }];

/** Sessions: create, list, get, close, interrupt, restart, variables, history. */
export function sessionRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, store } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/sessions', {
      schema: {
        tags,
        security,
        summary: 'Start a session (a kernel on its own workspace)',
        body: createSessionBodySchema,
        response: { 201: sessionViewSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const session = await directory.create(principalOf(request), request.body);
        return reply.code(201).send(directory.viewOf(session));
      },
    });

    app.get('/v1/sessions', {
      schema: {
        tags,
        security,
        summary: "The caller's sessions (all of them for admin keys), newest first",
        querystring: listSessionsQuerySchema,
        response: { 200: z.object({ sessions: z.array(sessionViewSchema) }), ...errorResponses },
      },
      handler: async (request) => ({
        sessions: await directory.list(principalOf(request), {
          includeClosed: request.query.includeClosed === 'true',
        }),
      }),
    });

    app.get('/v1/sessions/:id', {
      schema: {
        tags,
        security,
        summary: 'One session, open or closed',
        params: sessionIdParamsSchema,
        response: { 200: sessionViewSchema, ...errorResponses },
      },
      handler: async (request) => {
        const { stored, session } = await directory.find(principalOf(request), request.params.id);
        return directory.view(stored, session);
      },
    });

    app.delete('/v1/sessions/:id', {
      schema: {
        tags,
        security,
        summary:
          'Close a session: its kernel is stopped and its workspace removed (history kept). Idempotent',
        params: sessionIdParamsSchema,
        response: { 200: sessionViewSchema, ...errorResponses },
      },
      handler: async (request) => directory.close(principalOf(request), request.params.id),
    });

    app.post('/v1/sessions/:id/interrupt', {
      schema: {
        tags,
        security,
        summary: 'Interrupt the running cell (KeyboardInterrupt); variables survive',
        params: sessionIdParamsSchema,
        response: { 200: interruptResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const session = await directory.live(principalOf(request), request.params.id);
        const interrupted = session.state === 'busy';
        session.interrupt();
        return { interrupted, session: directory.viewOf(session) };
      },
    });

    app.post('/v1/sessions/:id/restart', {
      schema: {
        tags,
        security,
        summary: 'A fresh kernel on the same workspace: files kept, variables lost; a running cell is killed',
        params: sessionIdParamsSchema,
        response: { 200: restartResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        try {
          await session.restart();
        } finally {
          await directory.persist(session);
        }
        await store.audit({
          keyId: principal.keyId,
          action: 'session.restart',
          target: session.id,
          status: 'ok',
          details: {},
        });
        return { namespaceReset: true as const, session: directory.viewOf(session) };
      },
    });

    app.get('/v1/sessions/:id/variables', {
      schema: {
        tags,
        security,
        summary: "The session's user variables: name, type, short summary",
        params: sessionIdParamsSchema,
        response: { 200: variablesResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const session = await directory.live(principalOf(request), request.params.id);
        return { variables: await session.variables() };
      },
    });

    app.get('/v1/sessions/:id/history', {
      schema: {
        tags,
        security,
        summary: "The session's stored executions with their code, oldest first (closed sessions too)",
        params: sessionIdParamsSchema,
        querystring: historyQuerySchema,
        response: { 200: historyResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const { stored } = await directory.find(principalOf(request), request.params.id);
        const executions = await store.listExecutions(stored.id, {
          ...(request.query.limit === undefined ? {} : { limit: request.query.limit }),
        });
        return {
          sessionId: stored.id,
          executions: executions.map((item) => ({
            code: item.code,
            createdAt: item.createdAt,
            execution: item.execution,
          })),
        };
      },
    });
  };
}
