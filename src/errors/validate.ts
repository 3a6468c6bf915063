import type { z } from 'zod';
import { describeValue } from './describe-value.js';
import { VivariumError } from './vivarium-error.js';

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'number'
        ? `a number ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`
        : `at least ${String(issue.minimum)} long`;
    case 'too_big':
      return issue.origin === 'number'
        ? `a number ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`
        : `at most ${String(issue.maximum)} long`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `free of unknown keys (${issue.keys.join(', ')})`;
    default:
      return issue.message;
  }
}

/**
 * Validates input at a boundary. Throws `INVALID_ARGUMENT` in the one message form:
 * ``Expected `timeoutMs` to be a number > 0, got `-1` (number)`` — one line per problem.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.length > 0 ? issue.path.map(String).join('.') : what;
    const got =
      issue.code === 'unrecognized_keys'
        ? describeValue(issue.keys)
        : describeValue(valueAt(input, issue.path));
    return `Expected \`${name}\` to be ${expectation(issue)}, got ${got}`;
  });
  throw new VivariumError('INVALID_ARGUMENT', problems.join('\n'), { details: { problems } });
}
