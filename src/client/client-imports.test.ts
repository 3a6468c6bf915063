import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `vivarium/client` runs in browsers and pulls no engine or server code: its modules import only
 * each other and zod at run time; the library's shapes come in as `import type`.
 */
const CLIENT_DIR = dirname(fileURLToPath(import.meta.url));

describe('vivarium/client imports', () => {
  it('imports nothing at run time but its own modules and zod (no node: modules, no engine code)', async () => {
    const files = (await readdir(CLIENT_DIR)).filter(
      (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'),
    );
    expect(files).toContain('index.ts');
    const offending: string[] = [];
    for (const file of files) {
      const source = await readFile(join(CLIENT_DIR, file), 'utf8');
      for (const match of source.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
        const [, , typeOnly, specifier = ''] = match;
        if (typeOnly !== undefined) continue;
        const local = specifier.startsWith('./') && !specifier.includes('/', 2);
        if (!local && specifier !== 'zod') offending.push(`${file}: ${specifier}`);
      }
      if (/\bimport\s*\(/.test(source)) offending.push(`${file}: dynamic import`);
      if (/\b(process|Buffer|require)\s*[.(]/.test(source.replace(/^\s*\*.*$/gm, '')))
        offending.push(`${file}: Node global`);
    }
    expect(offending).toEqual([]);
  });
});
