import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../../config/index.js';
import { VivariumError } from '../../errors/index.js';
import {
  dependencies,
  dependenciesResultSchema,
  errorExplanationSchema,
  explainError,
  install,
  installResultSchema,
  MAX_INSTALL_PACKAGES,
  validate,
  validateResultSchema,
} from '../../tools/index.js';
import { errorResponses, sessionIdParamsSchema } from '../api-schemas.js';
import { principalOf, type ServiceContext } from '../service-context.js';

const security = [{ bearerAuth: [] }];
const tags = ['tools'];

const validateBodySchema = z
  .object({
    code: z.string(),
    /** Validate against this open session: its variables count as defined, its installs as present. */
    sessionId: z.string().min(1).max(128).optional(),
    /** Names to treat as defined besides builtins (and the session's variables). */
    knownNames: z.array(z.string().max(256)).max(10_000).optional(),
  })
  .strict();

const dependenciesBodySchema = z.object({ code: z.string() }).strict();

const installBodySchema = z
  .object({
    /** Distribution names with optional versions: `["vvdemo"]`, `["pandas==2.1.4"]`. */
    packages: z.array(z.string().max(200)).min(1).max(MAX_INSTALL_PACKAGES),
    /** Wall clock of the pip run, ms. */
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  })
  .strict();

const explainParamsSchema = sessionIdParamsSchema.extend({ executionId: z.string().min(1).max(128) });

/**
 * Code tools over HTTP: validation, dependency analysis, session installs, error explanations.
 * Each answers the same shape as the library function (docs/tools-validation.md,
 * docs/tools-dependencies.md).
 */
export function devtoolsCodeRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store, vv } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/validate', {
      schema: {
        tags,
        security,
        summary: 'Check code without running it: syntax, undefined names, unused imports, missing modules',
        description:
          'Runs in the sandbox. With `sessionId`, against that session (its variables count as defined); without, in a short-lived session closed afterwards. `findings` (policy) stays empty until the pipeline exists.',
        body: validateBodySchema,
        response: { 200: validateResultSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const { code, sessionId, knownNames } = request.body;
        executions.checkCode(code);
        const options = knownNames ? { knownNames } : {};
        if (sessionId !== undefined) {
          return validate(await directory.live(principal, sessionId), code, options);
        }
        const session = await directory.create(principal, { preload: [], idleTimeoutMs: 0 });
        try {
          return await validate(session, code, options);
        } finally {
          await directory.close(principal, session.id, 'validation finished').catch(() => undefined);
        }
      },
    });

    app.post('/v1/sessions/:id/dependencies', {
      schema: {
        tags,
        security,
        summary:
          "The imports of some code: stdlib, installed (distribution, version) or missing, by the session's interpreter",
        params: sessionIdParamsSchema,
        body: dependenciesBodySchema,
        response: { 200: dependenciesResultSchema, ...errorResponses },
      },
      handler: async (request) => {
        const session = await directory.live(principalOf(request), request.params.id);
        executions.checkCode(request.body.code);
        return dependencies(session, request.body.code);
      },
    });

    app.post('/v1/sessions/:id/install', {
      schema: {
        tags,
        security,
        summary: 'Install distributions into this session only, from the configured wheelhouse or index',
        description:
          'Names must be in config `packages.allow` and not in `packages.deny` (400 otherwise, listing the allowed names); a name the sources lack is a 422 `TOOL_FAILED` with `details.unavailable`. pip runs in its own sandbox; the packages import in the session at once.',
        params: sessionIdParamsSchema,
        body: installBodySchema,
        response: { 200: installResultSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const { packages, timeoutMs } = request.body;
        let status = 'ok';
        try {
          return await install(vv, session, packages, timeoutMs === undefined ? {} : { timeoutMs });
        } catch (error) {
          status = error instanceof VivariumError ? error.code : 'INTERNAL';
          throw error;
        } finally {
          await store.audit({
            keyId: principal.keyId,
            action: 'tools.install',
            target: session.id,
            status,
            details: { packages },
          });
        }
      },
    });

    app.post('/v1/sessions/:id/executions/:executionId/explain', {
      schema: {
        tags,
        security,
        summary: 'Explain a failed execution of the session: category, summary, hints, suggestions',
        description:
          'Deterministic: close names from the namespace, files present, columns of DataFrames, the distribution of a missing module. Works for closed sessions too, with the hints the error alone gives. An execution that did not fail is a 400.',
        params: explainParamsSchema,
        response: { 200: errorExplanationSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const { stored, session } = await directory.find(principal, request.params.id);
        const item = await store.getExecution(request.params.executionId);
        if (!item || item.execution.sessionId !== stored.id) {
          throw new VivariumError(
            'INVALID_ARGUMENT',
            `Expected \`executionId\` to name an execution of session ${stored.id}, got \`${request.params.executionId}\``,
            { details: { sessionId: stored.id, executionId: request.params.executionId } },
          );
        }
        return explainError(item.execution, {
          code: item.code,
          packages: vv.config.packages,
          ...(session ? { session } : {}),
        });
      },
    });
  };
}
