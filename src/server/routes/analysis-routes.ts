import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { analysisResultSchema, analyze, type AnalysisResult } from '../../analysis/index.js';
import { APPROVAL_MODES, EXECUTION_MODES } from '../../config/index.js';
import { VivariumError } from '../../errors/index.js';
import { errorResponses } from '../api-schemas.js';
import { principalOf, type ServiceContext } from '../service-context.js';
import { abortOnDisconnect } from './abort-on-disconnect.js';

const security = [{ bearerAuth: [] }];
const tags = ['tools'];

const analyzeBodySchema = z
  .object({
    code: z.string(),
    /** The execution mode the code would run in. Default: the session's, else config `policy.mode`. */
    mode: z.enum(EXECUTION_MODES).optional(),
    /** When the decision asks a human. Default: config `policy.approvalMode`. */
    approvalMode: z.enum(APPROVAL_MODES).optional(),
    /** Analyse in this open session of the caller's: its installs count as present, its mode is the default. */
    sessionId: z.string().min(1).max(128).optional(),
  })
  .strict();

/** `POST /v1/analyze`: static analysis and the policy decision (docs/analysis.md). */
export function analysisRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, executions, store } = context;
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  return async (app) => {
    app.post('/v1/analyze', {
      schema: {
        tags,
        security,
        summary:
          'Static analysis of code and the policy decision: imports, risky calls, file and network use → allow / needs_approval / deny',
        description:
          'Parses the code in the sandbox (never runs it) and applies config `policy`. With `sessionId`, in that session (its mode is the default); without, in a short-lived session closed afterwards. Guidance, not a boundary: the sandbox contains what the analysis misses (docs/analysis.md).',
        body: analyzeBodySchema,
        response: { 200: analysisResultSchema, ...errorResponses },
      },
      handler: async (request, reply) => {
        const principal = principalOf(request);
        const { code, mode, approvalMode, sessionId } = request.body;
        executions.checkCode(code);
        const abort = abortOnDisconnect(reply);
        const options = {
          ...(mode === undefined ? {} : { mode }),
          ...(approvalMode === undefined ? {} : { approvalMode }),
          signal: abort.signal,
        };
        let status = 'ok';
        let result: AnalysisResult | null = null;
        let target = sessionId ?? null;
        try {
          if (sessionId !== undefined) {
            result = await analyze(await directory.live(principal, sessionId), code, options);
            return result;
          }
          const session = await directory.create(principal, { preload: [], idleTimeoutMs: 0 });
          target = session.id;
          try {
            result = await analyze(session, code, {
              ...options,
              // A short-lived session runs in the default mode; the code is judged for the configured one.
              mode: mode ?? context.config.policy.mode,
            });
            return result;
          } finally {
            await directory.close(principal, session.id, 'analysis finished').catch(() => undefined);
          }
        } catch (error) {
          status = error instanceof VivariumError ? error.code : 'INTERNAL';
          throw error;
        } finally {
          await store.audit({
            keyId: principal.keyId,
            action: 'analysis.run',
            target,
            status,
            details: result
              ? {
                  codeHash: result.codeHash,
                  outcome: result.decision.outcome,
                  mode: result.decision.mode,
                  approvalMode: result.decision.approvalMode,
                  findings: result.findings.length,
                }
              : {},
          });
        }
      },
    });
  };
}
