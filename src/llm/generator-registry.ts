import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../config/index.js';
import { isVivariumError, VivariumError } from '../errors/index.js';
import type { CodeGenerator } from './generator-types.js';
import { createLlmGenerator } from './llm-generator.js';
import { ScriptedGenerator } from './scripted-generator.js';

/** Builds a generator from the configuration; called once, when the generator is selected. */
export type GeneratorFactory = (config: Config) => CodeGenerator | Promise<CodeGenerator>;

/** A generator name: what `llm.generator` accepts. */
export const GENERATOR_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;

/** The built-in generators: `llm` (AI SDK providers) and `scripted` (replays `llm.scripted`). */
export const BUILTIN_GENERATORS: Readonly<Record<string, GeneratorFactory>> = Object.freeze({
  llm: (config: Config) => createLlmGenerator({ llm: config.llm }),
  scripted: (config: Config) => new ScriptedGenerator(config.llm.scripted),
});

/** True when `value` has the shape of a {@link CodeGenerator}; else why not. */
function generatorProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null)
    return `is ${value === null ? 'null' : typeof value}, not an object`;
  const candidate = value as Partial<Record<keyof CodeGenerator, unknown>>;
  if (typeof candidate.name !== 'string') return 'has no string `name`';
  if (!GENERATOR_NAME_PATTERN.test(candidate.name)) {
    return `has the name \`${candidate.name}\`, which is not a generator name (lower case letters, digits, \`-\`, \`_\`)`;
  }
  if (typeof candidate.generate !== 'function') return 'has no `generate(request, errorChain)` method';
  if (candidate.verify !== undefined && typeof candidate.verify !== 'function')
    return 'has a `verify` that is not a method';
  return null;
}

/**
 * Generator factories by name. Names are unique: registering a name twice (a plugin naming itself
 * `llm`, two plugins with one name) is `CONFIG_INVALID`, so the generator a config selects is never
 * ambiguous.
 */
export class GeneratorRegistry {
  readonly #factories = new Map<string, { factory: GeneratorFactory; origin: string }>();

  constructor(entries: Readonly<Record<string, GeneratorFactory>> = BUILTIN_GENERATORS) {
    for (const [name, factory] of Object.entries(entries)) this.register(name, factory, 'built in');
  }

  /**
   * Adds a generator under `name`: a factory, or an instance (returned as is). `origin` names where
   * it came from in errors (`built in`, the plugin's module). @throws CONFIG_INVALID on a taken or invalid name
   */
  register(name: string, generator: GeneratorFactory | CodeGenerator, origin = 'the caller'): void {
    if (!GENERATOR_NAME_PATTERN.test(name)) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `Generator name \`${name}\` (from ${origin}) must be lower case letters, digits, \`-\` and \`_\`, starting with a letter`,
        { details: { name, origin } },
      );
    }
    const existing = this.#factories.get(name);
    if (existing) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `Generator \`${name}\` from ${origin} is registered already (${existing.origin}); generator names must be unique`,
        { details: { name, origin, existing: existing.origin } },
      );
    }
    const factory: GeneratorFactory = typeof generator === 'function' ? generator : () => generator;
    this.#factories.set(name, { factory, origin });
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /**
   * Builds the generator `name`. @throws CONFIG_INVALID for an unknown name (listing the known
   * ones), a factory that fails or returns something that is not a generator
   */
  async create(name: string, config: Config): Promise<CodeGenerator> {
    const entry = this.#factories.get(name);
    if (!entry) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `Unknown generator \`${name}\` (llm.generator): known generators are ${this.names()
          .map((known) => `\`${known}\``)
          .join(', ')}; plugins add more (llm.plugins)`,
        { details: { generator: name, known: this.names() } },
      );
    }
    let generator: unknown;
    try {
      generator = await entry.factory(config);
    } catch (error) {
      if (isVivariumError(error)) throw error;
      throw new VivariumError(
        'CONFIG_INVALID',
        `Generator \`${name}\` (${entry.origin}) failed to start: ${(error as Error).message}`,
        { details: { generator: name, origin: entry.origin }, cause: error },
      );
    }
    const problem = generatorProblem(generator);
    if (problem !== null) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `Generator \`${name}\` (${entry.origin}) built something that is not a code generator: it ${problem}`,
        { details: { generator: name, origin: entry.origin } },
      );
    }
    return generator as CodeGenerator;
  }
}

/**
 * Resolves a plugin specifier from `cwd`: `./x.mjs`, `../x.js`, `/abs/x.js` and any existing file
 * relative to `cwd` are paths; anything else is a package name resolved from `cwd`'s node_modules
 * (then from Vivarium's own, for ESM-only packages `require` cannot resolve).
 */
function resolvePlugin(specifier: string, cwd: string): string {
  const path = resolve(cwd, specifier);
  if (
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    isAbsolute(specifier) ||
    existsSync(path)
  ) {
    return pathToFileURL(path).href;
  }
  try {
    return pathToFileURL(createRequire(join(cwd, 'noop.js')).resolve(specifier)).href;
  } catch {
    return specifier;
  }
}

function pluginError(specifier: string, what: string, cause?: unknown): VivariumError {
  return new VivariumError('CONFIG_INVALID', `Generator plugin \`${specifier}\` (llm.plugins) ${what}`, {
    details: { plugin: specifier },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Loads one plugin module (`llm.plugins`): a path relative to `cwd` or a package name. It must
 * export a {@link CodeGenerator} as `default` or `generator`, or a `createGenerator(config)` that
 * returns one (or a promise of one); it is registered under its `name`.
 * @throws CONFIG_INVALID naming the module and what was wrong with it
 */
export async function loadGeneratorPlugin(
  specifier: string,
  config: Config,
  cwd: string,
): Promise<CodeGenerator> {
  const target = resolvePlugin(specifier, cwd);
  let module: Record<string, unknown>;
  try {
    module = (await import(target)) as Record<string, unknown>;
  } catch (error) {
    throw pluginError(specifier, `cannot be loaded (${target}): ${(error as Error).message}`, error);
  }
  let generator: unknown;
  let source: string;
  if (typeof module.createGenerator === 'function') {
    source = '`createGenerator(config)`';
    try {
      generator = await (module.createGenerator as (config: Config) => unknown)(config);
    } catch (error) {
      throw pluginError(specifier, `threw from createGenerator(config): ${(error as Error).message}`, error);
    }
  } else if (module.generator !== undefined) {
    source = 'its `generator` export';
    generator = module.generator;
  } else if (module.default !== undefined) {
    source = 'its default export';
    generator = module.default;
  } else {
    throw pluginError(
      specifier,
      'exports no generator: export a code generator as `default` or `generator`, or a `createGenerator(config)` function (docs/llm.md)',
    );
  }
  const problem = generatorProblem(generator);
  if (problem !== null) throw pluginError(specifier, `is not usable: ${source} ${problem}`);
  return generator as CodeGenerator;
}

/** Options of {@link createGenerator}. */
export interface CreateGeneratorOptions {
  /**
   * Generators a library caller adds by name (instances or factories), next to the built-in ones and
   * the plugins; select one with `llm.generator`. @default {}
   */
  generators?: Readonly<Record<string, CodeGenerator | GeneratorFactory>>;
  /** Directory plugin paths are relative to, and packages are resolved from. @default process.cwd() */
  cwd?: string;
}

/**
 * The generator tasks use, built once at engine start: registers the built-in generators,
 * `options.generators` and every module of `llm.plugins` (each is loaded and checked, selected or
 * not), then builds `llm.generator` — or, when it is unset, `llm` if `llm.model` is set and none
 * (null) otherwise. @throws CONFIG_INVALID for an unknown name (listing the known ones), a bad
 * plugin, or a generator whose configuration is incomplete (no model, no base URL, a missing
 * provider package)
 */
export async function createGenerator(
  config: Config,
  options: CreateGeneratorOptions = {},
): Promise<CodeGenerator | null> {
  const registry = new GeneratorRegistry();
  for (const [name, generator] of Object.entries(options.generators ?? {}))
    registry.register(name, generator);
  const cwd = options.cwd ?? process.cwd();
  for (const specifier of config.llm.plugins) {
    const generator = await loadGeneratorPlugin(specifier, config, cwd);
    registry.register(generator.name, generator, `plugin \`${specifier}\``);
  }
  const selected = config.llm.generator ?? (config.llm.model === undefined ? null : 'llm');
  return selected === null ? null : registry.create(selected, config);
}
