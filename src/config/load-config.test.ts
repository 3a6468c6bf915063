import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isVivariumError } from '../errors/index.js';
import { DEFAULT_PRELOAD, DEFAULT_TIMEOUT_MS } from './defaults.js';
import { configFromEnv, loadConfig } from './load-config.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vivarium-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function configError(run: () => unknown): { message: string; problems: string[] } {
  try {
    run();
  } catch (error) {
    if (isVivariumError(error, 'CONFIG_INVALID'))
      return { message: error.message, problems: error.details.problems as string[] };
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('gives documented defaults, frozen', () => {
    const config = loadConfig({ env: {}, cwd: tempDir() });
    expect(config.isolation).toBe('strict');
    expect(config.limits.timeoutMs).toBe(DEFAULT_TIMEOUT_MS);
    expect(config.preload).toEqual(DEFAULT_PRELOAD);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(() => {
      (config.limits as { timeoutMs: number }).timeoutMs = 1;
    }).toThrow();
  });

  it('lists every problem with the accepted values', () => {
    const { message, problems } = configError(() =>
      loadConfig({
        env: {},
        cwd: tempDir(),
        overrides: { isolation: 'loose' as never, backend: 'docker' as never, limits: { timeoutMs: -1 } },
      }),
    );
    expect(problems).toHaveLength(3);
    expect(message).toContain('`isolation`: must be one of "strict", "none"');
    expect(message).toContain('`backend`: must be one of "local"');
    expect(message).toMatch(/`limits\.timeoutMs`/);
  });

  it('refuses unknown keys and timers Node cannot honour', () => {
    const { problems } = configError(() =>
      loadConfig({
        env: {},
        cwd: tempDir(),
        overrides: { colour: 'red', limits: { timeoutMs: 3_000_000_000 } } as never,
      }),
    );
    expect(problems.join('\n')).toMatch(/unknown key\(s\) `colour`/);
    expect(problems.join('\n')).toMatch(/limits\.timeoutMs/);
  });

  it('reads VIVARIUM_* variables, nested and typed', () => {
    const env = {
      VIVARIUM_ISOLATION: 'none',
      VIVARIUM_LIMITS_TIMEOUT_MS: '1500',
      VIVARIUM_PRELOAD: 'numpy, pandas',
      VIVARIUM_ENV: '{"A":"1"}',
      VIVARIUM_POOL_SIZE: '0',
    };
    expect(configFromEnv(env)).toEqual({
      isolation: 'none',
      limits: { timeoutMs: 1500 },
      preload: ['numpy', 'pandas'],
      env: { A: '1' },
      pool: { size: 0 },
    });
    const config = loadConfig({ env, cwd: tempDir() });
    expect(config.limits.timeoutMs).toBe(1500);
    expect(config.limits.memoryLimitMb).toBeGreaterThan(0);
  });

  it('reports a bad env value by its key', () => {
    const { message } = configError(() =>
      loadConfig({ env: { VIVARIUM_LIMITS_TIMEOUT_MS: 'soon' }, cwd: tempDir() }),
    );
    expect(message).toMatch(/limits\.timeoutMs/);
  });

  it('layers file < env < overrides, from JSON or YAML', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'vivarium.config.yaml'),
      'preload: [json]\nlimits:\n  timeoutMs: 1000\n  memoryLimitMb: 512\n',
    );
    const config = loadConfig({
      env: { VIVARIUM_LIMITS_TIMEOUT_MS: '2000' },
      cwd: dir,
      overrides: { limits: { memoryLimitMb: 768 } },
    });
    expect(config.preload).toEqual(['json']);
    expect(config.limits.timeoutMs).toBe(2000);
    expect(config.limits.memoryLimitMb).toBe(768);
    const jsonFile = join(dir, 'other.json');
    writeFileSync(jsonFile, JSON.stringify({ isolation: 'none' }));
    expect(loadConfig({ env: {}, cwd: dir, configFile: jsonFile }).isolation).toBe('none');
  });

  it('says which file is broken', () => {
    const dir = tempDir();
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ not json');
    expect(configError(() => loadConfig({ env: {}, cwd: dir, configFile: file })).message).toContain(
      'broken.json is not valid JSON',
    );
    writeFileSync(file, '[1, 2]');
    expect(configError(() => loadConfig({ env: {}, cwd: dir, configFile: file })).message).toContain(
      'object at the top level',
    );
  });
});

describe('limitsOverrideSchema', () => {
  it('keeps only what was given: no defaults that would replace configured limits', async () => {
    const { limitsOverrideSchema } = await import('./config-schema.js');
    expect(limitsOverrideSchema.parse({ timeoutMs: 5000 })).toEqual({ timeoutMs: 5000 });
    expect(() => limitsOverrideSchema.parse({ memoryLimitMb: 1 })).toThrow();
  });
});
