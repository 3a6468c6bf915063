import { randomBytes } from 'node:crypto';

/** An opaque id with a readable prefix: `ses_3f9a…`. Ids never carry host paths or user data. */
export function newId(prefix: 'ses' | 'exe' | 'ws' | 'krn' | 'tsk' | 'apr'): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
