import { describe, expect, it } from 'vitest';
import { isVivariumError } from '../errors/index.js';
import { encodeFrame, FrameDecoder } from './frame-codec.js';

function header(size: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(size, 0);
  return bytes;
}

function violation(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return null;
}

describe('FrameDecoder', () => {
  it('splits frames across and within chunks', () => {
    const decoder = new FrameDecoder();
    const bytes = Buffer.concat([encodeFrame({ type: 'a' }), encodeFrame({ type: 'b', text: 'ü' })]);
    const out: unknown[] = [];
    for (let index = 0; index < bytes.length; index += 3)
      out.push(...decoder.push(bytes.subarray(index, index + 3)));
    expect(out).toEqual([{ type: 'a' }, { type: 'b', text: 'ü' }]);
  });

  it('refuses a frame over the cap from its header alone', () => {
    const error = violation(() => new FrameDecoder({ maxFrameBytes: 10 }).push(header(11)));
    expect(isVivariumError(error, 'PROTOCOL_VIOLATION')).toBe(true);
  });

  it('refuses a body that is not a JSON object as soon as its first byte arrives', () => {
    // A forged length header followed by the runtime's next frame: caught without waiting for 1000 bytes.
    const forged = Buffer.concat([header(1000), encodeFrame({ type: 'reply' })]);
    expect(
      isVivariumError(
        violation(() => new FrameDecoder().push(forged)),
        'PROTOCOL_VIOLATION',
      ),
    ).toBe(true);
    expect(
      isVivariumError(
        violation(() => new FrameDecoder().push(Buffer.concat([header(2), Buffer.from('[]')]))),
        'PROTOCOL_VIOLATION',
      ),
    ).toBe(true);
    expect(
      isVivariumError(
        violation(() => new FrameDecoder().push(header(0))),
        'PROTOCOL_VIOLATION',
      ),
    ).toBe(true);
    expect(
      isVivariumError(
        violation(() => new FrameDecoder().push(Buffer.concat([header(5), Buffer.from('{oops')]))),
        'PROTOCOL_VIOLATION',
      ),
    ).toBe(true);
  });

  it('waits for the rest of a well-started frame', () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame({ type: 'x' });
    expect(decoder.push(frame.subarray(0, 5))).toEqual([]);
    expect(decoder.push(frame.subarray(5))).toEqual([{ type: 'x' }]);
  });
});
