import { VivariumError } from '../errors/index.js';

/** Bytes of the big-endian length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Largest frame the host accepts from a kernel (a 10 MB PNG in base64 fits). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Encodes one message as a frame: 4-byte big-endian length, then UTF-8 JSON. */
export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** `{`: the first byte of every frame body. */
const OPEN_BRACE = 0x7b;

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted frame body in bytes. @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number;
}

/**
 * Splits a byte stream into frame bodies, parsed as JSON but not yet validated. A frame over the
 * cap or a body that is not a JSON object throws `PROTOCOL_VIOLATION`: the kernel's channel is
 * spoiled and the caller must treat the kernel as dead.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Feeds bytes; returns every complete frame's parsed body in order. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break;
      const head = this.peek(FRAME_HEADER_BYTES);
      const size = head.readUInt32BE(0);
      if (size > this.maxFrameBytes) {
        throw new VivariumError(
          'PROTOCOL_VIOLATION',
          `Kernel sent a frame of ${size} bytes, over the cap of ${this.maxFrameBytes}`,
          { details: { sizeBytes: size, maxFrameBytes: this.maxFrameBytes } },
        );
      }
      // Every frame the runtime sends is a JSON object. Checking the body's first byte as soon as it
      // arrives catches a forged or torn length header at once, instead of swallowing the frames
      // that follow into a body that never completes (the execution would hang until its timeout).
      if (
        size === 0 ||
        (this.buffered > FRAME_HEADER_BYTES &&
          this.peek(FRAME_HEADER_BYTES + 1)[FRAME_HEADER_BYTES] !== OPEN_BRACE)
      ) {
        throw new VivariumError('PROTOCOL_VIOLATION', 'Kernel sent a frame whose body is not a JSON object', {
          details: { sizeBytes: size },
        });
      }
      if (this.buffered < FRAME_HEADER_BYTES + size) break;
      const whole = this.take(FRAME_HEADER_BYTES + size);
      const body = whole.subarray(FRAME_HEADER_BYTES);
      try {
        // Parsed here, validated by the caller's zod schema before any use.
        // eslint-disable-next-line no-restricted-syntax
        out.push(JSON.parse(body.toString('utf8')));
      } catch {
        throw new VivariumError('PROTOCOL_VIOLATION', 'Kernel sent a frame that is not JSON', {
          details: { sizeBytes: size },
        });
      }
    }
    return out;
  }

  private peek(size: number): Buffer {
    if (this.chunks[0]!.length >= size) return this.chunks[0]!.subarray(0, size);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, size);
  }

  private take(size: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const taken = joined.subarray(0, size);
    const rest = joined.subarray(size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }
}
