/**
 * Renders a value for an error message in the house form: `` `-1` (number) ``.
 * Long values are cut so a message never carries a payload.
 */
export function describeValue(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    shown = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return `\`${shown}\` (${type})`;
}

/** ``Expected `name` to be <expectation>, got `value` (type)`` — the one validation message form. */
export function expectationMessage(name: string, expectation: string, value: unknown): string {
  return `Expected \`${name}\` to be ${expectation}, got ${describeValue(value)}`;
}
