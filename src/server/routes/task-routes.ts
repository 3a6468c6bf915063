import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { APPROVAL_MODES, EXECUTION_MODES, MAX_TIMER_MS } from '../../config/index.js';
import {
  approvalSchema,
  chatMessageSchema,
  MAX_EXPECTED_RESULTS,
  MAX_OBJECTIVE_CHARS,
  MAX_TASK_FILES,
  storedModelCallSchema,
  TASK_STATES,
  taskResultSchema,
  type CreateTaskOptions,
  type TaskEvent,
  type TaskManager,
  type TaskResult,
} from '../../pipeline/index.js';
import { VivariumError } from '../../errors/index.js';
import { errorResponses } from '../api-schemas.js';
import { toHttpError } from '../http-errors.js';
import type { Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { SseStream, wantsEventStream } from '../sse-stream.js';

const security = [{ bearerAuth: [] }];
const workspacePath = z.string().min(1).max(4096);

/** `POST /v1/tasks`. */
export const createTaskBodySchema = z
  .object({
    objective: z.string().trim().min(1).max(MAX_OBJECTIVE_CHARS).describe('What the code must achieve'),
    files: z
      .array(
        z.union([
          workspacePath.describe('A file already in the session workspace'),
          z
            .object({ path: workspacePath, content: z.string().describe('UTF-8 text') })
            .strict()
            .describe('A text file to write into the workspace first'),
          z
            .object({ path: workspacePath, contentBase64: z.base64() })
            .strict()
            .describe('A binary file to write into the workspace first'),
        ]),
      )
      .max(MAX_TASK_FILES)
      .optional(),
    context: z
      .union([z.string().max(200_000), z.array(chatMessageSchema).max(200)])
      .nullable()
      .optional(),
    sessionId: z.string().min(1).max(128).optional().describe('Run in this session (else a new one)'),
    expectedResults: z.array(z.string().min(1).max(200)).max(MAX_EXPECTED_RESULTS).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    approvalMode: z.enum(APPROVAL_MODES).optional(),
    mode: z.enum(EXECUTION_MODES).optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    verify: z.boolean().optional(),
    wait: z
      .boolean()
      .optional()
      .describe('JSON answers: wait for the end or an approval request (default), or answer 202 at once'),
  })
  .strict();

const idParams = z.object({ id: z.string().min(1).max(128) }).strict();
const listTasksQuery = z
  .object({
    state: z.enum(TASK_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();
const listApprovalsQuery = z
  .object({
    state: z.enum(['pending', 'approved', 'rejected', 'cancelled']).optional(),
    taskId: z.string().min(1).max(128).optional(),
  })
  .strict();
export const decideBodySchema = z
  .object({
    decision: z.enum(['approve', 'reject']),
    comment: z.string().max(10_000).nullable().optional(),
    codeHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest')
      .optional()
      .describe('The hash of the code you reviewed; a different pending code is a 409'),
  })
  .strict();
const taskEventSchema = z
  .object({ type: z.string(), taskId: z.string(), seq: z.number().int(), at: z.string() })
  .loose();

const actorOf = (principal: Principal): { keyId: string | null; admin: boolean } => ({
  keyId: principal.keyId,
  admin: principal.admin,
});

function requireTasks(context: ServiceContext): TaskManager {
  return context.tasks;
}

/** Streams a task's events as SSE: the stored ones first, then live ones until `task-end`. */
async function streamTaskEvents(
  context: ServiceContext,
  stream: SseStream,
  taskId: string,
  principal: Principal,
): Promise<void> {
  const tasks = requireTasks(context);
  const buffered: TaskEvent[] = [];
  let live: ((event: TaskEvent) => void) | null = null;
  let ended!: () => void;
  const finished = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const unsubscribe = tasks.subscribe(taskId, (event) => {
    if (live) live(event);
    else buffered.push(event);
  });
  try {
    const stored = await tasks.events(taskId, actorOf(principal));
    let lastSeq = 0;
    const send = (event: TaskEvent): void => {
      if (event.seq <= lastSeq) return;
      lastSeq = event.seq;
      stream.send(event.type, event);
      if (event.type === 'task-end') ended();
    };
    for (const event of stored) send(event);
    for (const event of buffered) send(event);
    live = send;
    const task = await tasks.get(taskId, actorOf(principal));
    if (task.status !== null || !tasks.isActive(taskId)) {
      if (lastSeq === 0 || stored.at(-1)?.type !== 'task-end') {
        // Ended before events were kept, or resumable later: say where it stands.
        if (task.status !== null)
          send({ type: 'task-end', taskId, seq: lastSeq + 1, at: task.updatedAt, result: task });
      }
      ended();
    }
    stream.open();
    await Promise.race([finished, new Promise<void>((resolve) => stream.onClose(resolve))]);
  } finally {
    unsubscribe();
    stream.end();
  }
}

/** Tasks (objective → code → run → repair) and their approvals. */
export function taskRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/tasks', {
      schema: {
        tags: ['tasks'],
        security,
        summary:
          'Start a task: a model writes code for the objective; it is analyzed, approved if needed, run, checked and repaired',
        description:
          "JSON: answers 200 with the result when the task ended, 202 with the task when it waits for an approval (or at once with `wait: false`). With `Accept: text/event-stream` the task's events stream until `task-end` (a client that goes away does not cancel the task).",
        body: createTaskBodySchema,
        response: {
          200: taskResultSchema,
          202: taskResultSchema,
          ...errorResponses,
          502: errorResponses[500],
        },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const tasks = requireTasks(context);
        const { wait, files, ...rest } = request.body;
        // The same ceiling as for sessions: keys that are not admin get at most `policy.mode`.
        if (rest.sessionId === undefined) context.directory.effectiveMode(principal, rest.mode);
        const options: CreateTaskOptions = {
          ...rest,
          ...(files
            ? {
                files: files.map((file) =>
                  typeof file === 'string'
                    ? file
                    : 'content' in file
                      ? { path: file.path, content: file.content }
                      : { path: file.path, content: Buffer.from(file.contentBase64, 'base64') },
                ),
              }
            : {}),
        };
        if (wantsEventStream(request.headers.accept)) {
          const stream = new SseStream(reply, { heartbeatMs: context.sseHeartbeatMs });
          let ended!: () => void;
          const finished = new Promise<void>((resolve) => {
            ended = resolve;
          });
          try {
            await tasks.create(
              {
                ...options,
                onEvent: (event) => {
                  stream.send(event.type, event);
                  if (event.type === 'task-end') ended();
                },
              },
              actorOf(principal),
            );
            stream.open();
            await Promise.race([finished, new Promise<void>((resolve) => stream.onClose(resolve))]);
          } catch (error) {
            if (!stream.isOpen) throw error;
            const { body, serverFault } = toHttpError(error, request.id);
            if (serverFault) request.log.error({ err: error }, 'task stream failed');
            stream.send('error', { type: 'error', ...body });
          } finally {
            stream.end();
          }
          return reply;
        }
        let waiting!: () => void;
        const awaitingApproval = new Promise<void>((resolve) => {
          waiting = resolve;
        });
        const handle = await tasks.create(
          {
            ...options,
            onEvent: (event) => {
              if (event.type === 'approval-request') waiting();
            },
          },
          actorOf(principal),
        );
        if (wait === false) return reply.code(202).send(handle.snapshot());
        const ended = await Promise.race([handle.result(), awaitingApproval.then(() => null)]);
        if (ended) return ended;
        return reply.code(202).send(await tasks.get(handle.id, actorOf(principal)));
      },
    });

    app.get('/v1/tasks', {
      schema: {
        tags: ['tasks'],
        security,
        summary: "The caller's tasks, newest first (every task for admin keys)",
        querystring: listTasksQuery,
        response: { 200: z.object({ tasks: z.array(taskResultSchema) }), ...errorResponses },
      },
      handler: async (request) => {
        const { state, limit } = request.query;
        const list = await requireTasks(context).list(actorOf(principalOf(request)), {
          ...(state ? { states: [state] } : {}),
          ...(limit ? { limit } : {}),
        });
        return { tasks: list };
      },
    });

    app.get('/v1/tasks/:id', {
      schema: {
        tags: ['tasks'],
        security,
        summary:
          'A task: its state, attempts (code, analysis, approval, execution, error, verification), results, usage',
        params: idParams,
        response: { 200: taskResultSchema, ...errorResponses },
      },
      handler: async (request) => requireTasks(context).get(request.params.id, actorOf(principalOf(request))),
    });

    app.get('/v1/tasks/:id/events', {
      schema: {
        tags: ['tasks'],
        security,
        summary: "A task's events",
        description:
          'With `Accept: text/event-stream`: the stored events, then live ones until `task-end`. Otherwise the stored events as JSON (deltas and intermediate execution events are not stored; `execution-end` carries the whole Execution).',
        params: idParams,
        response: { 200: z.object({ events: z.array(taskEventSchema) }), ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const tasks = requireTasks(context);
        if (!wantsEventStream(request.headers.accept)) {
          const events = await tasks.events(request.params.id, actorOf(principal));
          return { events: events as unknown as Array<z.infer<typeof taskEventSchema>> };
        }
        await tasks.get(request.params.id, actorOf(principal));
        await streamTaskEvents(
          context,
          new SseStream(reply, { heartbeatMs: context.sseHeartbeatMs }),
          request.params.id,
          principal,
        );
        return reply;
      },
    });

    app.get('/v1/tasks/:id/model-calls', {
      schema: {
        tags: ['tasks'],
        security,
        summary: "A task's model calls: the prompt as sent, the response, tokens, latency",
        params: idParams,
        response: { 200: z.object({ calls: z.array(storedModelCallSchema) }), ...errorResponses },
      },
      handler: async (request) => ({
        calls: await requireTasks(context).modelCalls(request.params.id, actorOf(principalOf(request))),
      }),
    });

    app.post('/v1/tasks/:id/cancel', {
      schema: {
        tags: ['tasks'],
        security,
        summary: 'Cancel a task: a running cell is interrupted, a pending approval withdrawn',
        params: idParams,
        response: { 200: taskResultSchema, ...errorResponses },
      },
      handler: async (request): Promise<TaskResult> =>
        requireTasks(context).cancel(request.params.id, actorOf(principalOf(request))),
    });

    app.get('/v1/approvals', {
      schema: {
        tags: ['approvals'],
        security,
        summary: 'Approvals the caller may decide, oldest first (`?state=pending` for the waiting ones)',
        querystring: listApprovalsQuery,
        response: { 200: z.object({ approvals: z.array(approvalSchema) }), ...errorResponses },
      },
      handler: async (request) => ({
        approvals: await requireTasks(context).listApprovals(actorOf(principalOf(request)), request.query),
      }),
    });

    app.get('/v1/approvals/:id', {
      schema: {
        tags: ['approvals'],
        security,
        summary:
          'An approval: objective, code and its hash, findings, reasons, mode, expected results, decision',
        params: idParams,
        response: { 200: approvalSchema, ...errorResponses },
      },
      handler: async (request) =>
        requireTasks(context).getApproval(request.params.id, actorOf(principalOf(request))),
    });

    app.post('/v1/approvals/:id', {
      schema: {
        tags: ['approvals'],
        security,
        summary: 'Approve or reject: stored and audited before the task goes on',
        description:
          "409 `APPROVAL_CONFLICT` when it was decided already, or `codeHash` is not the pending code's.",
        params: idParams,
        body: decideBodySchema,
        response: { 200: approvalSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const { decision, comment, codeHash } = request.body;
        if (!principal.admin && principal.keyId === null) {
          throw new VivariumError('UNAUTHENTICATED', 'Deciding an approval needs an API key');
        }
        return requireTasks(context).decide(
          request.params.id,
          { decision, ...(comment === undefined ? {} : { comment }), ...(codeHash ? { codeHash } : {}) },
          actorOf(principal),
        );
      },
    });
  };
}
