import { z } from 'zod';

/** The model's verdict on a successful run, as `prompts/verify.md` asks for it. */
export interface VerificationVerdict {
  adequate: boolean;
  reason: string;
  suggestion: string | null;
}

/** Characters of a reason or suggestion kept. */
const MAX_VERDICT_TEXT_CHARS = 2000;

const flag = z.union([
  z.boolean(),
  z
    .string()
    .transform((value) => value.trim().toLowerCase())
    .pipe(z.enum(['true', 'false', 'yes', 'no']))
    .transform((value) => value === 'true' || value === 'yes'),
]);

const text = z
  .string()
  .transform((value) => value.trim().slice(0, MAX_VERDICT_TEXT_CHARS))
  .nullable()
  .optional();

/** Tolerant: `adequate` may be `"true"`/`"yes"`, `reason` may be missing, `suggestion` null or absent. */
const verdictSchema = z.object({ adequate: flag, reason: text, suggestion: text });

/** The JSON object candidates of an answer: a fenced block's content, then the outermost braces. */
function candidates(answer: string): string[] {
  const clean = answer.replace(/\r\n?/g, '\n').replace(/<(think|thinking|reasoning)>[\s\S]*?<\/\1>/gi, '');
  const found: string[] = [];
  for (const match of clean.matchAll(/(```|~~~)[^\n]*\n([\s\S]*?)\1/g)) found.push(match[2] ?? '');
  const start = clean.indexOf('{');
  const end = clean.lastIndexOf('}');
  if (start !== -1 && end > start) found.push(clean.slice(start, end + 1));
  return found;
}

/**
 * Reads the verdict JSON `{adequate, reason, suggestion}` from a model's answer: bare, in a code
 * fence, or surrounded by prose; `<think>` blocks are ignored. Returns null when no candidate parses
 * and validates (the caller decides what an unreadable verdict means).
 */
export function parseVerdict(answer: string): VerificationVerdict | null {
  for (const candidate of candidates(answer)) {
    let value: unknown;
    try {
      // eslint-disable-next-line no-restricted-syntax -- validated by verdictSchema just below
      value = JSON.parse(candidate);
    } catch {
      continue;
    }
    const parsed = verdictSchema.safeParse(value);
    if (!parsed.success) continue;
    const suggestion = parsed.data.suggestion ?? null;
    return {
      adequate: parsed.data.adequate,
      reason: parsed.data.reason ?? '',
      suggestion: suggestion === '' || suggestion?.toLowerCase() === 'null' ? null : suggestion,
    };
  }
  return null;
}
