import type { FastifyReply } from 'fastify';

/** Options of {@link SseStream}. */
export interface SseStreamOptions {
  /** A `: heartbeat` comment this often, so proxies keep the stream open. @default 15_000 */
  heartbeatMs?: number;
}

/** Default interval of SSE heartbeat comments. */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;

/**
 * One Server-Sent Events response: `event: <type>\ndata: <json>\n\n` per event, heartbeats as
 * comments. Opened lazily (`open()`), so errors that come before the first event can still be
 * answered as a normal JSON error. A client that goes away only stops the writing: what the
 * stream reports (an execution) goes on and is stored.
 */
export class SseStream {
  private readonly reply: FastifyReply;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | null = null;
  private opened = false;
  private ended = false;

  constructor(reply: FastifyReply, options: SseStreamOptions = {}) {
    this.reply = reply;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_SSE_HEARTBEAT_MS;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** True once the client went away or `end()` was called. */
  get isClosed(): boolean {
    return this.ended || this.reply.raw.destroyed || this.reply.raw.writableEnded;
  }

  /** Takes the response over from Fastify and writes the SSE headers. Idempotent. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.reply.hijack();
    const raw = this.reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.flushHeaders();
    raw.on('close', () => this.stopHeartbeat());
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Writes one event (opening the stream first if needed). */
  send(event: string, data: unknown): void {
    this.open();
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Calls `listener` once when the client goes away (or at once when it already has). */
  onClose(listener: () => void): void {
    if (this.reply.raw.destroyed) return listener();
    this.reply.raw.once('close', listener);
  }

  /** Ends the response. Idempotent. */
  end(): void {
    this.stopHeartbeat();
    if (this.ended) return;
    this.ended = true;
    // Never opened: the route answers normally (e.g. a JSON error), so the response is not ours to end.
    if (!this.opened) return;
    if (!this.reply.raw.destroyed && !this.reply.raw.writableEnded) this.reply.raw.end();
  }

  private write(chunk: string): void {
    if (this.isClosed) return;
    this.reply.raw.write(chunk);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** True when the request asks for a Server-Sent Events stream. */
export function wantsEventStream(accept: string | undefined): boolean {
  return typeof accept === 'string' && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}
