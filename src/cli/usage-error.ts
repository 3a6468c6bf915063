import { readFile } from 'node:fs/promises';

/**
 * A mistake in how the CLI was called: a bad flag value, a missing file, a conflicting pair of
 * flags. Exits with `EXIT_USAGE` and its message, nothing else.
 */
export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** ``Expected `--timeout` to be a positive number of seconds, got `abc` `` — the house form, for a flag's raw text. */
export function flagExpectation(flag: string, expectation: string, raw: string): CliUsageError {
  const shown = raw.length > 80 ? `${raw.slice(0, 77)}...` : raw;
  return new CliUsageError(`Expected \`${flag}\` to be ${expectation}, got \`${shown}\``);
}

/**
 * Reads a local file the command was given; a missing or unreadable one is a usage error
 * (``Cannot read `data.csv`: no such file``). `what` names the argument (`--file data.csv`).
 */
export async function readLocalFile(path: string, what?: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new CliUsageError(`Cannot read ${what === undefined ? '' : `${what} `}\`${path}\`: ${reason}`);
  }
}

/** {@link readLocalFile} as UTF-8 text. */
export async function readLocalText(path: string, what?: string): Promise<string> {
  return (await readLocalFile(path, what)).toString('utf8');
}
