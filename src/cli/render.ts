import type { ExecutionErrorInfo, ExecutionEvent, MimeBundle } from '../kernel/index.js';

/** Where rendered text goes: `process.stdout`, `process.stderr`, or a buffer in a test. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * Characters a terminal acts on instead of showing: the C0 controls except tab, newline and
 * carriage return (ESC starts every escape sequence; NUL, BEL, backspace hide or fake text), DEL,
 * and the C1 controls U+0080–U+009F (U+009B is a one-character CSI on many terminals). Carriage
 * return stays: progress bars redraw their line with it, and it cannot reach beyond that line.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

/**
 * Makes kernel text safe to print on a terminal: every terminal control becomes its visible
 * escape (`ESC` → `\x1b`, `NUL` → `\x00`), so code in the sandbox cannot move the cursor, rewrite
 * the screen, set the window title or answer-back through the user's terminal. Applied to
 * everything the CLI prints from a kernel, whether stdout is a TTY or not (a pipe often ends in
 * one: `| less -R`, a log shown later). `--json` output keeps the raw text, JSON-escaped.
 */
export function neutralizeControls(text: string): string {
  return text.replace(
    TERMINAL_CONTROLS,
    (character) => `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** An image from a MIME bundle, decoded. */
export interface ImageOutput {
  /** `image/png`, `image/jpeg`, `image/gif`, `image/webp` or `image/svg+xml`. */
  mime: string;
  /** File extension for it, without dot: `png`, `jpg`, `gif`, `webp`, `svg`. */
  extension: string;
  bytes: Buffer;
}

/** Image types taken from a bundle, most preferred first, with the extension each is saved under. */
const IMAGE_TYPES: ReadonlyArray<{ mime: string; extension: string; base64: boolean }> = [
  { mime: 'image/png', extension: 'png', base64: true },
  { mime: 'image/jpeg', extension: 'jpg', base64: true },
  { mime: 'image/gif', extension: 'gif', base64: true },
  { mime: 'image/webp', extension: 'webp', base64: true },
  { mime: 'image/svg+xml', extension: 'svg', base64: false },
];

/** A bundle value as text: nbformat allows a string or a list of lines. */
function bundleString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join('');
  return null;
}

/** The best image of a bundle, decoded, or null. */
export function imageFromBundle(bundle: MimeBundle): ImageOutput | null {
  for (const type of IMAGE_TYPES) {
    const text = bundleString(bundle[type.mime]);
    if (text === null) continue;
    return {
      mime: type.mime,
      extension: type.extension,
      bytes: type.base64 ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
    };
  }
  return null;
}

/**
 * A bundle's alternatives are one object shown different ways; the CLI shows one: `text/plain`
 * when present, else a line naming the richest type and its size (`[text/html output: 812 bytes]`).
 * Images are handled by the caller before this.
 */
export function bundleText(bundle: MimeBundle): string {
  const plain = bundleString(bundle['text/plain']);
  if (plain !== null) return neutralizeControls(plain);
  const [mime, value] = Object.entries(bundle)[0] ?? ['(empty)', ''];
  const size = Buffer.byteLength(bundleString(value) ?? JSON.stringify(value) ?? '', 'utf8');
  return `[${neutralizeControls(mime)} output: ${size} bytes]`;
}

/** A traceback as the lines Python would print; an empty one (a host-side fact such as a timeout) as `ename: evalue`. */
export function tracebackText(error: ExecutionErrorInfo): string {
  const text = error.traceback.length > 0 ? error.traceback.join('\n') : `${error.ename}: ${error.evalue}`;
  return neutralizeControls(text);
}

/**
 * What to print for an image: the caller decides (a size line for `run`, a saved path when there
 * is a workspace to save into). Returns the line, without newline.
 */
export type ImageHandler = (image: ImageOutput) => string;

/** `[image/png output: 1234 bytes]`: an image shown as a line when it is not saved. */
export function imagePlaceholder(image: ImageOutput): string {
  return `[${image.mime} output: ${image.bytes.length} bytes]`;
}

/** Options of {@link OutputPrinter}. */
export interface OutputPrinterOptions {
  stdout: TextSink;
  stderr: TextSink;
  /** What an image becomes. @default {@link imagePlaceholder} */
  onImage?: ImageHandler;
}

/**
 * Prints an execution's events as text while they arrive: streams raw (neutralised) to the
 * matching stream, results and display data as `text/plain` or an image line on stdout,
 * tracebacks on stderr.
 */
export class OutputPrinter {
  private readonly stdout: TextSink;
  private readonly stderr: TextSink;
  private readonly onImage: ImageHandler;
  private stdoutAtLineStart = true;
  private stderrAtLineStart = true;
  private lastError: ExecutionErrorInfo | null = null;

  constructor(options: OutputPrinterOptions) {
    this.stdout = options.stdout;
    this.stderr = options.stderr;
    this.onImage = options.onImage ?? imagePlaceholder;
  }

  /** The last error printed in this cell, or null. */
  get printedError(): ExecutionErrorInfo | null {
    return this.lastError;
  }

  private writeStream(name: 'stdout' | 'stderr', text: string): void {
    if (text === '') return;
    (name === 'stdout' ? this.stdout : this.stderr).write(neutralizeControls(text));
    if (name === 'stdout') this.stdoutAtLineStart = text.endsWith('\n');
    else this.stderrAtLineStart = text.endsWith('\n');
  }

  /** Writes whole lines on a stream, starting a new line first when a stream left one open. */
  private writeLines(name: 'stdout' | 'stderr', text: string): void {
    const sink = name === 'stdout' ? this.stdout : this.stderr;
    const atLineStart = name === 'stdout' ? this.stdoutAtLineStart : this.stderrAtLineStart;
    sink.write(`${atLineStart ? '' : '\n'}${text}\n`);
    if (name === 'stdout') this.stdoutAtLineStart = true;
    else this.stderrAtLineStart = true;
  }

  private writeBundle(bundle: MimeBundle): void {
    const image = imageFromBundle(bundle);
    this.writeLines('stdout', image ? this.onImage(image) : bundleText(bundle));
  }

  /** Takes one event (pass it as `onEvent`). */
  handle(event: ExecutionEvent): void {
    switch (event.type) {
      case 'stream-delta':
        this.writeStream(event.name, event.text);
        return;
      case 'display-data':
      case 'execute-result':
        this.writeBundle(event.data);
        return;
      case 'execution-error':
        this.lastError = event;
        this.writeLines('stderr', tracebackText(event));
        return;
      case 'execution-start':
        this.lastError = null;
        return;
      case 'input-request':
        this.writeStream('stdout', event.prompt);
        return;
      // A terminal cannot take back printed lines; a cleared output is simply followed by the new one.
      case 'clear-output':
      case 'execution-end':
        return;
    }
  }

  /** The answer to an `input()` prompt was echoed by the terminal, ending the prompt's line. */
  inputEchoed(): void {
    this.stdoutAtLineStart = true;
  }

  /** Ends the last line of either stream when output stopped mid-line, so a prompt starts clean. */
  endLines(): void {
    if (!this.stdoutAtLineStart) this.stdout.write('\n');
    if (!this.stderrAtLineStart) this.stderr.write('\n');
    this.stdoutAtLineStart = true;
    this.stderrAtLineStart = true;
  }
}

/** Widest a table cell is shown before it is cut with `...`. */
export const MAX_TABLE_CELL_CHARS = 60;

/** A plain aligned text table; every cell neutralised and cut at {@link MAX_TABLE_CELL_CHARS}. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cut = (cell: string): string => {
    const flat = neutralizeControls(cell.replace(/\r?\n/g, ' ').replace(/\r|\t/g, ' '));
    return flat.length > MAX_TABLE_CELL_CHARS ? `${flat.slice(0, MAX_TABLE_CELL_CHARS - 3)}...` : flat;
  };
  const cells = [headers.map(cut), ...rows.map((row) => row.map(cut))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
