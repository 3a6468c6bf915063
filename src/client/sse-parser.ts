/**
 * An incremental parser of a `text/event-stream` body (the WHATWG Server-Sent Events format): feed
 * it text as it arrives, in chunks cut anywhere, and it hands out each complete event once its
 * blank line has arrived. Pure, no I/O: it runs in Node and in browsers.
 */

/** One Server-Sent Event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when the event had none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` field seen, or null. */
  id: string | null;
}

/** Options of {@link SseParser}. */
export interface SseParserOptions {
  /**
   * Longest event accepted, in characters of its `data` plus the line being read; past it
   * {@link SseParser.push} throws (a stream that never ends an event would grow memory forever).
   * @default 268_435_456 (256 Mi)
   */
  maxEventChars?: number;
}

/** Default bound on one event's size, in characters. */
export const DEFAULT_MAX_EVENT_CHARS = 256 * 1024 * 1024;

/** Thrown when an event grows past `maxEventChars`. */
export class SseEventTooLargeError extends Error {
  constructor(readonly maxEventChars: number) {
    super(`A server-sent event grew past ${maxEventChars} characters`);
    this.name = 'SseEventTooLargeError';
  }
}

export class SseParser {
  readonly #maxEventChars: number;
  /** Text of the line being received (no line end in it yet), in the pieces it came in. */
  #pending: string[] = [];
  #pendingChars = 0;
  /** The previous chunk ended in `\r`: a `\n` starting the next one belongs to that line end. */
  #skipLeadingLineFeed = false;
  #eventName = '';
  #dataLines: string[] = [];
  #dataChars = 0;
  #hasData = false;
  #lastId: string | null = null;
  #firstLine = true;

  constructor(options: SseParserOptions = {}) {
    this.#maxEventChars = options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
  }

  /** Feeds decoded text; returns the events completed by it, in order. */
  push(text: string): ServerSentEvent[] {
    const events: ServerSentEvent[] = [];
    let start = 0;
    if (this.#skipLeadingLineFeed && text.startsWith('\n')) start = 1;
    this.#skipLeadingLineFeed = false;
    const lineEnds = /[\r\n]/g;
    for (;;) {
      lineEnds.lastIndex = start;
      const match = lineEnds.exec(text);
      if (match === null) {
        if (start < text.length) {
          this.#pending.push(text.slice(start));
          this.#pendingChars += text.length - start;
        }
        break;
      }
      const end = match.index;
      const head = this.#pending.length === 0 ? '' : this.#pending.join('');
      this.#pending = [];
      this.#pendingChars = 0;
      this.#line(head + text.slice(start, end), events);
      if (text[end] === '\r') {
        if (end + 1 === text.length) {
          this.#skipLeadingLineFeed = true;
          break;
        }
        start = text[end + 1] === '\n' ? end + 2 : end + 1;
      } else {
        start = end + 1;
      }
    }
    if (this.#pendingChars + this.#dataChars > this.#maxEventChars)
      throw new SseEventTooLargeError(this.#maxEventChars);
    return events;
  }

  /**
   * The stream ended. Per the format, an event not terminated by a blank line is discarded; the
   * return value says whether anything was left unfinished.
   */
  end(): { incomplete: boolean } {
    const incomplete = this.#pendingChars > 0 || this.#hasData || this.#eventName !== '';
    this.#pending = [];
    this.#pendingChars = 0;
    this.#reset();
    return { incomplete };
  }

  #line(rawLine: string, events: ServerSentEvent[]): void {
    let line = rawLine;
    // A byte order mark may open the stream; it is not part of the first field name.
    if (this.#firstLine) {
      this.#firstLine = false;
      if (line.startsWith('\uFEFF')) line = line.slice(1);
    }
    if (line === '') {
      if (this.#hasData) {
        events.push({
          event: this.#eventName === '' ? 'message' : this.#eventName,
          data: this.#dataLines.join('\n'),
          id: this.#lastId,
        });
      }
      this.#reset();
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#eventName = value;
        break;
      case 'data':
        this.#dataLines.push(value);
        this.#dataChars += value.length + 1;
        this.#hasData = true;
        if (this.#dataChars > this.#maxEventChars) throw new SseEventTooLargeError(this.#maxEventChars);
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastId = value;
        break;
      default:
        // `retry:` and unknown fields: nothing to do for a one-shot stream.
        break;
    }
  }

  #reset(): void {
    this.#eventName = '';
    this.#dataLines = [];
    this.#dataChars = 0;
    this.#hasData = false;
  }
}
