import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/index.js';
import type { Vivarium } from '../engine/index.js';
import { VivariumError } from '../errors/index.js';
import type { TaskManager } from '../pipeline/index.js';
import type { Store } from '../store/index.js';
import type { ExecutionService } from './execution-service.js';
import type { Principal } from './principal.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { SessionDirectory } from './session-directory.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    principal: Principal | null;
  }
}

/** What the route plugins share. */
export interface ServiceContext {
  vv: Vivarium;
  store: Store;
  config: Config;
  directory: SessionDirectory;
  executions: ExecutionService;
  metrics: ServiceMetrics;
  /** Interval of SSE heartbeat comments, ms. */
  sseHeartbeatMs: number;
  /** Tasks and approvals, kept in the store. */
  tasks: TaskManager;
  /** `python_coder` sessions: `<key bucket>\0<session_id>` → engine session id. */
  toolSessions: Map<string, string>;
}

/** The authenticated caller of a request (set by the auth hook). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal)
    throw new VivariumError('INTERNAL', 'The route ran without an authenticated caller');
  return request.principal;
}
