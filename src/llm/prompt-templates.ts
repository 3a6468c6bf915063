import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { VivariumError } from '../errors/index.js';

/**
 * The repository's `prompts/` folder. Resolved from this module, so it is found from `src/llm/`
 * (tests) and from `dist/llm/` (the build) alike; the package ships it (`files` in package.json).
 */
export const DEFAULT_PROMPTS_DIR = fileURLToPath(new URL('../../prompts/', import.meta.url));

/** The template files of a prompts folder, and the placeholders each may use. */
export const PROMPT_TEMPLATE_FILES = {
  system: {
    file: 'system.md',
    placeholders: ['mode_read_only', 'mode_workspace_write', 'mode_network'],
  },
  task: {
    file: 'task.md',
    placeholders: ['objective', 'expected_results', 'context', 'variables', 'files', 'packages', 'mode'],
  },
  generate: { file: 'generate.md', placeholders: ['task', 'attempt'] },
  repair: {
    file: 'repair.md',
    placeholders: ['task', 'attempt', 'error_chain', 'repeated', 'repeat_count', 'repeated_often'],
  },
  verifySystem: { file: 'verify-system.md', placeholders: [] },
  verify: { file: 'verify.md', placeholders: ['objective', 'code', 'stdout', 'results'] },
} as const satisfies Record<string, { file: string; placeholders: readonly string[] }>;

export type PromptTemplateName = keyof typeof PROMPT_TEMPLATE_FILES;

/** The loaded templates of one prompts folder. */
export type PromptTemplates = Readonly<Record<PromptTemplateName, string>>;

/** Values a template is rendered with: text, or a flag for `{{#name}}…{{/name}}` sections. */
export type TemplateValues = Readonly<Record<string, string | boolean | number>>;

const PLACEHOLDER = /\{\{\s*([#/]?)([a-z_]+)\s*\}\}/g;
const SECTION = /\{\{#([a-z_]+)\}\}\n?([\s\S]*?)\{\{\/\1\}\}\n?/g;

const cache = new Map<string, PromptTemplates>();

/**
 * Reads and checks the templates of a prompts folder (cached per folder). A missing file or a
 * placeholder the template may not use is `CONFIG_INVALID` naming the file, so a typo in a custom
 * prompt fails at start instead of reaching the model.
 */
export function loadPromptTemplates(promptsDir: string = DEFAULT_PROMPTS_DIR): PromptTemplates {
  const cached = cache.get(promptsDir);
  if (cached) return cached;
  const loaded: Partial<Record<PromptTemplateName, string>> = {};
  for (const [name, spec] of Object.entries(PROMPT_TEMPLATE_FILES) as [
    PromptTemplateName,
    { file: string; placeholders: readonly string[] },
  ][]) {
    const path = join(promptsDir, spec.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8').replace(/\r\n?/g, '\n');
    } catch (error) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `Cannot read the prompt template ${path}: ${(error as Error).message}`,
        { details: { path } },
      );
    }
    const unknown = [...text.matchAll(PLACEHOLDER)]
      .map((match) => match[2] ?? '')
      .filter((placeholder) => !spec.placeholders.includes(placeholder));
    if (unknown.length > 0) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `The prompt template ${path} uses unknown placeholder(s) ${[...new Set(unknown)].map((p) => `\`{{${p}}}\``).join(', ')}; it may use ${spec.placeholders.map((p) => `\`{{${p}}}\``).join(', ') || 'none'}`,
        { details: { path, unknown: [...new Set(unknown)] } },
      );
    }
    loaded[name] = text;
  }
  const templates = Object.freeze(loaded as Record<PromptTemplateName, string>);
  cache.set(promptsDir, templates);
  return templates;
}

function isSet(value: string | boolean | number | undefined): boolean {
  return typeof value === 'string'
    ? value.trim() !== ''
    : value !== undefined && value !== false && value !== 0;
}

/**
 * Renders a template: `{{#name}}…{{/name}}` keeps its content only when `name` is a non-empty
 * string, `true` or a non-zero number; then each `{{name}}` is replaced in one pass, so values are
 * never scanned for placeholders themselves. Runs of blank lines collapse to one.
 */
export function renderTemplate(template: string, values: TemplateValues): string {
  const withSections = template.replace(SECTION, (_match, name: string, body: string) =>
    isSet(values[name]) ? body : '',
  );
  const rendered = withSections.replace(PLACEHOLDER, (_match, sigil: string, name: string) => {
    if (sigil !== '') return '';
    const value = values[name];
    return value === undefined || typeof value === 'boolean' ? '' : String(value);
  });
  return rendered.replace(/\n{3,}/g, '\n\n').trim();
}
