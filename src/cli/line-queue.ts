import type { Interface as ReadlineInterface } from 'node:readline';

/**
 * Lines of a readline interface as a queue: lines typed (or piped) ahead wait their turn, and
 * `next()` resolves with the next one, or null once input has ended. Lets a command read lines
 * while an execution runs without losing any.
 */
export class LineQueue {
  private readonly lines: string[] = [];
  private ended = false;
  private waiter: ((line: string | null) => void) | null = null;

  constructor(readline: ReadlineInterface) {
    readline.on('line', (line: string) => {
      if (this.waiter) {
        const resolve = this.waiter;
        this.waiter = null;
        resolve(line);
      } else this.lines.push(line);
    });
    readline.on('close', () => {
      this.ended = true;
      const resolve = this.waiter;
      this.waiter = null;
      resolve?.(null);
    });
  }

  /** True when a line is waiting (typed or piped ahead). */
  get hasBuffered(): boolean {
    return this.lines.length > 0;
  }

  /** True once input has ended and every line has been taken. */
  get exhausted(): boolean {
    return this.ended && this.lines.length === 0;
  }

  /** The next line, or null at end of input. Only one caller waits at a time. */
  next(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Drops lines read ahead (Ctrl-C at the prompt). */
  clear(): void {
    this.lines.length = 0;
  }
}
