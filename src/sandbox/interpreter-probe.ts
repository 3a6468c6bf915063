import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { z } from 'zod';
import { VivariumError } from '../errors/index.js';

const execFileAsync = promisify(execFile);

/** What the sandbox must know about the interpreter to bind what it needs. */
export interface InterpreterInfo {
  /** The configured path. */
  path: string;
  /** The resolved executable (symlinks followed). */
  executable: string;
  /** `3.11.2`. */
  version: string;
  /** Directories the interpreter reads from (prefixes and `sys.path`), existing ones only. */
  directories: string[];
}

const probeSchema = z.object({
  version: z.string(),
  prefix: z.string(),
  basePrefix: z.string(),
  execPrefix: z.string(),
  path: z.array(z.string()),
});

const PROBE_CODE = [
  'import json, sys, os',
  'print(json.dumps({"version": sys.version.split()[0], "prefix": sys.prefix, "basePrefix": sys.base_prefix,',
  ' "execPrefix": sys.exec_prefix, "path": [p for p in sys.path if p and os.path.isdir(p)]}))',
].join('\n');

/** Runs the interpreter once to learn its version and the directories it reads. */
export async function probeInterpreter(pythonPath: string, signal?: AbortSignal): Promise<InterpreterInfo> {
  let executable: string;
  try {
    executable = await realpath(pythonPath);
  } catch {
    throw new VivariumError(
      'INTERPRETER_UNAVAILABLE',
      `Python interpreter not found at ${pythonPath}. Install it with: apt-get install -y python3 (or set \`pythonPath\`)`,
      { details: { pythonPath } },
    );
  }
  try {
    const { stdout } = await execFileAsync(pythonPath, ['-I', '-B', '-c', PROBE_CODE], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      timeout: 20_000,
      ...(signal ? { signal } : {}),
    });
    // eslint-disable-next-line no-restricted-syntax -- validated by probeSchema on the next line
    const parsed = probeSchema.parse(JSON.parse(stdout));
    const directories = [...new Set([parsed.prefix, parsed.basePrefix, parsed.execPrefix, ...parsed.path])];
    return { path: pythonPath, executable, version: parsed.version, directories };
  } catch (error) {
    if (error instanceof VivariumError) throw error;
    throw new VivariumError(
      'INTERPRETER_UNAVAILABLE',
      `Python interpreter ${pythonPath} did not start: ${(error as Error).message}`,
      {
        details: { pythonPath },
        cause: error,
      },
    );
  }
}
