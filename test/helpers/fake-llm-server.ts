import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Test fixture: a scripted LLM API on 127.0.0.1 (port 0) over real HTTP, for the `llm` generator
 * and the pipeline. It speaks
 * - the OpenAI Chat Completions API: `POST /v1/chat/completions`, non-streaming (`choices[0].message.content`,
 *   `usage`) and streaming (`stream: true` → SSE `data: {chunk}` lines with `choices[0].delta.content`
 *   split into several chunks, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`),
 *   and `GET /v1/models`;
 * - the Anthropic Messages API: `POST /v1/messages`, non-streaming and streaming (SSE events
 *   `message_start`, `content_block_start`, `content_block_delta`, `content_block_stop`,
 *   `message_delta`, `message_stop`).
 *
 * Each completion takes the next reply of a queue ({@link FakeReply}): a string (the answer text),
 * a {@link FakeReplySpec} (an HTTP error, a delay, explicit chunks, a dropped connection), or a
 * function of the request returning either. Every request is recorded ({@link FakeLlmRequest}).
 * With the queue empty the server answers 500 `no reply queued` (and records it), so a test that
 * expected fewer calls fails loudly; {@link FakeLlmServer.assertConsumed} checks that every queued
 * reply was used. Pair `startFakeLlmServer()` with `close()` in `afterAll`/`finally`.
 *
 * @example
 * const llm = await startFakeLlmServer({ replies: ['```python\nprint(1)\n```'] });
 * const config = loadConfig({ env: {}, overrides: { llm: { baseUrl: llm.baseUrl, model: 'fake-model' } } });
 * // … run the generator or a task …
 * expect(llm.requests[0]?.prompt).toContain('objective text');
 * llm.assertConsumed();
 * await llm.close();
 */
export interface FakeLlmServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>/v1`: the `baseUrl` of every provider (`llm.baseUrl`). */
  readonly baseUrl: string;
  /** Every request received, in order (completions, models, unknown routes). */
  readonly requests: FakeLlmRequest[];
  /** Adds replies to the end of the queue. */
  enqueue(...replies: FakeReply[]): void;
  /** Replies still queued. */
  pending(): number;
  /** Throws when replies are still queued, or when a completion arrived with none left. */
  assertConsumed(): void;
  /** Completion requests only (`/v1/chat/completions`, `/v1/messages`). */
  completions(): FakeLlmRequest[];
  /** Stops the server, dropping open connections and pending delays. Idempotent. */
  close(): Promise<void>;
}

/** One recorded request. */
export interface FakeLlmRequest {
  /** Which API the route belongs to. */
  api: 'openai-chat' | 'openai-models' | 'anthropic-messages' | 'unknown';
  method: string;
  /** Path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (null without a body, the raw text when it is not JSON). */
  body: unknown;
  /** `body.stream === true`. */
  stream: boolean;
  /** `body.model`, when a string. */
  model: string | null;
  /** The text of every message (Anthropic `system` first), joined with blank lines: for `toContain` asserts. */
  prompt: string;
  /** The messages as `{role, content}` with text content (Anthropic `system` as the first, role `system`). */
  messages: { role: string; content: string }[];
  /** The API key the request carried (`Authorization: Bearer …` or `x-api-key`), or null. */
  apiKey: string | null;
}

/** A scripted reply: an answer, an HTTP error, a slow answer or a dropped connection. */
export interface FakeReplySpec {
  /** The answer text. @default '' */
  text?: string;
  /** Answer this HTTP status instead of a completion (with `body`, or the API's error shape). @default 200 */
  status?: number;
  /** Body of an error answer (JSON when not a string). @default the API's `{error: {…}}` shape */
  body?: unknown;
  /** Extra response headers (`retry-after`, …). @default {} */
  headers?: Record<string, string>;
  /** Wait this long before answering (or before the first chunk): for timeouts. @default 0 */
  delayMs?: number;
  /** Streaming: wait this long between chunks. @default 0 */
  chunkDelayMs?: number;
  /** Streaming: the exact chunks to send. @default the text cut in 4 pieces */
  chunks?: string[];
  /** Token usage to report. @default from the lengths: prompt chars / 4, answer chars / 4 */
  usage?: { inputTokens: number; outputTokens: number };
  /** Destroy the socket without answering (a crashed server). @default false */
  destroy?: boolean;
  /** `finish_reason` / `stop_reason` to report. @default `stop` / `end_turn` */
  finishReason?: string;
}

/** A function reply sees the request (to answer from the prompt, or to assert on it). */
export type FakeReplyFunction = (
  request: FakeLlmRequest,
) => string | FakeReplySpec | Promise<string | FakeReplySpec>;

export type FakeReply = string | FakeReplySpec | FakeReplyFunction;

/** Options of {@link startFakeLlmServer}. */
export interface FakeLlmServerOptions {
  /** The initial queue. @default [] */
  replies?: FakeReply[];
  /** When set, completions without this key (bearer or `x-api-key`) get a 401 and consume no reply. @default undefined */
  requireApiKey?: string;
  /** Model ids `GET /v1/models` lists. @default ['fake-model'] */
  models?: string[];
}

/** Largest request body read, bytes. */
const MAX_BODY_BYTES = 16 * 1_048_576;

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) =>
        typeof part === 'object' && part !== null && 'text' in part && typeof part.text === 'string'
          ? part.text
          : '',
      )
      .join('');
  }
  return '';
}

function describeRequest(req: IncomingMessage, path: string, raw: string): FakeLlmRequest {
  let body: unknown = null;
  if (raw !== '') {
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
  }
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const api: FakeLlmRequest['api'] =
    path === '/v1/chat/completions'
      ? 'openai-chat'
      : path === '/v1/messages'
        ? 'anthropic-messages'
        : path === '/v1/models'
          ? 'openai-models'
          : 'unknown';
  const messages: { role: string; content: string }[] = [];
  if (api === 'anthropic-messages' && fields.system !== undefined) {
    messages.push({ role: 'system', content: textOf(fields.system) });
  }
  if (Array.isArray(fields.messages)) {
    for (const message of fields.messages as unknown[]) {
      if (typeof message !== 'object' || message === null) continue;
      const { role, content } = message as { role?: unknown; content?: unknown };
      messages.push({ role: typeof role === 'string' ? role : '?', content: textOf(content) });
    }
  }
  const authorization = req.headers.authorization;
  const xApiKey = req.headers['x-api-key'];
  const apiKey =
    typeof authorization === 'string' && authorization.startsWith('Bearer ')
      ? authorization.slice('Bearer '.length)
      : typeof xApiKey === 'string'
        ? xApiKey
        : null;
  return {
    api,
    method: req.method ?? 'GET',
    path,
    headers: req.headers,
    body,
    stream: fields.stream === true,
    model: typeof fields.model === 'string' ? fields.model : null,
    prompt: messages.map((message) => message.content).join('\n\n'),
    messages,
    apiKey,
  };
}

function splitChunks(text: string): string[] {
  if (text.length <= 1) return [text];
  const size = Math.ceil(text.length / 4);
  const chunks: string[] = [];
  for (let index = 0; index < text.length; index += size) chunks.push(text.slice(index, index + size));
  return chunks;
}

function estimateUsage(request: FakeLlmRequest, text: string): { inputTokens: number; outputTokens: number } {
  return { inputTokens: Math.ceil(request.prompt.length / 4), outputTokens: Math.ceil(text.length / 4) };
}

/** Starts the fake server on 127.0.0.1 with a free port. */
export async function startFakeLlmServer(options: FakeLlmServerOptions = {}): Promise<FakeLlmServer> {
  const queue: FakeReply[] = [...(options.replies ?? [])];
  const requests: FakeLlmRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let starved = 0;
  let closed = false;
  let sequence = 0;

  const sleep = (ms: number, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      if (ms <= 0) {
        resolve(!res.destroyed);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(!res.destroyed);
      }, ms);
      timers.add(timer);
      res.once('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve(false);
      });
    });

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const errorBody = (api: FakeLlmRequest['api'], status: number, message: string): unknown =>
    api === 'anthropic-messages'
      ? { type: 'error', error: { type: status === 401 ? 'authentication_error' : 'api_error', message } }
      : { error: { message, type: status === 401 ? 'invalid_request_error' : 'server_error', code: null } };

  async function answerOpenAi(
    req: FakeLlmRequest,
    spec: FakeReplySpec,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    const text = spec.text ?? '';
    const usage = spec.usage ?? estimateUsage(req, text);
    const model = req.model ?? 'fake-model';
    const created = Math.floor(Date.now() / 1000);
    const usageBody = {
      prompt_tokens: usage.inputTokens,
      completion_tokens: usage.outputTokens,
      total_tokens: usage.inputTokens + usage.outputTokens,
    };
    if (!req.stream) {
      sendJson(
        res,
        200,
        {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: text },
              finish_reason: spec.finishReason ?? 'stop',
            },
          ],
          usage: usageBody,
        },
        spec.headers,
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...spec.headers });
    const base = { id, object: 'chat.completion.chunk', created, model };
    const write = (payload: unknown): void => {
      res.write(`data: ${JSON.stringify(payload)}\n\n`);
    };
    write({
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    });
    for (const chunk of spec.chunks ?? splitChunks(text)) {
      if (!(await sleep(spec.chunkDelayMs ?? 0, res))) return;
      write({ ...base, choices: [{ index: 0, delta: { content: chunk }, finish_reason: null }] });
    }
    write({ ...base, choices: [{ index: 0, delta: {}, finish_reason: spec.finishReason ?? 'stop' }] });
    const body = req.body as { stream_options?: { include_usage?: unknown } } | null;
    if (body?.stream_options?.include_usage === true) write({ ...base, choices: [], usage: usageBody });
    res.end('data: [DONE]\n\n');
  }

  async function answerAnthropic(
    req: FakeLlmRequest,
    spec: FakeReplySpec,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    const text = spec.text ?? '';
    const usage = spec.usage ?? estimateUsage(req, text);
    const model = req.model ?? 'fake-model';
    const stopReason = spec.finishReason ?? 'end_turn';
    if (!req.stream) {
      sendJson(
        res,
        200,
        {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [{ type: 'text', text }],
          stop_reason: stopReason,
          stop_sequence: null,
          usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
        },
        spec.headers,
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...spec.headers });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.inputTokens, output_tokens: 1 },
      },
    });
    send('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    for (const chunk of spec.chunks ?? splitChunks(text)) {
      if (!(await sleep(spec.chunkDelayMs ?? 0, res))) return;
      send('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: chunk },
      });
    }
    send('content_block_stop', { type: 'content_block_stop', index: 0 });
    send('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.outputTokens },
    });
    send('message_stop', { type: 'message_stop' });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        sendJson(res, 413, { error: { message: 'request body too large' } });
        return;
      }
      chunks.push(chunk);
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const request = describeRequest(req, path, Buffer.concat(chunks).toString('utf8'));
    requests.push(request);

    if (request.api === 'openai-models' && req.method === 'GET') {
      sendJson(res, 200, {
        object: 'list',
        data: (options.models ?? ['fake-model']).map((id) => ({
          id,
          object: 'model',
          created: 0,
          owned_by: 'fake',
        })),
      });
      return;
    }
    if ((request.api !== 'openai-chat' && request.api !== 'anthropic-messages') || req.method !== 'POST') {
      sendJson(res, 404, { error: { message: `fake LLM server: no route ${req.method ?? ''} ${path}` } });
      return;
    }
    if (options.requireApiKey !== undefined && request.apiKey !== options.requireApiKey) {
      sendJson(res, 401, errorBody(request.api, 401, 'fake LLM server: invalid API key'));
      return;
    }
    const next = queue.shift();
    if (next === undefined) {
      starved += 1;
      sendJson(res, 500, errorBody(request.api, 500, 'fake LLM server: no reply queued'));
      return;
    }
    const resolved = typeof next === 'function' ? await next(request) : next;
    const spec: FakeReplySpec = typeof resolved === 'string' ? { text: resolved } : resolved;
    if (!(await sleep(spec.delayMs ?? 0, res))) return;
    if (spec.destroy) {
      req.socket.destroy();
      return;
    }
    if (spec.status !== undefined && spec.status !== 200) {
      sendJson(
        res,
        spec.status,
        spec.body ??
          errorBody(request.api, spec.status, `fake LLM server: scripted HTTP ${String(spec.status)}`),
        spec.headers,
      );
      return;
    }
    sequence += 1;
    if (request.api === 'openai-chat')
      await answerOpenAi(request, spec, res, `chatcmpl-fake-${String(sequence)}`);
    else await answerAnthropic(request, spec, res, `msg_fake_${String(sequence)}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake LLM server: ${String(error)}` } });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${String(port)}`;

  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    enqueue(...replies) {
      queue.push(...replies);
    },
    pending: () => queue.length,
    completions: () => requests.filter((r) => r.api === 'openai-chat' || r.api === 'anthropic-messages'),
    assertConsumed() {
      if (queue.length > 0 || starved > 0) {
        throw new Error(
          `fake LLM server: ${String(queue.length)} scripted replies unused, ${String(starved)} completions arrived with none left`,
        );
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
