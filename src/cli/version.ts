import { readFileSync } from 'node:fs';
import { z } from 'zod';

const packageSchema = z.object({ version: z.string() });

/** The package version, read from the `package.json` shipped next to `dist/` (`dist/cli/` → `../../`). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  // eslint-disable-next-line no-restricted-syntax -- our own package.json, validated by packageSchema on the same line
  return packageSchema.parse(JSON.parse(text)).version;
}
