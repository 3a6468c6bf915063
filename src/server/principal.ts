import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/index.js';
import { VivariumError } from '../errors/index.js';
import type { ApiKeyRecord, Store } from '../store/index.js';

/** Who is calling: an API key, or the anonymous caller of a service running without auth. */
export interface Principal {
  /** The key's id; null without auth. */
  keyId: string | null;
  /** The key's name (`anonymous` without auth). */
  name: string;
  /** Admin keys (and the anonymous caller without auth) see and touch every session. */
  admin: boolean;
  /** Effective per-key limits: the key's own, else the service defaults. */
  limits: { maxConcurrentSessions: number; maxExecutionsPerMinute: number };
}

/** What quotas and rate limits of the anonymous caller (no auth) are counted under. */
export const ANONYMOUS_BUCKET = 'anonymous';

/** The key a rate limit or quota is counted under. */
export function principalBucket(principal: Pick<Principal, 'keyId'>): string {
  return principal.keyId ?? ANONYMOUS_BUCKET;
}

/** True when `principal` may see a session owned by `ownerKeyId`. */
export function canSee(principal: Principal, ownerKeyId: string | null): boolean {
  return principal.admin || ownerKeyId === principal.keyId;
}

function effectiveLimits(config: Config, record: ApiKeyRecord | null): Principal['limits'] {
  const defaults = config.server.defaultKeyLimits;
  return {
    maxConcurrentSessions: record?.limits.maxConcurrentSessions ?? defaults.maxConcurrentSessions,
    maxExecutionsPerMinute: record?.limits.maxExecutionsPerMinute ?? defaults.maxExecutionsPerMinute,
  };
}

/** The caller of a service running without auth (loopback dev use): sees everything. */
export function anonymousPrincipal(config: Config): Principal {
  return { keyId: null, name: 'anonymous', admin: true, limits: effectiveLimits(config, null) };
}

/** True for a WebSocket upgrade request (Node's parser sets `upgrade`; the typings lack it). */
export function isUpgradeRequest(raw: IncomingMessage): boolean {
  return (raw as IncomingMessage & { upgrade?: boolean }).upgrade === true;
}

/** Longest bearer token accepted (keys are far shorter; this only bounds the hashing work). */
const MAX_TOKEN_LENGTH = 512;

/**
 * The bearer token of a request: `Authorization: Bearer <key>`, or for WebSocket upgrades from
 * browsers (which cannot set headers) the `token` query parameter.
 */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return match?.[1] ?? null;
  }
  if (isUpgradeRequest(request.raw)) {
    const query = request.query as Record<string, unknown> | undefined;
    const token = query?.token;
    if (typeof token === 'string' && token !== '') return token;
  }
  return null;
}

/** Authenticates a request's bearer token through the store; `UNAUTHENTICATED` otherwise. */
export async function authenticate(
  store: Store,
  config: Config,
  request: FastifyRequest,
): Promise<Principal> {
  const token = bearerToken(request);
  if (token === null) {
    throw new VivariumError(
      'UNAUTHENTICATED',
      'This route needs an API key: send `Authorization: Bearer <key>` (create one with `vivarium keys create --name NAME`)',
    );
  }
  const record = token.length <= MAX_TOKEN_LENGTH ? await store.authenticate(token) : null;
  if (record === null) {
    throw new VivariumError('UNAUTHENTICATED', 'The API key is unknown or revoked');
  }
  return {
    keyId: record.id,
    name: record.name,
    admin: record.admin,
    limits: effectiveLimits(config, record),
  };
}

/**
 * The principal of a stored key, for work that outlives its request (a task resumed after a
 * restart acts as the key that created it). Null key id: the anonymous caller. A revoked or
 * unknown key is `UNAUTHENTICATED`.
 */
export async function principalForKey(
  store: Store,
  config: Config,
  keyId: string | null,
): Promise<Principal> {
  if (keyId === null) return anonymousPrincipal(config);
  const record = await store.getKey(keyId);
  if (!record || record.revokedAt !== null) {
    throw new VivariumError('UNAUTHENTICATED', `The API key ${keyId} is unknown or revoked`);
  }
  return {
    keyId: record.id,
    name: record.name,
    admin: record.admin,
    limits: effectiveLimits(config, record),
  };
}
