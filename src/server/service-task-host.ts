import { assertSessionMode, type TaskHost } from '../pipeline/index.js';
import { principalForKey } from './principal.js';
import type { ServiceContext } from './service-context.js';

/**
 * Tasks of the service: sessions through the session directory (owned, stored, within the key's
 * quota), executions through the execution service (rate-limited, stored, audited, in the
 * metrics) — exactly as if the task's owner had sent them.
 */
export function serviceTaskHost(
  context: Pick<ServiceContext, 'store' | 'config' | 'directory' | 'executions'>,
): TaskHost {
  const { store, config, directory, executions } = context;
  return {
    async sessionMode(sessionId, ownerKeyId) {
      const principal = await principalForKey(store, config, ownerKeyId);
      return (await directory.live(principal, sessionId)).mode;
    },
    async openSession({ sessionId, mode, ownerKeyId, signal }) {
      const principal = await principalForKey(store, config, ownerKeyId);
      if (sessionId !== null) {
        const session = await directory.live(principal, sessionId);
        assertSessionMode(session.id, session.mode, mode);
        return session;
      }
      return directory.create(principal, { mode }, signal);
    },
    async execute(session, code, { ownerKeyId, onEvent, signal, timeoutMs }) {
      const principal = await principalForKey(store, config, ownerKeyId);
      executions.admit(
        principal,
        { code, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
        session.limits.timeoutMs,
      );
      return executions.execute(principal, session, {
        code,
        onEvent,
        signal,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
    },
  };
}
