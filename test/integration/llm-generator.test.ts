import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config, type ConfigInput } from '../../src/config/index.js';
import { isVivariumError, type VivariumError } from '../../src/errors/index.js';
import {
  createGenerator,
  createLlmGenerator,
  ScriptedGenerator,
  type ErrorChainEntry,
  type GenerationRequest,
  type ModelCall,
} from '../../src/llm/index.js';
import { startFakeLlmServer, type FakeLlmServer } from '../helpers/fake-llm-server.js';

const API_KEY = 'sk-test-secret-4f1d9c';
const PLUGINS_DIR = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));
const ANSWER = 'I load the file and average the prices.\n\n```python\nimport pandas as pd\nprint(42)\n```\n';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function configWith(llm: NonNullable<ConfigInput['llm']>): Config {
  const cwd = mkdtempSync(join(tmpdir(), 'vivarium-llm-test-'));
  dirs.push(cwd);
  return loadConfig({ env: {}, cwd, overrides: { llm } });
}

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    objective: 'Compute the mean price per region of sales.csv.',
    expectedResults: ['mean_price'],
    context: 'Prices are in EUR and exclude VAT.',
    variables: [{ name: 'threshold', type: 'int', summary: '100' }],
    files: [
      {
        path: 'sales.csv',
        sizeBytes: 2048,
        description: {
          kind: 'csv',
          format: 'csv',
          delimiter: ',',
          encoding: 'utf-8',
          columnCount: 2,
          columns: [
            { name: 'region', dtype: 'object' },
            { name: 'price', dtype: 'float64' },
          ],
          firstRows: [['north', '9.5']],
          rowCount: 120,
          rowCountExact: true,
        },
      },
    ],
    packages: ['numpy', 'pandas', 'scipy'],
    mode: 'read_only',
    attempt: 1,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>, code = 'GENERATION_FAILED'): Promise<VivariumError> {
  try {
    await promise;
  } catch (error) {
    if (isVivariumError(error) && error.code === code) return error;
    throw error;
  }
  throw new Error(`expected ${code}`);
}

function callsOf(error: VivariumError): ModelCall[] {
  return error.details.calls as ModelCall[];
}

let llm: FakeLlmServer;
beforeEach(async () => {
  llm = await startFakeLlmServer();
});
afterEach(async () => {
  await llm.close();
});

describe('llm generator, openai-compatible provider', () => {
  it('generates without streaming: code, notes, usage and the recorded call', async () => {
    llm.enqueue({ text: ANSWER, usage: { inputTokens: 321, outputTokens: 12 } });
    const generator = await createLlmGenerator({
      llm: configWith({
        baseUrl: llm.baseUrl,
        model: 'qwen-test',
        stream: false,
        temperature: 0.1,
        maxTokens: 777,
      }).llm,
    });
    expect(generator.name).toBe('llm');
    const before = Date.now();
    const result = await generator.generate(request(), []);
    expect(result.code).toBe('import pandas as pd\nprint(42)');
    expect(result.notes).toBe('I load the file and average the prices.');
    expect(result.usage).toEqual({ inputTokens: 321, outputTokens: 12, totalTokens: 333 });

    const [call] = result.calls;
    expect(result.calls).toHaveLength(1);
    expect(call).toMatchObject({
      purpose: 'generate',
      generator: 'llm',
      provider: 'openai-compatible',
      model: 'qwen-test',
      response: ANSWER,
      usage: { inputTokens: 321, outputTokens: 12, totalTokens: 333 },
      error: null,
    });
    expect(Date.parse(call!.startedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(call!.latencyMs).toBeGreaterThanOrEqual(0);

    const [sent] = llm.completions();
    expect(sent!.path).toBe('/v1/chat/completions');
    expect(sent!.stream).toBe(false);
    expect(sent!.body).toMatchObject({ model: 'qwen-test', temperature: 0.1, max_tokens: 777 });
    // The recorded messages are the ones sent, in order and in full.
    expect(sent!.messages).toEqual(call!.messages);
    expect(call!.messages.map((message) => message.role)).toEqual(['system', 'user']);
    expect(sent!.apiKey).toBeNull();
    llm.assertConsumed();
  });

  it('streams: deltas arrive through onTextDelta, usage comes from the usage chunk', async () => {
    const chunks = ['Here:\n```py', 'thon\nfor i in ', 'range(3):\n    print(i)\n', '```'];
    llm.enqueue({ chunks, usage: { inputTokens: 50, outputTokens: 20 } });
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'qwen-test', apiKey: API_KEY }).llm,
    });
    const deltas: string[] = [];
    const result = await generator.generate(request({ onTextDelta: (text) => deltas.push(text) }), []);
    expect(deltas.join('')).toBe(chunks.join(''));
    expect(deltas.length).toBeGreaterThanOrEqual(chunks.length);
    expect(result.code).toBe('for i in range(3):\n    print(i)');
    expect(result.notes).toBe('Here:');
    expect(result.usage).toEqual({ inputTokens: 50, outputTokens: 20, totalTokens: 70 });
    expect(result.calls[0]!.response).toBe(chunks.join(''));

    const [sent] = llm.completions();
    expect(sent!.stream).toBe(true);
    expect(sent!.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(sent!.apiKey).toBe(API_KEY);
    expect(JSON.stringify(result)).not.toContain(API_KEY);
  });

  it('puts the whole task in the prompt: objective, results, context, variables, files, packages, mode', async () => {
    llm.enqueue(ANSWER);
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', stream: false }).llm,
    });
    await generator.generate(request(), []);
    const prompt = llm.completions()[0]!.prompt;
    expect(prompt).toContain('Compute the mean price per region of sales.csv.');
    expect(prompt).toContain('"mean_price": ...,');
    expect(prompt).toContain('Prices are in EUR and exclude VAT.');
    expect(prompt).toContain('- `threshold`: int — 100');
    expect(prompt).toContain('- `sales.csv` (2.0 KB): CSV, 120 rows, 2 columns');
    expect(prompt).toContain('columns: region (object), price (float64)');
    expect(prompt).toContain('numpy, pandas, scipy');
    expect(prompt).toMatch(/workspace is read-only/);
    expect(prompt).toContain('/workspace');
  });

  it('sends the error chain, with the escalation for a repeated error, when repairing', async () => {
    llm.enqueue('```python\nprint(df.columns)\n```');
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', stream: false }).llm,
    });
    const failed = (attempt: number, repeats: number): ErrorChainEntry => ({
      attempt,
      stage: 'execution',
      code: `df = pd.read_csv("sales.csv")\nprint(df["prise"].mean())  # try ${String(attempt)}`,
      error: {
        ename: 'KeyError',
        evalue: "'prise'",
        traceback: ['Traceback (most recent call last):', '  File "<cell-3>", line 2', "KeyError: 'prise'"],
      },
      repeats,
    });
    const result = await generator.generate(request({ attempt: 3 }), [failed(1, 0), failed(2, 1)]);
    expect(result.code).toBe('print(df.columns)');
    const prompt = llm.completions()[0]!.prompt;
    expect(prompt).toContain('### Attempt 1: raised an error when it ran');
    expect(prompt).toContain('print(df["prise"].mean())  # try 2');
    expect(prompt).toContain("Error: KeyError: 'prise'");
    expect(prompt).toContain('File "<cell-3>", line 2');
    expect(prompt).toContain('The same error happened 2 times: take a different approach, do not repeat the');
  });
});

describe('llm generator failures', () => {
  it('turns HTTP 500 into GENERATION_FAILED with the call recorded, and keeps the key out', async () => {
    llm.enqueue({ status: 500, body: { error: { message: `upstream exploded (key ${API_KEY})` } } });
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', apiKey: API_KEY, maxRetries: 0 }).llm,
    });
    const error = await failure(generator.generate(request(), []));
    expect(error.message).toMatch(
      /openai-compatible model `m` failed: HTTP 500 from http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/,
    );
    expect(error.details.statusCode).toBe(500);
    const calls = callsOf(error);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      purpose: 'generate',
      response: '',
      provider: 'openai-compatible',
      model: 'm',
    });
    expect(calls[0]!.error).toMatch(/HTTP 500/);
    expect(calls[0]!.messages.length).toBe(2);
    expect(JSON.stringify(error.details)).not.toContain(API_KEY);
    expect(error.message).not.toContain(API_KEY);
    expect(JSON.stringify(error.details)).toContain('[redacted]');
    llm.assertConsumed();
  });

  it('retries a transient failure and records both calls', async () => {
    llm.enqueue({ status: 503, headers: { 'retry-after': '0' } }, ANSWER);
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', maxRetries: 2, stream: false }).llm,
    });
    const result = await generator.generate(request(), []);
    expect(result.code).toBe('import pandas as pd\nprint(42)');
    expect(result.calls.map((call) => call.error === null)).toEqual([false, true]);
    expect(result.calls[0]!.error).toMatch(/HTTP 503/);
    llm.assertConsumed();
  });

  it('does not retry a client error (HTTP 400)', async () => {
    llm.enqueue({ status: 400 });
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', maxRetries: 3, stream: false }).llm,
    });
    const error = await failure(generator.generate(request(), []));
    expect(callsOf(error)).toHaveLength(1);
    expect(error.details.statusCode).toBe(400);
  });

  it.each([false, true])('times out after llm.timeoutMs (stream %s)', async (stream) => {
    llm.enqueue(
      stream
        ? { chunks: ['```python\n', 'print(1)', '\n```'], chunkDelayMs: 2000 }
        : { text: ANSWER, delayMs: 5000 },
    );
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', timeoutMs: 300, stream, maxRetries: 2 }).llm,
    });
    const started = Date.now();
    const error = await failure(generator.generate(request(), []));
    expect(Date.now() - started).toBeLessThan(1900);
    expect(error.message).toMatch(/no complete answer within 300 ms \(llm\.timeoutMs\)/);
    const calls = callsOf(error);
    expect(calls).toHaveLength(1); // timeouts are not retried
    expect(calls[0]!.error).toMatch(/within 300 ms/);
    expect(calls[0]!.latencyMs).toBeGreaterThanOrEqual(250);
  });

  it('reports a refused connection', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
      });
    });
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: `http://127.0.0.1:${String(port)}/v1`, model: 'm', maxRetries: 0 }).llm,
    });
    const error = await failure(generator.generate(request(), []));
    expect(error.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
    expect(callsOf(error)[0]!.error).toMatch(/cannot reach/);
  });

  it('reports a dropped connection, and retries it', async () => {
    llm.enqueue({ destroy: true });
    const once = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', maxRetries: 0, stream: false }).llm,
    });
    const error = await failure(once.generate(request(), []));
    expect(error.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
    llm.enqueue({ destroy: true }, ANSWER);
    const retrying = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', maxRetries: 1 }).llm,
    });
    const result = await retrying.generate(request(), []);
    expect(result.calls.map((call) => call.error === null)).toEqual([false, true]);
    llm.assertConsumed();
  });

  it('refuses an empty answer and an answer without code', async () => {
    llm.enqueue('', 'I am sorry, I cannot do that.');
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', stream: false }).llm,
    });
    const empty = await failure(generator.generate(request(), []));
    expect(empty.message).toMatch(/answered with no text \(finish reason: stop\)/);
    expect(callsOf(empty)[0]!.error).toMatch(/no text/);
    const prose = await failure(generator.generate(request(), []));
    expect(prose.message).toMatch(/holds no Python code/);
    expect(callsOf(prose)[0]).toMatchObject({ response: 'I am sorry, I cannot do that.', error: null });
  });

  it('stops with ABORTED when the caller aborts', async () => {
    llm.enqueue({ text: ANSWER, delayMs: 5000 });
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', stream: false }).llm,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(generator.generate(request({ signal: controller.signal }), []), 'ABORTED');
    expect(callsOf(error)[0]!.error).toBe('aborted by the caller');
  });
});

describe('llm generator, openai and anthropic providers', () => {
  it('openai: Chat Completions at baseUrl with the bearer key', async () => {
    const server = await startFakeLlmServer({ requireApiKey: API_KEY, replies: [ANSWER] });
    try {
      const generator = await createLlmGenerator({
        llm: configWith({ provider: 'openai', baseUrl: server.baseUrl, model: 'gpt-test', apiKey: API_KEY })
          .llm,
      });
      const result = await generator.generate(request(), []);
      expect(result.code).toBe('import pandas as pd\nprint(42)');
      expect(result.calls[0]).toMatchObject({ provider: 'openai', model: 'gpt-test' });
      const [sent] = server.completions();
      expect(sent!.path).toBe('/v1/chat/completions');
      expect(sent!.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(sent!.model).toBe('gpt-test');
      expect(JSON.stringify(result)).not.toContain(API_KEY);
      server.assertConsumed();
    } finally {
      await server.close();
    }
  });

  it('openai: a wrong key is a 401 GENERATION_FAILED', async () => {
    const server = await startFakeLlmServer({ requireApiKey: 'the-right-key' });
    try {
      const generator = await createLlmGenerator({
        llm: configWith({ provider: 'openai', baseUrl: server.baseUrl, model: 'gpt-test', apiKey: API_KEY })
          .llm,
      });
      const error = await failure(generator.generate(request(), []));
      expect(error.details.statusCode).toBe(401);
      expect(callsOf(error)).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it.each([false, true])('anthropic: Messages API with x-api-key (stream %s)', async (stream) => {
    const server = await startFakeLlmServer({
      requireApiKey: API_KEY,
      replies: [{ text: ANSWER, usage: { inputTokens: 90, outputTokens: 9 } }],
    });
    try {
      const generator = await createLlmGenerator({
        llm: configWith({
          provider: 'anthropic',
          baseUrl: server.baseUrl,
          model: 'claude-sonnet-4-5',
          apiKey: API_KEY,
          stream,
        }).llm,
      });
      const deltas: string[] = [];
      const result = await generator.generate(request({ onTextDelta: (text) => deltas.push(text) }), []);
      expect(result.code).toBe('import pandas as pd\nprint(42)');
      expect(result.usage).toEqual({ inputTokens: 90, outputTokens: 9, totalTokens: 99 });
      expect(result.calls[0]).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5' });
      if (stream) expect(deltas.join('')).toBe(ANSWER);
      else expect(deltas).toEqual([]);
      const [sent] = server.completions();
      expect(sent!.path).toBe('/v1/messages');
      expect(sent!.headers['x-api-key']).toBe(API_KEY);
      expect(sent!.body).toMatchObject({ model: 'claude-sonnet-4-5', temperature: 0.2, max_tokens: 4096 });
      expect(sent!.stream).toBe(stream);
      expect(sent!.messages[0]!.role).toBe('system');
      expect(sent!.prompt).toContain('Compute the mean price per region');
      expect(JSON.stringify(result)).not.toContain(API_KEY);
      server.assertConsumed();
    } finally {
      await server.close();
    }
  });
});

describe('fake LLM server', () => {
  it('lists models, answers 404 on unknown routes and 500 when its queue is empty', async () => {
    const models = await fetch(`${llm.baseUrl}/models`);
    expect(await models.json()).toMatchObject({ object: 'list', data: [{ id: 'fake-model' }] });
    expect((await fetch(`${llm.baseUrl}/embeddings`, { method: 'POST', body: '{}' })).status).toBe(404);
    const starved = await fetch(`${llm.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(starved.status).toBe(500);
    expect(() => llm.assertConsumed()).toThrow(/1 completions arrived with none left/);
    expect(llm.requests.map((r) => r.api)).toEqual(['openai-models', 'unknown', 'openai-chat']);
  });

  it('answers from a function of the request', async () => {
    llm.enqueue((req) => `\`\`\`python\nprint(${JSON.stringify(req.model)})\n\`\`\``);
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'echo-model' }).llm,
    });
    expect((await generator.generate(request(), [])).code).toBe('print("echo-model")');
  });
});

describe('llm generator verify()', () => {
  it('reads the verdict JSON from a fenced answer with prose', async () => {
    llm.enqueue(
      'Looking at it:\n```json\n{"adequate": false, "reason": "The mean ignores region.", "suggestion": "Group by region first."}\n```',
    );
    const generator = await createLlmGenerator({ llm: configWith({ baseUrl: llm.baseUrl, model: 'm' }).llm });
    const verdict = await generator.verify({
      objective: 'Mean price per region',
      code: 'results = {"mean_price": df.price.mean()}',
      stdout: '9.5',
      results: { mean_price: 9.5 },
    });
    expect(verdict).toMatchObject({
      adequate: false,
      reason: 'The mean ignores region.',
      suggestion: 'Group by region first.',
    });
    expect(verdict.calls[0]!.purpose).toBe('verify');
    const prompt = llm.completions()[0]!.prompt;
    expect(prompt).toContain('Mean price per region');
    expect(prompt).toContain('"mean_price": 9.5');
    expect(prompt).toContain('"adequate"');
  });

  it('accepts a bare verdict with a string flag, and treats an unreadable one as adequate, saying so', async () => {
    llm.enqueue('{"adequate": "true", "reason": "Fine."}', 'Looks good to me!');
    const generator = await createLlmGenerator({
      llm: configWith({ baseUrl: llm.baseUrl, model: 'm', stream: false }).llm,
    });
    const input = { objective: 'x', code: 'print(1)', stdout: '1', results: {} };
    expect(await generator.verify(input)).toMatchObject({
      adequate: true,
      reason: 'Fine.',
      suggestion: null,
    });
    const unreadable = await generator.verify(input);
    expect(unreadable.adequate).toBe(true);
    expect(unreadable.reason).toMatch(/no readable .* JSON; the run is accepted unverified/);
    expect(unreadable.calls[0]!.response).toBe('Looks good to me!');
  });
});

describe('scripted generator', () => {
  it('returns its codes in order, records each step, then fails when exhausted', async () => {
    const generator = new ScriptedGenerator(['print(1)', 'Fixed:\n```python\nprint(2)\n```']);
    const deltas: string[] = [];
    const first = await generator.generate(request({ onTextDelta: (text) => deltas.push(text) }), []);
    expect(first.code).toBe('print(1)');
    expect(first.calls[0]).toMatchObject({
      purpose: 'generate',
      generator: 'scripted',
      provider: null,
      model: null,
      response: 'print(1)',
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
      error: null,
    });
    expect(first.calls[0]!.messages[1]!.content).toContain('Compute the mean price per region');
    expect(deltas).toEqual(['print(1)']);
    const chain: ErrorChainEntry[] = [
      {
        attempt: 1,
        stage: 'execution',
        code: 'print(1)',
        error: { ename: 'ValueError', evalue: 'bad', traceback: [] },
        repeats: 0,
      },
    ];
    const second = await generator.generate(request({ attempt: 2 }), chain);
    expect(second).toMatchObject({ code: 'print(2)', notes: 'Fixed:' });
    expect(second.calls[0]!.messages[1]!.content).toContain('Error: ValueError: bad');
    expect(generator.remaining).toBe(0);
    const error = await failure(generator.generate(request({ attempt: 3 }), chain));
    expect(error.message).toBe('The scripted generator has no more code: 2 given');
    expect(callsOf(error)[0]!.error).toMatch(/no more code/);
  });
});

describe('createGenerator', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = PLUGINS_DIR;
  });

  it('gives no generator when nothing is configured, `llm` when a model is', async () => {
    expect(await createGenerator(configWith({}))).toBeNull();
    const generator = await createGenerator(configWith({ baseUrl: llm.baseUrl, model: 'm' }));
    expect(generator?.name).toBe('llm');
  });

  it('builds `scripted` from llm.scripted', async () => {
    const generator = await createGenerator(configWith({ generator: 'scripted', scripted: ['x = 1'] }));
    expect(generator?.name).toBe('scripted');
    expect((await generator!.generate(request(), [])).code).toBe('x = 1');
  });

  it('refuses an unknown name, listing the known ones', async () => {
    const error = await failure(createGenerator(configWith({ generator: 'gpt' })), 'CONFIG_INVALID');
    expect(error.message).toMatch(
      /Unknown generator `gpt` \(llm\.generator\): known generators are `llm`, `scripted`/,
    );
  });

  it('refuses a missing model, a missing base URL, a missing key and a missing provider package', async () => {
    expect(
      (await failure(createGenerator(configWith({ generator: 'llm' })), 'CONFIG_INVALID')).message,
    ).toMatch(/needs a model: set `llm\.model` \(or VIVARIUM_LLM_MODEL\)/);
    expect((await failure(createGenerator(configWith({ model: 'm' })), 'CONFIG_INVALID')).message).toMatch(
      /needs the server’s URL: set `llm\.baseUrl`/,
    );
    expect(
      (
        await failure(
          createLlmGenerator({ llm: configWith({ provider: 'anthropic', model: 'c' }).llm, env: {} }),
          'CONFIG_INVALID',
        )
      ).message,
    ).toMatch(/needs an API key: set `llm\.apiKey` \(VIVARIUM_LLM_API_KEY\) or ANTHROPIC_API_KEY/);
    const missing = await failure(
      createLlmGenerator({
        llm: configWith({ provider: 'anthropic', model: 'c', apiKey: API_KEY }).llm,
        importModule: (specifier) =>
          specifier === '@ai-sdk/anthropic'
            ? Promise.reject(
                Object.assign(new Error(`Cannot find package '${specifier}' imported from x`), {
                  code: 'ERR_MODULE_NOT_FOUND',
                }),
              )
            : import(specifier),
      }),
      'CONFIG_INVALID',
    );
    expect(missing.message).toMatch(
      /needs the npm package `@ai-sdk\/anthropic`.*npm install @ai-sdk\/anthropic/,
    );
  });

  it('loads plugins (default export, createGenerator) relative to the cwd and selects one', async () => {
    const config = configWith({
      generator: 'echo',
      model: 'plugin-model',
      plugins: ['./echo-generator.mjs', join(PLUGINS_DIR, 'factory-generator.mjs')],
    });
    const echo = await createGenerator(config, { cwd });
    expect(echo?.name).toBe('echo');
    expect((await echo!.generate(request({ objective: 'hello' }), [])).code).toMatch(/^print\("hello"\)/);
    const factory = await createGenerator(
      { ...config, llm: { ...config.llm, generator: 'factory' } },
      { cwd },
    );
    expect((await factory!.generate(request(), [])).code).toBe("# plugin-model\nprint('made by a factory')");
  });

  it('refuses a bad plugin, naming the module and the problem', async () => {
    const bad = await failure(
      createGenerator(configWith({ plugins: ['./bad-generator.mjs'] }), { cwd }),
      'CONFIG_INVALID',
    );
    expect(bad.message).toBe(
      'Generator plugin `./bad-generator.mjs` (llm.plugins) is not usable: its `generator` export has no `generate(request, errorChain)` method',
    );
    const empty = await failure(
      createGenerator(configWith({ plugins: ['./empty-plugin.mjs'] }), { cwd }),
      'CONFIG_INVALID',
    );
    expect(empty.message).toMatch(/`\.\/empty-plugin\.mjs` \(llm\.plugins\) exports no generator/);
    const absent = await failure(
      createGenerator(configWith({ plugins: ['./nope.mjs'] }), { cwd }),
      'CONFIG_INVALID',
    );
    expect(absent.message).toMatch(/`\.\/nope\.mjs` \(llm\.plugins\) cannot be loaded/);
    const unknownPackage = await failure(
      createGenerator(configWith({ plugins: ['vivarium-no-such-plugin'] }), { cwd }),
      'CONFIG_INVALID',
    );
    expect(unknownPackage.message).toMatch(/`vivarium-no-such-plugin` \(llm\.plugins\) cannot be loaded/);
  });

  it('refuses a plugin that takes a built-in name, and takes generators from a library caller', async () => {
    const clash = await failure(
      createGenerator(configWith({ plugins: ['./echo-generator.mjs'] }), {
        cwd,
        generators: { echo: new ScriptedGenerator([]) },
      }),
      'CONFIG_INVALID',
    );
    expect(clash.message).toMatch(
      /Generator `echo` from plugin `\.\/echo-generator\.mjs` is registered already/,
    );
    const mine = new ScriptedGenerator(['print("mine")'], { promptBuilder: null });
    const generator = await createGenerator(configWith({ generator: 'mine' }), { generators: { mine } });
    expect(generator).toBe(mine);
    expect((await generator!.generate(request(), [])).calls[0]!.messages).toEqual([]);
  });
});
