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
