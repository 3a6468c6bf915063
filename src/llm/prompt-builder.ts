import type {
  ChatMessage,
  ErrorChainEntry,
  GenerationRequest,
  PromptVariable,
  VerificationRequest,
} from './generator-types.js';
import { summarizePromptFile } from './file-summary.js';
import {
  DEFAULT_PROMPTS_DIR,
  loadPromptTemplates,
  renderTemplate,
  type PromptTemplates,
} from './prompt-templates.js';
import { headBytes, stripControl, trimLines, truncateEnd, truncateMiddle, utf8Bytes } from './text-budget.js';

/** Upper bound of a whole prompt (all messages), UTF-8 bytes: about 16k tokens. */
export const DEFAULT_MAX_PROMPT_BYTES = 64 * 1024;

/** Byte budgets of the parts of a prompt. Their sum stays under {@link DEFAULT_MAX_PROMPT_BYTES}. */
export interface PromptBudgets {
  /** The objective. @default 8192 */
  objectiveBytes: number;
  /** The caller's context (a conversation keeps its latest messages). @default 8192 */
  contextBytes: number;
  /** One message of a context conversation. @default 2048 */
  contextMessageBytes: number;
  /** The session's variables. @default 4096 */
  variablesBytes: number;
  /** All input files together. @default 12288 */
  filesBytes: number;
  /** One input file. @default 3072 */
  fileBytes: number;
  /** The package list. @default 2048 */
  packagesBytes: number;
  /** The whole error chain of a repair. @default 20480 */
  errorChainBytes: number;
  /** The code of one failed attempt. @default 6144 */
  attemptCodeBytes: number;
  /** Traceback lines kept from the head / the tail of one error. @default 15 / 25 */
  tracebackHeadLines: number;
  tracebackTailLines: number;
  /** The traceback of one error after the line trim. @default 4096 */
  tracebackBytes: number;
  /** Verification: the code, the printed output, the `results` JSON. @default 12288 / 8192 / 8192 */
  verifyCodeBytes: number;
  verifyStdoutBytes: number;
  verifyResultsBytes: number;
}

/** The default {@link PromptBudgets}. */
export const DEFAULT_PROMPT_BUDGETS: Readonly<PromptBudgets> = Object.freeze({
  objectiveBytes: 8192,
  contextBytes: 8192,
  contextMessageBytes: 2048,
  variablesBytes: 4096,
  filesBytes: 12_288,
  fileBytes: 3072,
  packagesBytes: 2048,
  errorChainBytes: 20_480,
  attemptCodeBytes: 6144,
  tracebackHeadLines: 15,
  tracebackTailLines: 25,
  tracebackBytes: 4096,
  verifyCodeBytes: 12_288,
  verifyStdoutBytes: 8192,
  verifyResultsBytes: 8192,
});

/** Options of {@link PromptBuilder}. */
export interface PromptBuilderOptions {
  /** Folder of the prompt templates (`system.md`, `task.md`, …). @default DEFAULT_PROMPTS_DIR (the repo's `prompts/`) */
  promptsDir?: string;
  /** Upper bound of all messages together, UTF-8 bytes. @default DEFAULT_MAX_PROMPT_BYTES */
  maxPromptBytes?: number;
  /** Budgets of the parts over {@link DEFAULT_PROMPT_BUDGETS}. @default {} */
  budgets?: Partial<PromptBudgets>;
}

const STAGE_WORDS: Readonly<Record<ErrorChainEntry['stage'], string>> = {
  analysis: 'refused by the static analysis before it ran',
  execution: 'raised an error when it ran',
  verification: 'ran, but its outcome did not answer the objective',
};

/** A fence longer than any backtick run in `text`, so the text cannot close it. */
function fenceFor(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  return '`'.repeat(longest + 1);
}

function renderVariables(variables: readonly PromptVariable[], maxBytes: number): string {
  const lines: string[] = [];
  let used = 0;
  for (const [index, variable] of variables.entries()) {
    const summary = stripControl(variable.summary).replace(/\s+/g, ' ').slice(0, 200);
    const line = `- \`${variable.name}\`: ${variable.type}${summary ? ` — ${summary}` : ''}`;
    if (used + utf8Bytes(line) + 1 > maxBytes) {
      lines.push(`- … ${String(variables.length - index)} more variables left out`);
      break;
    }
    lines.push(line);
    used += utf8Bytes(line) + 1;
  }
  return lines.join('\n');
}

function renderContext(context: GenerationRequest['context'], budgets: PromptBudgets): string {
  if (context === null) return '';
  if (typeof context === 'string') return truncateMiddle(context.trim(), budgets.contextBytes);
  // A conversation keeps its latest messages: they are what the objective follows from.
  const rendered: string[] = [];
  let used = 0;
  for (let index = context.length - 1; index >= 0; index -= 1) {
    const message = context[index];
    if (!message) continue;
    const text = `**${message.role}:** ${truncateMiddle(message.content.trim(), budgets.contextMessageBytes)}`;
    if (used + utf8Bytes(text) + 2 > budgets.contextBytes) {
      rendered.push(`(${String(index + 1)} earlier messages left out)`);
      break;
    }
    rendered.push(text);
    used += utf8Bytes(text) + 2;
  }
  return rendered.reverse().join('\n\n');
}

function renderFiles(request: GenerationRequest, budgets: PromptBudgets): string {
  const parts: string[] = [];
  let used = 0;
  for (const [index, file] of request.files.entries()) {
    const text = summarizePromptFile(file, Math.min(budgets.fileBytes, budgets.filesBytes - used));
    if (used + utf8Bytes(text) + 1 > budgets.filesBytes || text === '') {
      const rest = request.files.slice(index).map((f) => `\`${f.path}\``);
      parts.push(headBytes(`- … ${String(rest.length)} more files: ${rest.join(', ')}`, 1024));
      break;
    }
    parts.push(text);
    used += utf8Bytes(text) + 1;
  }
  return parts.join('\n');
}

function renderPackages(packages: readonly string[], maxBytes: number): string {
  if (packages.length === 0) return '';
  const text = packages.join(', ');
  if (utf8Bytes(text) <= maxBytes) return text;
  const cut = headBytes(text, maxBytes - 64).replace(/,[^,]*$/, '');
  const shown = cut.split(', ').length;
  return `${cut}, … ${String(packages.length - shown)} more`;
}

function renderTraceback(entry: ErrorChainEntry, budgets: PromptBudgets): string {
  const lines = entry.error.traceback.flatMap((line) => stripControl(line).replace(/\n$/, '').split('\n'));
  const trimmed = trimLines(lines, budgets.tracebackHeadLines, budgets.tracebackTailLines).join('\n');
  return truncateMiddle(trimmed, budgets.tracebackBytes);
}

function renderAttempt(entry: ErrorChainEntry, budgets: PromptBudgets, full: boolean): string {
  const evalue = stripControl(entry.error.evalue).trim();
  const header = `### Attempt ${String(entry.attempt)}: ${STAGE_WORDS[entry.stage]}${
    entry.repeats > 0 ? ` (the same error as ${String(entry.repeats)} earlier attempt(s))` : ''
  }`;
  const error = `Error: ${entry.error.ename}${evalue ? `: ${truncateMiddle(evalue, 1024)}` : ''}`;
  if (!full) return `${header}\n\n${error}\n(code and traceback left out for space)`;
  const code = truncateMiddle(entry.code, budgets.attemptCodeBytes);
  const codeFence = fenceFor(code);
  const parts = [header, `${codeFence}python\n${code}\n${codeFence}`, error];
  const traceback = renderTraceback(entry, budgets);
  if (traceback.trim() !== '') {
    const fence = fenceFor(traceback);
    parts.push(`${fence}text\n${traceback}\n${fence}`);
  }
  return parts.join('\n\n');
}

/** The chain, oldest first; the newest attempts in full, older ones as one line when space runs out. */
function renderErrorChain(chain: readonly ErrorChainEntry[], budgets: PromptBudgets): string {
  const rendered: string[] = [];
  let used = 0;
  let full = true;
  for (let index = chain.length - 1; index >= 0; index -= 1) {
    const entry = chain[index];
    if (!entry) continue;
    let text = full ? renderAttempt(entry, budgets, true) : '';
    if (!full || used + utf8Bytes(text) > budgets.errorChainBytes) {
      // The newest attempt is always shown in full: it is what the repair is about.
      if (rendered.length === 0) text = truncateMiddle(text, budgets.errorChainBytes);
      else {
        full = false;
        text = renderAttempt(entry, budgets, false);
      }
    }
    rendered.push(text);
    used += utf8Bytes(text) + 2;
  }
  return rendered.reverse().join('\n\n');
}

function modeFlags(mode: GenerationRequest['mode']): Record<string, boolean> {
  return {
    mode_read_only: mode === 'read_only',
    mode_workspace_write: mode === 'workspace_write',
    mode_network: mode === 'network',
  };
}

/** Keeps the whole prompt within `maxBytes` by cutting the middle of the longest message. */
function boundMessages(messages: ChatMessage[], maxBytes: number): ChatMessage[] {
  const total = messages.reduce((sum, message) => sum + utf8Bytes(message.content), 0);
  if (total <= maxBytes) return messages;
  const longest = messages.reduce(
    (best, message, index) =>
      utf8Bytes(message.content) > utf8Bytes(messages[best]?.content ?? '') ? index : best,
    0,
  );
  return messages.map((message, index) =>
    index === longest
      ? {
          ...message,
          content: truncateMiddle(message.content, utf8Bytes(message.content) - (total - maxBytes)),
        }
      : message,
  );
}

/**
 * Composes the messages of a generation, a repair and a verification from the prompt templates
 * (docs/llm.md, "Prompts"): a system message (role, rules, the execution mode) and one user message
 * (the task: objective, expected results, context, variables, input files, packages; for a repair
 * the error chain and, when the last error repeats, the escalation). Every part has a byte budget
 * and says what it left out; the whole prompt stays within `maxPromptBytes`.
 */
export class PromptBuilder {
  readonly templates: PromptTemplates;
  readonly maxPromptBytes: number;
  readonly budgets: Readonly<PromptBudgets>;

  constructor(options: PromptBuilderOptions = {}) {
    this.templates = loadPromptTemplates(options.promptsDir ?? DEFAULT_PROMPTS_DIR);
    this.maxPromptBytes = options.maxPromptBytes ?? DEFAULT_MAX_PROMPT_BYTES;
    this.budgets = Object.freeze({ ...DEFAULT_PROMPT_BUDGETS, ...options.budgets });
  }

  /** The messages of attempt `request.attempt`: a first generation, or a repair when `errorChain` is not empty. */
  buildGeneration(request: GenerationRequest, errorChain: readonly ErrorChainEntry[] = []): ChatMessage[] {
    const budgets = this.budgets;
    const task = renderTemplate(this.templates.task, {
      objective: truncateMiddle(request.objective.trim(), budgets.objectiveBytes),
      expected_results: request.expectedResults.map((name) => `    ${JSON.stringify(name)}: ...,`).join('\n'),
      context: renderContext(request.context, budgets),
      variables: renderVariables(request.variables, budgets.variablesBytes),
      files: renderFiles(request, budgets),
      packages: renderPackages(request.packages, budgets.packagesBytes),
      mode: request.mode,
    });
    const system = renderTemplate(this.templates.system, modeFlags(request.mode));
    let user: string;
    if (errorChain.length === 0) {
      user = renderTemplate(this.templates.generate, { task, attempt: request.attempt });
    } else {
      const last = errorChain[errorChain.length - 1];
      const repeatCount = (last?.repeats ?? 0) + 1;
      user = renderTemplate(this.templates.repair, {
        task,
        attempt: request.attempt,
        error_chain: renderErrorChain(errorChain, budgets),
        repeated: repeatCount > 1,
        repeat_count: repeatCount,
        repeated_often: repeatCount > 2,
      });
    }
    return boundMessages(
      [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
      this.maxPromptBytes,
    );
  }

  /** The messages of the model check of a successful run (`prompts/verify-system.md`, `prompts/verify.md`). */
  buildVerification(request: VerificationRequest): ChatMessage[] {
    const budgets = this.budgets;
    let results: string;
    try {
      results = JSON.stringify(request.results, null, 2) ?? 'null';
    } catch {
      results = '(not serializable)';
    }
    const user = renderTemplate(this.templates.verify, {
      objective: truncateMiddle(request.objective.trim(), budgets.objectiveBytes),
      code: truncateMiddle(request.code, budgets.verifyCodeBytes),
      stdout:
        truncateMiddle(stripControl(request.stdout).trim(), budgets.verifyStdoutBytes) || '(nothing printed)',
      results: truncateEnd(results, budgets.verifyResultsBytes),
    });
    return boundMessages(
      [
        { role: 'system', content: renderTemplate(this.templates.verifySystem, {}) },
        { role: 'user', content: user },
      ],
      this.maxPromptBytes,
    );
  }
}
