import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { VivariumError } from '../errors/index.js';
import { configSchema, type Config, type ConfigInput } from './config-schema.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Path of a config file (`.json`, `.yaml`, `.yml`). @default `vivarium.config.json|yaml|yml` in `cwd`, when present */
  configFile?: string;
  /** Values that win over file and environment (CLI flags, library options). @default {} */
  overrides?: ConfigInput;
  /** Environment to read `VIVARIUM_*` variables from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Directory searched for a default config file. @default process.cwd() */
  cwd?: string;
}

const DEFAULT_CONFIG_FILES = ['vivarium.config.json', 'vivarium.config.yaml', 'vivarium.config.yml'];

/** `timeoutMs` → `TIMEOUT_MS`. */
function toEnvName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

type Shape = Record<string, z.ZodType>;

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      current = def.innerType;
    } else return current;
  }
}

/** Converts an env string to what the schema at that place expects. */
function coerce(schema: z.ZodType, raw: string): unknown {
  const type = (unwrap(schema) as unknown as { def: { type: string } }).def.type;
  if (type === 'number') return raw.trim() === '' ? raw : Number(raw);
  if (type === 'boolean')
    return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  if (type === 'array')
    return raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  if (type === 'record' || type === 'object') {
    try {
      // eslint-disable-next-line no-restricted-syntax -- the whole config is validated by configSchema
      return z.json().parse(JSON.parse(raw));
    } catch {
      return raw;
    }
  }
  return raw;
}

/**
 * Reads `VIVARIUM_<KEY>` and `VIVARIUM_<SECTION>_<KEY>` variables for every field of the schema,
 * e.g. `VIVARIUM_ISOLATION`, `VIVARIUM_LIMITS_TIMEOUT_MS`, `VIVARIUM_PRELOAD=numpy,pandas`.
 */
export function configFromEnv(
  env: NodeJS.ProcessEnv,
  shape: Shape = configSchema.shape,
  prefix = 'VIVARIUM_',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, fieldSchema] of Object.entries(shape)) {
    const name = `${prefix}${toEnvName(key)}`;
    const inner = unwrap(fieldSchema);
    const def = (inner as unknown as { def: { type: string } }).def;
    if (def.type === 'object') {
      const nested = configFromEnv(env, (inner as unknown as { shape: Shape }).shape, `${name}_`);
      if (Object.keys(nested).length > 0) out[key] = nested;
      continue;
    }
    const raw = env[name];
    if (raw !== undefined) out[key] = coerce(fieldSchema, raw);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const existing = out[key];
    out[key] = isPlainObject(existing) && isPlainObject(value) ? merge(existing, value) : value;
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new VivariumError(
      'CONFIG_INVALID',
      `Cannot read config file ${path}: ${(error as Error).message}`,
      {
        details: { path },
      },
    );
  }
  let parsed: unknown;
  try {
    // eslint-disable-next-line no-restricted-syntax -- the whole config is validated by configSchema
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new VivariumError(
      'CONFIG_INVALID',
      `Config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
      {
        details: { path },
      },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) {
    throw new VivariumError('CONFIG_INVALID', `Config file ${path} must hold an object at the top level`, {
      details: { path },
    });
  }
  return parsed;
}

/** One line per problem: where, what was wrong, what is accepted. */
export function formatConfigIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    let message = issue.message;
    if (issue.code === 'invalid_value' && 'values' in issue) {
      message = `must be one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (issue.code === 'unrecognized_keys') {
      message = `unknown key(s) ${issue.keys.map((k) => `\`${k}\``).join(', ')}`;
    }
    return `\`${where}\`: ${message}`;
  });
}

/** Where a root engine keeps its data: a system service's place, reachable by kernel uids. */
export const ROOT_DATA_DIR = '/var/lib/vivarium';

/**
 * The default data directory: `/var/lib/vivarium` for root (kernels run as other uids, which
 * cannot traverse `/root`), else `$XDG_DATA_HOME/vivarium` or `~/.local/share/vivarium`.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return ROOT_DATA_DIR;
  const base =
    env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/')
      ? env.XDG_DATA_HOME
      : join(homedir(), '.local', 'share');
  return join(base, 'vivarium');
}

/** Deep-freezes an object graph. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the configuration once: defaults < config file < `VIVARIUM_*` env < overrides.
 * Throws `CONFIG_INVALID` listing every problem and the accepted values.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let configFile = options.configFile ?? env.VIVARIUM_CONFIG;
  if (configFile === undefined) {
    configFile = DEFAULT_CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path));
  }
  const fromFile = configFile === undefined ? {} : readConfigFile(resolve(cwd, configFile));
  const { config: _ignored, ...fromEnv } = configFromEnv(env);
  const merged = merge(merge(fromFile, fromEnv), options.overrides ?? {});
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = formatConfigIssues(result.error);
    throw new VivariumError('CONFIG_INVALID', `Invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: { problems, ...(configFile === undefined ? {} : { configFile }) },
    });
  }
  const dataDir = resolve(cwd, result.data.dataDir ?? defaultDataDir(env));
  return deepFreeze({ ...result.data, dataDir });
}
