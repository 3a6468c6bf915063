import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../../config/index.js';
import type { Session } from '../../session/index.js';
import {
  DEFAULT_PROFILE_TIMEOUT_MS,
  DEFAULT_TEST_TIMEOUT_MS,
  MAX_PROFILE_TOP,
  MAX_TEST_TIMEOUT_MS,
  profile,
  profileResultSchema,
  runTests,
  testRunResultSchema,
} from '../../tools/index.js';
import { errorResponses, sessionIdParamsSchema } from '../api-schemas.js';
import type { Principal } from '../principal.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { abortOnDisconnect } from './abort-on-disconnect.js';

/*
 * Developer tools on a session over HTTP: test runs with coverage, profiling. Both run in a side
 * kernel of the caller's own session (its namespace untouched), count against the key's execution
 * rate, and are audited.
 */

const security = [{ bearerAuth: [] }];

export const runTestsBodySchema = z
  .object({
    paths: z
      .array(z.string())
      .optional()
      .describe('Workspace paths: files, directories or pytest node ids (relative, no `..`)'),
    code: z.string().optional().describe('Test code to run too, written to `.vivarium/tests/test_inline.py`'),
    runner: z.enum(['pytest', 'unittest']).optional().describe('Default `pytest`'),
    args: z
      .array(z.string())
      .optional()
      .describe('Extra arguments (pytest options; unittest: `-p PATTERN`, `-f`)'),
    k: z.string().optional().describe('Keyword expression selecting tests (pytest `-k`)'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_TEST_TIMEOUT_MS)
      .optional()
      .describe(
        "Wall clock of the run, ms; at most the session's `limits.timeoutMs` (its default) unless admin",
      ),
    coverage: z.boolean().optional().describe('Measure coverage (default true)'),
    coverageThreshold: z
      .number()
      .min(0)
      .max(100)
      .optional()
      .describe('Percent below which the run is a failure'),
  })
  .strict();

export const profileBodySchema = z
  .object({
    code: z.string().optional().describe('Code to profile (exactly one of `code`, `file`)'),
    file: z.string().optional().describe('Workspace Python file to profile, run as `__main__`'),
    top: z
      .number()
      .int()
      .positive()
      .max(MAX_PROFILE_TOP)
      .optional()
      .describe('Rows per ranking (default 20)'),
    lineProfile: z.boolean().optional().describe('Line timings when line_profiler is installed'),
    saveProfile: z.string().optional().describe('Workspace path for the raw cProfile data (.prof)'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_TIMER_MS)
      .optional()
      .describe(
        "Wall clock of the run, ms; at most the session's `limits.timeoutMs` (its default) unless admin",
      ),
  })
  .strict();

/** `POST /v1/sessions/:id/tests` and `POST /v1/sessions/:id/profile`. */
export function devtoolsTestingRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store } = context;

  /**
   * The timeout a tool run gets: the caller's, checked against the session's limit (admins
   * excepted), else the tool's default clamped to that limit. Admitting also takes one execution
   * from the key's rate.
   */
  const admit = (
    principal: Principal,
    session: Session,
    request: { code?: string | undefined; timeoutMs?: number | undefined },
    toolDefaultMs: number,
  ): number => {
    executions.admit(
      principal,
      {
        code: request.code ?? '',
        ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      },
      session.limits.timeoutMs,
    );
    if (request.timeoutMs !== undefined) return request.timeoutMs;
    return principal.admin ? toolDefaultMs : Math.min(toolDefaultMs, session.limits.timeoutMs);
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/sessions/:id/tests', {
      schema: {
        tags: ['tools'],
        security,
        summary: "Run the session's tests (pytest with coverage, or unittest) and answer structured results",
        description:
          'Runs in a side kernel of the session (its variables untouched); reports go to `.vivarium/reports/` in the workspace. Failing tests are a 200 with `success: false` and a `reason`.',
        params: sessionIdParamsSchema,
        body: runTestsBodySchema,
        response: { 200: testRunResultSchema.meta({ id: 'TestRunResult' }), ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const timeoutMs = admit(principal, session, request.body, DEFAULT_TEST_TIMEOUT_MS);
        const abort = abortOnDisconnect(reply);
        const result = await runTests(session, { ...request.body, timeoutMs, signal: abort.signal });
        await store.audit({
          keyId: principal.keyId,
          action: 'tool.tests',
          target: session.id,
          status: result.success ? 'ok' : 'failed',
          details: {
            runner: result.runner,
            passed: result.passed,
            failed: result.failed,
            errors: result.errors,
            coverage: result.coverage?.percent ?? null,
          },
        });
        return result;
      },
    });

    app.post('/v1/sessions/:id/profile', {
      schema: {
        tags: ['tools'],
        security,
        summary: 'Profile code or a workspace file: cProfile rankings, tracemalloc, wall/CPU/memory',
        description:
          'Runs in a side kernel of the session (its variables untouched). An exception in the profiled code is a 200 with `error` set.',
        params: sessionIdParamsSchema,
        body: profileBodySchema,
        response: { 200: profileResultSchema.meta({ id: 'ProfileResult' }), ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const timeoutMs = admit(principal, session, request.body, DEFAULT_PROFILE_TIMEOUT_MS);
        const abort = abortOnDisconnect(reply);
        const { code, file, top, lineProfile, saveProfile } = request.body;
        const result = await profile(session, {
          ...(code === undefined ? {} : { code }),
          ...(file === undefined ? {} : { file }),
          ...(top === undefined ? {} : { top }),
          ...(lineProfile === undefined ? {} : { lineProfile }),
          ...(saveProfile === undefined ? {} : { saveProfile }),
          timeoutMs,
          signal: abort.signal,
        });
        await store.audit({
          keyId: principal.keyId,
          action: 'tool.profile',
          target: session.id,
          status: result.error === null ? 'ok' : 'error',
          details: { file: file ?? null, wallMs: result.wallMs },
        });
        return result;
      },
    });
  };
}
