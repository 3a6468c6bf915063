import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../../config/index.js';
import type { Session } from '../../session/index.js';
import {
  batch,
  DEFAULT_BATCH_CONCURRENCY,
  exportNotebook,
  importNotebook,
  runNotebook,
  type BatchRunner,
  type NotebookCellExecutor,
} from '../../tools/index.js';
import {
  createSessionBodySchema,
  errorResponses,
  executionSchema,
  executionStatusSchema,
  historyQuerySchema,
  sessionIdParamsSchema,
} from '../api-schemas.js';
import type { Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { abortOnDisconnect } from './abort-on-disconnect.js';

/*
 * Developer tools over HTTP: notebooks (export a session's stored history, run an uploaded
 * .ipynb) and batch runs. Every cell and item goes through the ExecutionService, so it is admitted
 * (code size, timeout cap, rate limit), stored and audited like any other execution.
 */

const security = [{ bearerAuth: [] }];
/** Most items in one `POST /v1/batch`. */
export const MAX_HTTP_BATCH_ITEMS = 1_000;
/** Highest `concurrency` of one `POST /v1/batch` (the key's session limit applies too). */
export const MAX_HTTP_BATCH_CONCURRENCY = 16;

const multilineSchema = z.union([z.string(), z.array(z.string())]);
const metadataSchema = z.record(z.string(), z.unknown());

/** An nbformat 4 notebook, checked loosely here; `importNotebook` validates it fully. */
export const notebookSchema = z
  .looseObject({
    nbformat: z.number().int(),
    nbformat_minor: z.number().int(),
    metadata: metadataSchema,
    cells: z.array(
      z.looseObject({
        id: z.string().optional(),
        cell_type: z.string(),
        metadata: metadataSchema.optional(),
        source: multilineSchema,
        outputs: z.array(z.looseObject({ output_type: z.string() })).optional(),
        execution_count: z.number().int().nullable().optional(),
      }),
    ),
  })
  .meta({ id: 'Notebook', description: 'A Jupyter notebook, nbformat 4 (.ipynb JSON)' });

const sessionOptionsShape = {
  limits: createSessionBodySchema.shape.limits,
  preload: createSessionBodySchema.shape.preload,
  env: createSessionBodySchema.shape.env,
};

const timeoutSchema = z
  .number()
  .int()
  .positive()
  .max(MAX_TIMER_MS)
  .optional()
  .describe("Wall-clock limit of each cell or item, ms; at most the session's `limits.timeoutMs`");

export const notebookRunBodySchema = z
  .object({
    notebook: z.unknown().describe('The .ipynb JSON (nbformat 4) as an object'),
    continueOnError: z.boolean().optional().describe('Run the remaining cells after a failed one'),
    timeoutMs: timeoutSchema,
    ...sessionOptionsShape,
  })
  .strict();

const notebookFailureSchema = z.object({
  cellIndex: z.number().int(),
  cellId: z.string(),
  status: executionStatusSchema,
  ename: z.string().nullable(),
  evalue: z.string().nullable(),
  reason: z.string().nullable(),
});

export const notebookRunResponseSchema = z.object({
  notebook: notebookSchema,
  summary: z.object({
    status: z.enum(['ok', 'error']),
    sessionId: z.string(),
    codeCells: z.number().int(),
    executed: z.number().int(),
    ok: z.number().int(),
    failed: z.number().int(),
    notExecuted: z.number().int(),
    firstFailure: notebookFailureSchema.nullable(),
    aborted: z.boolean(),
    durationMs: z.number(),
  }),
});

export const notebookQuerySchema = historyQuerySchema
  .extend({
    download: z
      .enum(['true', 'false'])
      .optional()
      .describe('Answer with `Content-Disposition: attachment` (a browser saves <session id>.ipynb)'),
  })
  .strict();

const batchStatusSchema = z.enum([...executionStatusSchema.options, 'skipped', 'fault']);

export const batchBodySchema = z
  .object({
    items: z
      .array(z.object({ name: z.string().min(1).max(256).optional(), code: z.string() }).strict())
      .min(1)
      .max(MAX_HTTP_BATCH_ITEMS),
    mode: z
      .enum(['sequential', 'parallel'])
      .optional()
      .describe('sequential (default): one session, shared state; parallel: a fresh sandbox per item'),
    concurrency: z
      .number()
      .int()
      .positive()
      .max(MAX_HTTP_BATCH_CONCURRENCY)
      .optional()
      .describe(`Parallel items at once; default ${DEFAULT_BATCH_CONCURRENCY}`),
    stopOnFirstFailure: z.boolean().optional(),
    timeoutMs: timeoutSchema,
    ...sessionOptionsShape,
  })
  .strict();

const batchItemResultSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  status: batchStatusSchema,
  execution: executionSchema.nullable(),
  durationMs: z.number(),
  fault: z.object({ code: z.string(), message: z.string() }).nullable(),
  namespaceReset: z.boolean(),
});

export const batchResponseSchema = z
  .object({
    mode: z.enum(['sequential', 'parallel']),
    results: z.array(batchItemResultSchema),
    counts: z.record(z.string(), z.number().int()),
    ok: z.boolean(),
    totalDurationMs: z.number(),
    failures: z.array(
      z.object({
        index: z.number().int(),
        name: z.string(),
        status: batchStatusSchema,
        ename: z.string().nullable(),
        evalue: z.string().nullable(),
        reason: z.string().nullable(),
      }),
    ),
    aborted: z.boolean(),
  })
  .meta({ id: 'BatchReport' });

/** Notebook export and run, batch runs. */
export function devtoolsNotebookRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store, vv } = context;

  const executorFor =
    (principal: Principal): NotebookCellExecutor =>
    (session, code, options) => {
      executions.admit(
        principal,
        { code, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) },
        session.limits.timeoutMs,
      );
      return executions.execute(principal, session, {
        code,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    };

  const closeQuietly = async (principal: Principal, session: Session, reason: string): Promise<void> => {
    await directory.close(principal, session.id, reason).catch(() => undefined);
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.get('/v1/sessions/:id/notebook', {
      schema: {
        tags: ['notebooks'],
        security,
        summary: "The session's stored history as a Jupyter notebook (nbformat 4.5)",
        description:
          'One code cell per stored execution, oldest first, with its outputs (images included) and `metadata.vivarium` (execution id, status, timing). Works for closed sessions and after a restart of the service.',
        params: sessionIdParamsSchema,
        querystring: notebookQuerySchema,
        response: { 200: notebookSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const { stored } = await directory.find(principalOf(request), request.params.id);
        const history = await store.listExecutions(stored.id, {
          ...(request.query.limit === undefined ? {} : { limit: request.query.limit }),
        });
        const languageVersion = vv.sandbox.interpreterInfo?.version;
        const notebook = exportNotebook(
          history.map((item) => ({ code: item.code, execution: item.execution })),
          { sessionId: stored.id, ...(languageVersion === undefined ? {} : { languageVersion }) },
        );
        if (request.query.download === 'true')
          void reply.header('content-disposition', `attachment; filename="${stored.id}.ipynb"`);
        return notebook;
      },
    });

    app.post('/v1/notebooks/run', {
      schema: {
        tags: ['notebooks'],
        security,
        summary: 'Run an uploaded notebook in a fresh session and answer it executed',
        description:
          "Code cells run in order in one new session (closed afterwards; its executions stay in the history, so `GET /v1/sessions/:id/notebook` exports it again later). Stops at the first cell that fails unless `continueOnError`. A failing cell is a 200 with `summary.status: 'error'`.",
        body: notebookRunBodySchema,
        response: { 200: notebookRunResponseSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const { notebook, continueOnError, timeoutMs, limits, preload, env } = request.body;
        // Everything checked before a sandbox starts: the notebook, each cell's size.
        const imported = importNotebook(notebook);
        for (const cell of imported.codeCells) executions.checkCode(cell.source);
        const abort = abortOnDisconnect(reply);
        const session = await directory.create(
          principal,
          {
            idleTimeoutMs: 0,
            ...(limits ? { limits } : {}),
            ...(preload ? { preload } : {}),
            ...(env ? { env } : {}),
          },
          abort.signal,
        );
        try {
          const languageVersion = vv.sandbox.interpreterInfo?.version;
          const result = await runNotebook(session, imported.notebook, {
            ...(continueOnError === undefined ? {} : { continueOnError }),
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            ...(languageVersion === undefined ? {} : { languageVersion }),
            signal: abort.signal,
            executeCell: executorFor(principal),
          });
          return { notebook: result.notebook, summary: result.summary };
        } finally {
          await closeQuietly(principal, session, 'notebook run finished');
        }
      },
    });

    app.post('/v1/batch', {
      schema: {
        tags: ['batch'],
        security,
        summary: 'Run several snippets: in order in one session, or each in its own sandbox',
        description:
          'Answers one result per item and the counts. Sessions are closed afterwards (their executions stay in the history). A refused item (rate limit, session quota) is a `fault`; the others carry on.',
        body: batchBodySchema,
        response: { 200: batchResponseSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const { items, mode, concurrency, stopOnFirstFailure, timeoutMs, limits, preload, env } =
          request.body;
        for (const item of items) executions.checkCode(item.code);
        const abort = abortOnDisconnect(reply);
        const execute = executorFor(principal);
        const runner: BatchRunner = {
          openSession: (signal) =>
            directory.create(
              principal,
              {
                idleTimeoutMs: 0,
                ...(limits ? { limits } : {}),
                ...(preload ? { preload } : {}),
                ...(env ? { env } : {}),
              },
              signal,
            ),
          execute,
          closeSession: (session) => closeQuietly(principal, session, 'batch finished'),
        };
        return batch(vv, items, {
          runner,
          signal: abort.signal,
          ...(mode === undefined ? {} : { mode }),
          ...(concurrency === undefined ? {} : { concurrency }),
          ...(stopOnFirstFailure === undefined ? {} : { stopOnFirstFailure }),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        });
      },
    });
  };
}
