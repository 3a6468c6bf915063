import { VivariumError } from '../errors/index.js';

/** What {@link extractCode} finds in a model's answer. */
export interface ExtractedCode {
  /** The Python source: the selected blocks joined in order, common indentation removed. */
  code: string;
  /** The prose outside the selected code (unselected blocks included as written), trimmed; null when none. */
  notes: string | null;
}

/** Characters of the answer quoted in the `GENERATION_FAILED` details when no code is found. */
const ANSWER_PREVIEW_CHARS = 400;

/** Fence labels read as Python (lower case). `pycon` is left out: its `>>>` prompts do not run. */
const PYTHON_LABELS = new Set(['python', 'py', 'python3', 'py3', 'ipython', 'ipython3', 'sage']);

/** A line that starts a statement almost no prose starts with. */
const CODE_LINE =
  /^(?:import\s+[\w.]+|from\s+[\w.]+\s+import\s|(?:async\s+)?def\s+\w+\s*\(|class\s+\w+|@[\w.]+|#|print\s*\(|(?:for|while|if|elif|with)\s.*:\s*(?:#.*)?$|(?:try|else|finally):\s*$|except\b.*:\s*$|return\b|raise\b|assert\s|[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_][\w.]*)*\s*(?:=|\+=|-=|\*=|\/=)(?!=)\s*\S|[A-Za-z_][\w.]*\(.*\)\s*$|results\s*\[)/;

interface FencedBlock {
  /** Lower-case first word of the info string (`python`, `py`, ``). */
  label: string;
  body: string;
  /** Line range [start, end) of the whole block, fences included. */
  startLine: number;
  endLine: number;
}

/** Reasoning models (DeepSeek-R1, Qwen3 through Ollama) put their thinking in `<think>` blocks. */
function stripThinking(text: string): string {
  const closed = text.replace(/<(think|thinking|reasoning)>[\s\S]*?<\/\1>/gi, '');
  // An unclosed block ran out of tokens while thinking: nothing after it is an answer.
  return closed.replace(/<(think|thinking|reasoning)>[\s\S]*$/i, '');
}

function findFencedBlocks(lines: readonly string[]): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  let index = 0;
  while (index < lines.length) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/.exec(lines[index] ?? '');
    if (!open) {
      index += 1;
      continue;
    }
    const indent = open[1] ?? '';
    const fence = open[2] ?? '```';
    const label = (open[3] ?? '')
      .replace(/^\{?\.?/, '')
      .replace(/\}$/, '')
      .toLowerCase();
    const closing = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${String(fence.length)},}\\s*$`);
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !closing.test(lines[end] ?? '')) {
      const line = lines[end] ?? '';
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
      end += 1;
    }
    // An unterminated final fence (the answer hit its token limit) runs to the end.
    const endLine = Math.min(end + 1, lines.length);
    blocks.push({ label, body: body.join('\n'), startLine: index, endLine });
    index = endLine;
  }
  return blocks;
}

/** Removes the indentation every non-blank line shares (a fence inside a list item). */
function dedent(code: string): string {
  const lines = code.split('\n');
  let common: number | null = null;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const width = /^[ \t]*/.exec(line)?.[0].length ?? 0;
    common = common === null ? width : Math.min(common, width);
  }
  if (!common) return code;
  return lines.map((line) => line.slice(Math.min(common, line.length))).join('\n');
}

/** Drops blank lines at both ends and trailing spaces, keeps everything inside. */
function tidyCode(code: string): string {
  return dedent(code.replace(/[ \t]+$/gm, ''))
    .replace(/^\n+/, '')
    .replace(/\n+$/, '');
}

function tidyNotes(parts: readonly string[]): string | null {
  const notes = parts
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return notes === '' ? null : notes;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** `<code>…</code>`, `<python>…</python>`, `[PYTHON]…[/PYTHON]` (Code Llama's convention). */
function findWrappedCode(text: string): { code: string; notes: string[] } | null {
  const patterns: { pattern: RegExp; html: boolean }[] = [
    { pattern: /\[PYTHON\]\n?([\s\S]*?)(?:\[\/PYTHON\]|$)/gi, html: false },
    { pattern: /<(?:python|py)>\n?([\s\S]*?)(?:<\/(?:python|py)>|$)/gi, html: false },
    { pattern: /<pre>\s*<code[^>]*>\n?([\s\S]*?)<\/code>\s*<\/pre>/gi, html: true },
    { pattern: /<code[^>]*>\n?([\s\S]*?)(?:<\/code>|$)/gi, html: true },
  ];
  for (const { pattern, html } of patterns) {
    const matches = [...text.matchAll(pattern)];
    // One-line `<code>x</code>` mentions inside prose are not the answer's code.
    const blocks = matches.filter((match) => (match[1] ?? '').includes('\n') || matches.length === 1);
    if (blocks.length === 0) continue;
    const codes = blocks.map((match) => (html ? decodeEntities(match[1] ?? '') : (match[1] ?? '')));
    const notes: string[] = [];
    let last = 0;
    for (const match of blocks) {
      notes.push(text.slice(last, match.index));
      last = match.index + match[0].length;
    }
    notes.push(text.slice(last));
    return { code: codes.map(tidyCode).join('\n\n'), notes };
  }
  return null;
}

/** An answer without fences: leading prose lines (up to the first line that reads as code) are notes. */
function splitPlainAnswer(text: string): { code: string; notes: string[] } {
  const lines = text.split('\n');
  const first = lines.findIndex((line) => CODE_LINE.test(line.trim()));
  if (first === -1) return { code: '', notes: [text] };
  return { code: lines.slice(first).join('\n'), notes: [lines.slice(0, first).join('\n')] };
}

function noCode(answer: string, why: string): VivariumError {
  const preview = answer.length > ANSWER_PREVIEW_CHARS ? `${answer.slice(0, ANSWER_PREVIEW_CHARS)}…` : answer;
  return new VivariumError('GENERATION_FAILED', `The model's answer holds no Python code: ${why}`, {
    details: { answerPreview: preview },
  });
}

/**
 * Extracts the Python code of a model's answer. Fenced blocks (```` ``` ```` or `~~~`, any
 * indentation) are preferred: the Python-labelled ones (`python`, `py`, `python3`, …) joined in
 * order, else the unlabelled ones; an unterminated last fence runs to the end. Without fences,
 * `[PYTHON]`, `<python>` and `<code>` wrappers are used, else the answer itself minus leading prose.
 * `<think>` blocks are dropped first, CRLF is normalised. Throws `GENERATION_FAILED` when no
 * non-blank code is left (details carry `answerPreview`).
 */
export function extractCode(answer: string): ExtractedCode {
  const text = stripThinking(answer.replace(/\r\n?/g, '\n'));
  if (text.trim() === '') throw noCode(answer, 'the answer is empty');

  const lines = text.split('\n');
  const blocks = findFencedBlocks(lines);
  if (blocks.length > 0) {
    const python = blocks.filter((block) => PYTHON_LABELS.has(block.label));
    const unlabelled = blocks.filter((block) => block.label === '');
    const selected = python.length > 0 ? python : unlabelled;
    if (selected.length === 0) {
      const labels = [...new Set(blocks.map((block) => block.label))].join(', ');
      throw noCode(answer, `its code blocks are labelled ${labels}, not python`);
    }
    const notes: string[] = [];
    let line = 0;
    for (const block of selected) {
      notes.push(lines.slice(line, block.startLine).join('\n'));
      line = block.endLine;
    }
    notes.push(lines.slice(line).join('\n'));
    const code = selected
      .map((block) => tidyCode(block.body))
      .filter((body) => body !== '')
      .join('\n\n');
    if (code === '') throw noCode(answer, 'its code blocks are empty');
    return { code, notes: tidyNotes(notes) };
  }

  const wrapped = findWrappedCode(text);
  if (wrapped && wrapped.code.trim() !== '') return { code: wrapped.code, notes: tidyNotes(wrapped.notes) };

  const plain = splitPlainAnswer(text);
  const code = tidyCode(plain.code);
  if (code === '') throw noCode(answer, 'no line of it reads as Python');
  return { code, notes: tidyNotes(plain.notes) };
}
