import { Vivarium } from '../../engine/index.js';
import {
  dependencies,
  installHints,
  isInstallAllowed,
  type DependenciesResult,
  type PackagesConfig,
} from '../../tools/index.js';
import type { CliIo } from '../cli-io.js';
import { engineOptionsFromFlags, type EngineFlags } from '../engine-flags.js';
import { EXIT_OK, EXIT_PYTHON_ERROR } from '../exit-codes.js';
import { neutralizeControls, renderTable } from '../render.js';
import { readLocalText } from '../usage-error.js';

/** Flags of `vivarium deps` (raw commander values). */
export interface DepsFlags extends Omit<EngineFlags, 'preload'> {
  json?: boolean;
}

/** The import table with kinds and, under it, one hint block per missing module. */
export function renderDependencies(
  result: DependenciesResult,
  file: string,
  packages: PackagesConfig,
): string {
  if (result.syntaxError) {
    const { line, column, message, caret } = result.syntaxError;
    return `${neutralizeControls(file)}:${line}:${column}: ${neutralizeControls(message)}\n${neutralizeControls(caret)}\n`;
  }
  if (result.imports.length === 0) return `${neutralizeControls(file)}: no imports\n`;
  const table = renderTable(
    ['LINE', 'MODULE', 'KIND', 'DISTRIBUTION', 'VERSION', 'WHERE'],
    result.imports.map((entry) => [
      String(entry.line),
      entry.alias ? `${entry.module} as ${entry.alias}` : entry.module,
      entry.kind,
      entry.distribution ?? '',
      entry.version ?? '',
      entry.location ?? (entry.kind === 'missing' && entry.stdlib ? 'stdlib part not installed' : ''),
    ]),
  );
  const out = [table];
  const seen = new Set<string>();
  for (const entry of result.imports) {
    const top = entry.module.split('.')[0] ?? entry.module;
    if (entry.kind !== 'missing' || seen.has(top)) continue;
    seen.add(top);
    const installable = entry.distribution !== undefined && isInstallAllowed(packages, entry.distribution);
    out.push('', `${top} is missing:`);
    for (const hint of installHints({ ...entry, module: top }, installable))
      out.push(`  - ${neutralizeControls(hint)}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * `vivarium deps FILE.py`: the imports of a file, each stdlib / installed / missing by the
 * sandbox's interpreter, with distributions, versions and install hints. Exit 0 when every import
 * resolves, 1 when one is missing or the file does not parse, 2 on bad flags.
 */
export async function depsCommand(file: string, flags: DepsFlags, io: CliIo): Promise<number> {
  const code = await readLocalText(file);
  const vv = await Vivarium.start({ ...engineOptionsFromFlags(flags), preload: [], pool: { size: 0 } });
  try {
    const session = await vv.createSession({ preload: [], idleTimeoutMs: 0 });
    let result: DependenciesResult;
    try {
      result = await dependencies(session, code);
    } finally {
      await session.close();
    }
    if (flags.json === true) io.stdout.write(`${JSON.stringify(result)}\n`);
    else io.stdout.write(renderDependencies(result, file, vv.config.packages));
    const failed = result.syntaxError !== null || result.imports.some((entry) => entry.kind === 'missing');
    return failed ? EXIT_PYTHON_ERROR : EXIT_OK;
  } finally {
    await vv.stop();
  }
}
