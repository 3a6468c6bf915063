import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of every API key, so a leaked key is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = 'vv_';
/** Random bytes in a key: 32 bytes = 256 bits, 43 base64url characters. */
export const API_KEY_RANDOM_BYTES = 32;
/** The shape of a plaintext API key: `vv_` + 43 base64url characters. */
export const API_KEY_PATTERN = /^vv_[A-Za-z0-9_-]{43}$/;

/** A new plaintext API key. Shown once to its creator; only {@link hashApiKey} of it is stored. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(API_KEY_RANDOM_BYTES).toString('base64url');
}

/** A new public key id, `key_<24 hex>`: safe to show and log, unrelated to the secret. */
export function newKeyId(): string {
  return `key_${randomBytes(12).toString('hex')}`;
}

/**
 * The stored form of a key: sha256, hex. A plain hash is enough (no salt, no slow KDF) because the
 * key is 256 random bits, not a password: there is nothing to guess from a dictionary.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Compares two hex hashes in constant time; false for different lengths or non-hex input. */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  if (left.length === 0 || left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
