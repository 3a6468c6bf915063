import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isVivariumError } from '../../errors/index.js';
import type { Execution } from '../../kernel/index.js';
import type { Session } from '../../session/index.js';
import {
  errorResponses,
  pythonCoderBodySchema,
  toolResponseSchema,
  type ToolResponse,
} from '../api-schemas.js';
import { principalBucket, type Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';

/** How the sandbox sees the workspace. */
const WORKSPACE_PATH = '/workspace';
/** Longest `answer` text, characters (the full streams are in `data`). */
export const MAX_ANSWER_CHARS = 4_000;
/** Most workspace files listed in `data.files`. */
export const MAX_LISTED_FILES = 1_000;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The short text of a result for the model: stdout, the last expression, or the error. */
export function toolAnswer(execution: Execution): string {
  const parts: string[] = [];
  const stdout = execution.stdout.trim();
  if (stdout !== '') parts.push(stdout);
  const resultText = execution.result?.['text/plain'];
  if (typeof resultText === 'string' && resultText !== '') parts.push(resultText);
  if (execution.status !== 'ok') parts.push(toolError(execution));
  if (parts.length === 0) parts.push('The code ran without output.');
  return cut(parts.join('\n'), MAX_ANSWER_CHARS);
}

function toolError(execution: Execution): string {
  if (execution.error) return `${execution.error.ename}: ${execution.error.evalue}`;
  return execution.reason ?? `The execution ended with status ${execution.status}`;
}

/**
 * `POST /api/tools/python_coder`: the tool API agent backends call. A failing program is a 200 with
 * `success: false` and `returncode: 1`, never a 5xx. `session_id` names a session of the caller's
 * own: created on first use, reused after (a dead kernel is restarted, the answer says so).
 */
export function toolRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store, toolSessions } = context;
  const creating = new Map<string, Promise<Session>>();

  const sessionFor = async (principal: Principal, name: string): Promise<Session> => {
    const key = `${principalBucket(principal)}\0${name}`;
    const known = toolSessions.get(key);
    if (known !== undefined) {
      try {
        return await directory.live(principal, known);
      } catch (error) {
        if (!isVivariumError(error, 'SESSION_CLOSED') && !isVivariumError(error, 'SESSION_NOT_FOUND'))
          throw error;
        toolSessions.delete(key);
      }
    }
    let pending = creating.get(key);
    if (!pending) {
      pending = directory.create(principal, {}).then((session) => {
        toolSessions.set(key, session.id);
        return session;
      });
      creating.set(key, pending);
      const forget = (): void => {
        creating.delete(key);
      };
      pending.then(forget, forget);
    }
    return pending;
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/api/tools/python_coder', {
      schema: {
        tags: ['tools'],
        security: [{ bearerAuth: [] }],
        summary: 'python_coder tool: run code, answer a ToolResponse',
        description:
          'A failing program answers 200 with `success: false`, `returncode: 1`. Without `session_id` the code runs in a fresh sandbox that is closed afterwards. `timeout` is in seconds.',
        body: pythonCoderBodySchema,
        response: { 200: toolResponseSchema, ...errorResponses },
      },
      handler: async (request): Promise<ToolResponse> => {
        const receivedAtMs = performance.now();
        const principal = principalOf(request);
        const { code, session_id: name, timeout, context: toolContext } = request.body;
        executions.checkCode(code);
        const oneShot = name === undefined;
        const session = oneShot
          ? await directory.create(principal, { idleTimeoutMs: 0 })
          : await sessionFor(principal, name);
        try {
          const requested = timeout === undefined ? undefined : Math.max(1, Math.round(timeout * 1000));
          // The tool clamps the timeout to the session's limit instead of refusing it.
          const timeoutMs =
            requested === undefined
              ? undefined
              : principal.admin
                ? requested
                : Math.min(requested, session.limits.timeoutMs);
          executions.admit(principal, { code, timeoutMs }, session.limits.timeoutMs);
          const run = { code, receivedAtMs, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
          let execution: Execution;
          let restarted = false;
          try {
            execution = await executions.execute(principal, session, run);
          } catch (error) {
            // A kernel killed by an earlier call (timeout, crash): the tool carries on with a fresh one.
            if (!isVivariumError(error, 'SESSION_DEAD')) throw error;
            await session.restart();
            await directory.persist(session);
            restarted = true;
            execution = await executions.execute(principal, session, run);
          }
          if (toolContext !== undefined) {
            const shown = cut(JSON.stringify(toolContext) ?? '', 2_000);
            await store.audit({
              keyId: principal.keyId,
              action: 'tool.python_coder',
              target: session.id,
              status: execution.status,
              details: { sessionName: name ?? null, context: shown },
            });
          }
          const listing = await session.files.list('', { recursive: true, maxEntries: MAX_LISTED_FILES });
          const ok = execution.status === 'ok';
          return {
            success: ok,
            answer: toolAnswer(execution),
            data: {
              stdout: execution.stdout,
              stderr: execution.stderr,
              files: listing.entries.filter((entry) => entry.type === 'file').map((entry) => entry.path),
              workspace: WORKSPACE_PATH,
              returncode: ok ? 0 : 1,
            },
            metadata: {
              execution_time: (performance.now() - receivedAtMs) / 1000,
              code_execution_time: execution.durationMs / 1000,
              session_id: oneShot ? null : name,
              execution_id: execution.id,
              status: execution.status,
              namespace_reset: restarted || execution.namespaceReset,
            },
            error: ok ? null : toolError(execution),
          };
        } finally {
          if (oneShot)
            await directory
              .close(principal, session.id, 'one-shot tool call finished')
              .catch(() => undefined);
        }
      },
    });
  };
}
