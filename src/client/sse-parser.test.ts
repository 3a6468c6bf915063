import { describe, expect, it } from 'vitest';
import { SseEventTooLargeError, SseParser, type ServerSentEvent } from './sse-parser.js';

/** Feeds `text` cut into pieces of `size` characters. */
function feed(text: string, size: number, parser = new SseParser()): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  for (let index = 0; index < text.length; index += size)
    events.push(...parser.push(text.slice(index, index + size)));
  return events;
}

const STREAM =
  ': keep-alive\n\n' +
  'event: execution-start\ndata: {"type":"execution-start"}\n\n' +
  'event: stream-delta\ndata: {"text":"a\\nb"}\nid: 7\n\n' +
  'data: first\ndata: second\n\n' +
  'event: execution-end\ndata: {"done":true}\n\n';

const EXPECTED: ServerSentEvent[] = [
  { event: 'execution-start', data: '{"type":"execution-start"}', id: null },
  { event: 'stream-delta', data: '{"text":"a\\nb"}', id: '7' },
  { event: 'message', data: 'first\nsecond', id: '7' },
  { event: 'execution-end', data: '{"done":true}', id: '7' },
];

describe('SseParser', () => {
  it('parses events, comments, multi-line data and ids', () => {
    expect(feed(STREAM, STREAM.length)).toEqual(EXPECTED);
  });

  it('gives the same events whatever the chunking, one character at a time included', () => {
    for (const size of [1, 2, 3, 5, 7, 64]) expect(feed(STREAM, size)).toEqual(EXPECTED);
  });

  it('accepts CRLF and CR line ends, also cut between \\r and \\n', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    const cr = STREAM.replace(/\n/g, '\r');
    for (const size of [1, 2, 3, crlf.length]) {
      expect(feed(crlf, size)).toEqual(EXPECTED);
      expect(feed(cr, size)).toEqual(EXPECTED);
    }
  });

  it('drops a leading byte order mark and `data:` without a space', () => {
    expect(feed('\uFEFFevent: x\ndata:{"a":1}\n\n', 4)).toEqual([{ event: 'x', data: '{"a":1}', id: null }]);
  });

  it('does not dispatch an event without data, nor one cut off by the end of the stream', () => {
    const parser = new SseParser();
    expect(parser.push('event: lonely\n\nevent: cut\ndata: {"partial"')).toEqual([]);
    expect(parser.end()).toEqual({ incomplete: true });
    expect(new SseParser().end()).toEqual({ incomplete: false });
  });

  it('refuses an event larger than maxEventChars, also when it never ends its line', () => {
    expect(() => new SseParser({ maxEventChars: 10 }).push('data: 0123456789abc\n')).toThrow(
      SseEventTooLargeError,
    );
    const parser = new SseParser({ maxEventChars: 10 });
    expect(() => {
      for (let index = 0; index < 5; index += 1) parser.push('data: 0123');
    }).toThrow(SseEventTooLargeError);
  });

  // 32 MiB in 512 chunks: rescanning the pending line on every chunk would not end within the
  // unit project's test timeout.
  it('handles a long line arriving in many chunks', () => {
    const parser = new SseParser();
    const piece = 'x'.repeat(64 * 1024);
    for (let index = 0; index < 512; index += 1) parser.push(index === 0 ? `data: ${piece}` : piece);
    const events = parser.push('\n\n');
    expect(events[0]?.data.length).toBe(512 * piece.length);
  });
});
