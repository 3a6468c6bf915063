import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../../config/index.js';
import { VivariumError } from '../../errors/index.js';
import type { ExecutionEvent } from '../../kernel/index.js';
import type { Session } from '../../session/index.js';
import { sessionIdParamsSchema } from '../api-schemas.js';
import { toHttpError } from '../http-errors.js';
import { parseJsonMessage } from '../json-message.js';
import type { Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';

/** Messages a WebSocket client sends. */
export const wsClientMessageSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('execute'),
      code: z.string(),
      /** Echoed on every message about this execution. */
      id: z.string().max(256).optional(),
      timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    })
    .strict(),
  z.object({ type: z.literal('interrupt') }).strict(),
  z.object({ type: z.literal('input_reply'), value: z.string() }).strict(),
]);

/** A pending `input()` of a cell, answered by the client's `input_reply`. */
interface PendingInput {
  resolve: (value: string) => void;
  reject: (error: Error) => void;
}

/** Connection close code when the service shuts down (RFC 6455 "going away"). */
export const WS_GOING_AWAY = 1001;

function send(socket: WebSocket, message: Record<string, unknown>): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/** Handles one connection: execute, interrupt, input replies; events back as JSON messages. */
function handleConnection(
  context: ServiceContext,
  socket: WebSocket,
  principal: Principal,
  session: Session,
  requestId: string,
): void {
  const pendingInputs: PendingInput[] = [];
  const sendError = (error: unknown, id: string | undefined): void => {
    const { body } = toHttpError(error, requestId);
    send(socket, { type: 'error', ...body, ...(id === undefined ? {} : { id }) });
  };

  const execute = async (message: {
    code: string;
    id?: string | undefined;
    timeoutMs?: number | undefined;
  }): Promise<void> => {
    const tag = message.id === undefined ? {} : { id: message.id };
    try {
      context.executions.admit(principal, message, session.limits.timeoutMs);
      const execution = await context.executions.execute(principal, session, {
        code: message.code,
        ...(message.timeoutMs === undefined ? {} : { timeoutMs: message.timeoutMs }),
        onEvent: (event: ExecutionEvent) => send(socket, { ...event, ...tag }),
        onInput: () =>
          new Promise<string>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) reject(new Error('the client is gone'));
            else pendingInputs.push({ resolve, reject });
          }),
      });
      send(socket, { type: 'execution-end', executionId: execution.id, execution, ...tag });
    } catch (error) {
      sendError(error, message.id);
    }
  };

  socket.on('message', (data, isBinary) => {
    try {
      if (isBinary) throw new VivariumError('INVALID_ARGUMENT', 'Expected a text message holding JSON');
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8');
      const message = parseJsonMessage(wsClientMessageSchema, text, 'message');
      switch (message.type) {
        case 'execute':
          void execute(message);
          break;
        case 'interrupt':
          session.interrupt();
          break;
        case 'input_reply': {
          const pending = pendingInputs.shift();
          if (!pending) throw new VivariumError('INVALID_ARGUMENT', 'No cell is waiting for input');
          pending.resolve(message.value);
          break;
        }
      }
    } catch (error) {
      sendError(error, undefined);
    }
  });
  socket.on('close', () => {
    for (const pending of pendingInputs.splice(0)) pending.reject(new Error('the client went away'));
  });
}

/** `GET /v1/sessions/:id/ws`: run cells interactively with the same events as SSE. */
export function websocketRoutes(context: ServiceContext): (app: FastifyInstance) => Promise<void> {
  const sessions = new WeakMap<FastifyRequest, Session>();
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/v1/sessions/:id/ws',
      {
        websocket: true,
        schema: {
          tags: ['executions'],
          summary: 'WebSocket: execute, interrupt, input replies; the same events as SSE',
          description:
            'Client → server: `{type:"execute", code, id?, timeoutMs?}`, `{type:"interrupt"}`, `{type:"input_reply", value}`. Server → client: each execution event (`{type:"execution-start", …}` … `{type:"execution-end", execution}`, with the `id` echoed) and `{type:"error", error:{code,message,details}}`. Browsers that cannot set headers pass the key as `?token=`.',
          security: [{ bearerAuth: [] }],
          params: sessionIdParamsSchema,
        },
        // The session is looked up before the upgrade, so an unknown or foreign id is a plain 404.
        preHandler: async (request) => {
          const { id } = request.params as { id: string };
          sessions.set(request, await context.directory.live(principalOf(request), id));
        },
      },
      // Synchronous: listeners must be attached before the first message can arrive.
      (socket, request) => {
        const session = sessions.get(request);
        sessions.delete(request);
        if (!session) {
          socket.close(1011, 'session unavailable');
          return;
        }
        handleConnection(context, socket, principalOf(request), session, request.id);
      },
    );
  };
}
