/** What the scanner learned about buffered Python source. */
interface SourceScan {
  /** Open `(`, `[`, `{` not yet closed. */
  bracketDepth: number;
  /** True inside an unclosed `'''` / `"""` string. */
  inTripleString: boolean;
  /** True when the source ends with a backslash continuing the line (in code or in a string). */
  continued: boolean;
  /** The last character of code (outside strings and comments), or '' when there is none. */
  lastCodeCharacter: string;
}

/** A lexical scan good enough to tell an incomplete cell from a complete one; never a parser. */
function scanSource(source: string): SourceScan {
  let bracketDepth = 0;
  let tripleQuote: string | null = null;
  let singleQuote: string | null = null;
  let continued = false;
  let lastCodeCharacter = '';
  let index = 0;
  while (index < source.length) {
    const character = source[index] as string;
    continued = false;
    if (tripleQuote !== null) {
      if (character === '\\') {
        continued = index + 1 >= source.length;
        index += 2;
      } else if (source.startsWith(tripleQuote, index)) {
        tripleQuote = null;
        lastCodeCharacter = character;
        index += 3;
      } else index += 1;
      continue;
    }
    if (singleQuote !== null) {
      if (character === '\\') {
        continued = index + 1 >= source.length;
        index += 2;
        continue;
      }
      // An unterminated one-line string ends with its line (Python reports it when the cell runs).
      if (character === singleQuote || character === '\n') {
        singleQuote = null;
        lastCodeCharacter = character === '\n' ? lastCodeCharacter : character;
      }
      index += 1;
      continue;
    }
    if (character === '#') {
      const end = source.indexOf('\n', index);
      index = end === -1 ? source.length : end;
      continue;
    }
    if (character === '"' || character === "'") {
      if (source.startsWith(character.repeat(3), index)) {
        tripleQuote = character.repeat(3);
        index += 3;
      } else {
        singleQuote = character;
        index += 1;
      }
      continue;
    }
    if (character === '\\') {
      continued = index + 1 >= source.length;
      index += 2;
      continue;
    }
    if ('([{'.includes(character)) bracketDepth += 1;
    else if (')]}'.includes(character)) bracketDepth = Math.max(0, bracketDepth - 1);
    if (!/\s/.test(character)) lastCodeCharacter = character;
    index += 1;
  }
  return { bracketDepth, inTripleString: tripleQuote !== null, continued, lastCodeCharacter };
}

/** Keywords that continue a compound statement at the indentation of its header. */
const CONTINUATION_KEYWORD = /^(else|elif|except|finally)\b/;
/** Keywords that begin a compound statement: even on one line (`for x in y: f(x)`) it may go on. */
const COMPOUND_KEYWORD = /^(if|for|while|def|class|with|try|async)\b/;

/**
 * Groups REPL input lines into cells the way Python's own REPL does: a line is a cell unless it
 * is incomplete — inside open brackets or a triple-quoted string, or ending in `\` — or opens a
 * block (`:` at the end, a compound statement even on one line, or a decorator), in which case
 * lines are collected until an empty line.
 * One convenience over Python's REPL: inside a block, a new unindented statement (not `else`,
 * `elif`, `except`, `finally`) ends the block and starts the next cell, so a script piped in
 * without blank lines after its functions still runs.
 */
export class CellAccumulator {
  private lines: string[] = [];
  private block = false;

  /** True while a cell is being collected (the REPL shows `... `). */
  get pending(): boolean {
    return this.lines.length > 0;
  }

  /** Drops the cell being collected (Ctrl-C at the prompt). */
  clear(): void {
    this.lines = [];
    this.block = false;
  }

  private take(): string {
    const cell = this.lines.join('\n');
    this.clear();
    return cell;
  }

  /** True when the buffered lines stop in the middle of a statement, whatever follows. */
  private static incomplete(scan: SourceScan): boolean {
    return scan.bracketDepth > 0 || scan.inTripleString || scan.continued;
  }

  /** Adds one line; returns the cells it completes, in order (none, one, or two). */
  push(rawLine: string): string[] {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (this.lines.length === 0) {
      if (line.trim() === '') return [];
      this.lines.push(line);
      const scan = scanSource(line);
      if (CellAccumulator.incomplete(scan)) return [];
      if (scan.lastCodeCharacter === ':' || line.startsWith('@') || COMPOUND_KEYWORD.test(line)) {
        this.block = true;
        return [];
      }
      return [this.take()];
    }

    const before = scanSource(this.lines.join('\n'));
    if (this.block && !CellAccumulator.incomplete(before)) {
      if (line.trim() === '') return [this.take()];
      if (this.startsNewStatement(line, before)) return [this.take(), ...this.push(line)];
    }
    this.lines.push(line);
    const scan = scanSource(this.lines.join('\n'));
    if (this.block || CellAccumulator.incomplete(scan)) return [];
    if (scan.lastCodeCharacter === ':') {
      this.block = true;
      return [];
    }
    return [this.take()];
  }

  /**
   * True when `line` would end the block being collected rather than continue it (a REPL command
   * such as `%vars` typed after a finished block without the empty line).
   */
  wouldEndBlockBefore(line: string): boolean {
    if (!this.block) return false;
    const before = scanSource(this.lines.join('\n'));
    return !CellAccumulator.incomplete(before) && this.startsNewStatement(line, before);
  }

  /** A line at column 0 that begins a new statement: the block before it has its body. */
  private startsNewStatement(line: string, before: SourceScan): boolean {
    if (/^\s/.test(line) || line.startsWith('#') || CONTINUATION_KEYWORD.test(line)) return false;
    if (before.lastCodeCharacter === ':') return false;
    const lastLine = [...this.lines].reverse().find((buffered) => buffered.trim() !== '') ?? '';
    return !lastLine.trimStart().startsWith('@');
  }

  /** End of input: the cell being collected, if any. */
  flush(): string | null {
    return this.lines.length > 0 ? this.take() : null;
  }
}
