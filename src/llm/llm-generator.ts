import type * as Anthropic from '@ai-sdk/anthropic';
import type * as OpenAi from '@ai-sdk/openai';
import type * as OpenAiCompatible from '@ai-sdk/openai-compatible';
import type * as Ai from 'ai';
import type { Config, LlmProvider } from '../config/index.js';
import { VivariumError } from '../errors/index.js';
import { extractCode } from './code-extraction.js';
import type {
  ChatMessage,
  CodeGenerator,
  ErrorChainEntry,
  GenerationRequest,
  GenerationResult,
  ModelCall,
  TokenUsage,
  VerificationRequest,
  VerificationResult,
} from './generator-types.js';
import { PromptBuilder } from './prompt-builder.js';
import { parseVerdict } from './verification-verdict.js';

/** The `llm` section of the configuration. */
export type LlmConfig = Config['llm'];

/** The npm package each provider needs (loaded on demand, so a missing one is named at start). */
export const LLM_PROVIDER_PACKAGES: Readonly<Record<LlmProvider, string>> = {
  'openai-compatible': '@ai-sdk/openai-compatible',
  openai: '@ai-sdk/openai',
  anthropic: '@ai-sdk/anthropic',
};

/** Environment variable the `openai` and `anthropic` providers fall back to when `llm.apiKey` is unset. */
export const LLM_PROVIDER_KEY_VARIABLES: Readonly<Partial<Record<LlmProvider, string>>> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
};

/** First retry delay of a transient failure; doubled per retry. */
export const LLM_RETRY_BASE_DELAY_MS = 500;
/** Longest wait between retries, a server's `Retry-After` included. */
export const LLM_RETRY_MAX_DELAY_MS = 30_000;
/** Characters of an error answer's body kept in `details.responseBody`. */
const RESPONSE_BODY_PREVIEW_CHARS = 2000;

/** Options of {@link createLlmGenerator}. */
export interface CreateLlmGeneratorOptions {
  /** The `llm` configuration section (`config.llm`). */
  llm: LlmConfig;
  /** Builds the prompts. @default new PromptBuilder() (the repository's `prompts/`) */
  promptBuilder?: PromptBuilder;
  /** Where `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` are read when `llm.apiKey` is unset. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Loads a module by name (tests replace it to simulate a missing package). @default dynamic `import()` */
  importModule?: (specifier: string) => Promise<unknown>;
}

type ProviderModules = {
  'openai-compatible': typeof OpenAiCompatible;
  openai: typeof OpenAi;
  anthropic: typeof Anthropic;
};

const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });

function isModuleNotFound(error: unknown, specifier: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    (typeof message !== 'string' || message.includes(specifier))
  );
}

async function loadModule<T>(
  importModule: (specifier: string) => Promise<unknown>,
  specifier: string,
  provider: LlmProvider,
): Promise<T> {
  try {
    return (await importModule(specifier)) as T;
  } catch (error) {
    if (isModuleNotFound(error, specifier)) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `The \`llm\` generator with provider \`${provider}\` needs the npm package \`${specifier}\`, which is not installed: run \`npm install ${specifier}\``,
        { details: { provider, package: specifier } },
      );
    }
    throw new VivariumError(
      'CONFIG_INVALID',
      `The npm package \`${specifier}\` (provider \`${provider}\`) failed to load: ${(error as Error).message}`,
      { details: { provider, package: specifier } },
    );
  }
}

function usageOf(usage: Ai.LanguageModelUsage | undefined): TokenUsage {
  const inputTokens = usage?.inputTokens ?? 0;
  const outputTokens = usage?.outputTokens ?? 0;
  return { inputTokens, outputTokens, totalTokens: usage?.totalTokens ?? inputTokens + outputTokens };
}

/** Sums token usage. */
export function addUsage(...usages: readonly TokenUsage[]): TokenUsage {
  return usages.reduce(
    (sum, usage) => ({
      inputTokens: sum.inputTokens + usage.inputTokens,
      outputTokens: sum.outputTokens + usage.outputTokens,
      totalTokens: sum.totalTokens + usage.totalTokens,
    }),
    { ...ZERO_USAGE },
  );
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What one failed HTTP exchange was, in words and facts. */
interface CallFailure {
  message: string;
  retryable: boolean;
  retryAfterMs: number | null;
  details: Record<string, unknown>;
}

function retryAfterMs(headers: Record<string, string> | undefined): number | null {
  if (!headers) return null;
  const ms = Number(headers['retry-after-ms']);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = Number(headers['retry-after']);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  return null;
}

/**
 * The `llm` generator: asks a model through the Vercel AI SDK (`openai-compatible`, `openai` with
 * its Chat Completions API, `anthropic`) and extracts the Python from the answer. Every HTTP
 * request is one {@link ModelCall} (retries included), with the prompt exactly as sent and the API
 * key nowhere in it. Build it with {@link createLlmGenerator}, which checks the configuration.
 */
export class LlmGenerator implements CodeGenerator {
  readonly name = 'llm';
  readonly provider: LlmProvider;
  readonly model: string;
  readonly #llm: LlmConfig;
  readonly #ai: typeof Ai;
  readonly #languageModel: Ai.LanguageModel;
  readonly #prompts: PromptBuilder;
  readonly #secrets: string[];

  /** Use {@link createLlmGenerator}: it loads the provider package and validates the config. */
  constructor(init: {
    llm: LlmConfig;
    model: string;
    ai: typeof Ai;
    languageModel: Ai.LanguageModel;
    promptBuilder: PromptBuilder;
    secrets: readonly string[];
  }) {
    this.#llm = init.llm;
    this.provider = init.llm.provider;
    this.model = init.model;
    this.#ai = init.ai;
    this.#languageModel = init.languageModel;
    this.#prompts = init.promptBuilder;
    this.#secrets = init.secrets.filter((secret) => secret.length >= 4);
  }

  async generate(
    request: GenerationRequest,
    errorChain: readonly ErrorChainEntry[],
  ): Promise<GenerationResult> {
    const messages = this.#prompts.buildGeneration(request, errorChain);
    const { text, calls } = await this.#complete('generate', messages, request.signal, request.onTextDelta);
    try {
      const { code, notes } = extractCode(text);
      return { code, notes, usage: addUsage(...calls.map((call) => call.usage)), calls };
    } catch (error) {
      if (error instanceof VivariumError) {
        throw new VivariumError('GENERATION_FAILED', this.#redact(error.message), {
          details: { ...this.#facts(), ...error.details, calls },
        });
      }
      throw error;
    }
  }

  /**
   * Asks the model whether a successful run answered the objective (`prompts/verify.md`). An
   * answer that holds no readable `{adequate, reason, suggestion}` JSON counts as adequate, with a
   * reason that says the verdict was unreadable: the run itself succeeded, and a verifier that
   * cannot answer in JSON is no evidence against it (a failed call still throws `GENERATION_FAILED`).
   */
  async verify(request: VerificationRequest): Promise<VerificationResult> {
    const messages = this.#prompts.buildVerification(request);
    const { text, calls } = await this.#complete('verify', messages, request.signal, undefined);
    const usage = addUsage(...calls.map((call) => call.usage));
    const verdict = parseVerdict(text);
    if (verdict === null) {
      return {
        adequate: true,
        reason:
          'The verifier’s answer held no readable {adequate, reason, suggestion} JSON; the run is accepted unverified.',
        suggestion: null,
        usage,
        calls,
      };
    }
    return { ...verdict, usage, calls };
  }

  #redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join('[redacted]');
    return out;
  }

  #facts(): Record<string, unknown> {
    return { generator: this.name, provider: this.provider, model: this.model };
  }

  #record(
    purpose: ModelCall['purpose'],
    messages: readonly ChatMessage[],
    started: { at: Date; ms: number },
    outcome: { response: string; usage: TokenUsage; error: string | null },
  ): ModelCall {
    return {
      purpose,
      generator: this.name,
      provider: this.provider,
      model: this.model,
      messages: messages.map((message) => ({ role: message.role, content: this.#redact(message.content) })),
      response: this.#redact(outcome.response),
      usage: outcome.usage,
      latencyMs: Math.round(performance.now() - started.ms),
      startedAt: started.at.toISOString(),
      error: outcome.error === null ? null : this.#redact(outcome.error),
    };
  }

  #describeFailure(error: unknown): CallFailure {
    const { APICallError } = this.#ai;
    if (APICallError.isInstance(error)) {
      const body = error.responseBody ?? '';
      const details: Record<string, unknown> = { url: error.url };
      if (error.statusCode !== undefined) details.statusCode = error.statusCode;
      if (body !== '') details.responseBody = this.#redact(body.slice(0, RESPONSE_BODY_PREVIEW_CHARS));
      const message =
        error.statusCode === undefined
          ? `cannot reach ${error.url}: ${error.message}`
          : `HTTP ${String(error.statusCode)} from ${error.url}: ${error.message}`;
      return {
        message: this.#redact(message),
        retryable: error.isRetryable,
        retryAfterMs: retryAfterMs(error.responseHeaders),
        details,
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { message: this.#redact(message), retryable: false, retryAfterMs: null, details: {} };
  }

  /** One HTTP request: streamed or not. Throws what the SDK throws; abort shows as `aborted: true`. */
  async #request(
    messages: readonly ChatMessage[],
    signal: AbortSignal,
    onTextDelta: ((text: string) => void) | undefined,
    onFirstDelta: () => void,
  ): Promise<{ text: string; usage: TokenUsage; finishReason: string; aborted: boolean }> {
    const [system, ...rest] = messages;
    const common = {
      model: this.#languageModel,
      ...(system?.role === 'system'
        ? { system: system.content, messages: rest.map((m) => ({ role: m.role, content: m.content })) }
        : { messages: messages.map((m) => ({ role: m.role, content: m.content })) }),
      temperature: this.#llm.temperature,
      maxOutputTokens: this.#llm.maxTokens,
      maxRetries: 0,
      abortSignal: signal,
    } as Parameters<typeof Ai.generateText>[0];
    if (!this.#llm.stream) {
      const result = await this.#ai.generateText(common);
      return {
        text: result.text,
        usage: usageOf(result.totalUsage),
        finishReason: result.finishReason,
        aborted: false,
      };
    }
    const result = this.#ai.streamText({
      ...(common as Parameters<typeof Ai.streamText>[0]),
      // Errors arrive as `error` parts below; without this the SDK would also print them.
      onError: () => undefined,
    });
    let text = '';
    let usage: TokenUsage = { ...ZERO_USAGE };
    let finishReason = 'unknown';
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') {
        if (text === '') onFirstDelta();
        text += part.text;
        if (onTextDelta) {
          try {
            onTextDelta(part.text);
          } catch {
            // A listener's fault must not fail the generation.
          }
        }
      } else if (part.type === 'error') {
        throw part.error;
      } else if (part.type === 'abort') {
        return { text, usage, finishReason: 'abort', aborted: true };
      } else if (part.type === 'finish') {
        usage = usageOf(part.totalUsage);
        finishReason = part.finishReason;
      }
    }
    return { text, usage, finishReason, aborted: signal.aborted };
  }

  /** Calls the model, retrying transient failures; every request is recorded. */
  async #complete(
    purpose: ModelCall['purpose'],
    messages: readonly ChatMessage[],
    callerSignal: AbortSignal | undefined,
    onTextDelta: ((text: string) => void) | undefined,
  ): Promise<{ text: string; calls: ModelCall[] }> {
    const calls: ModelCall[] = [];
    for (let attempt = 0; ; attempt += 1) {
      if (callerSignal?.aborted) {
        throw new VivariumError('ABORTED', 'The model call was aborted by the caller', {
          details: { ...this.#facts(), calls },
        });
      }
      const timeout = AbortSignal.timeout(this.#llm.timeoutMs);
      const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
      const started = { at: new Date(), ms: performance.now() };
      let streamedText = false;
      let failure: CallFailure;
      try {
        const result = await this.#request(messages, signal, onTextDelta, () => {
          streamedText = true;
        });
        if (!result.aborted && !signal.aborted) {
          if (result.text.trim() === '') {
            const why = `the model answered with no text (finish reason: ${result.finishReason})`;
            calls.push(
              this.#record(purpose, messages, started, {
                response: result.text,
                usage: result.usage,
                error: why,
              }),
            );
            throw new VivariumError(
              'GENERATION_FAILED',
              `The ${this.provider} model \`${this.model}\` failed: ${why}`,
              {
                details: { ...this.#facts(), finishReason: result.finishReason, calls },
              },
            );
          }
          calls.push(
            this.#record(purpose, messages, started, {
              response: result.text,
              usage: result.usage,
              error: null,
            }),
          );
          return { text: result.text, calls };
        }
        failure = { message: 'aborted', retryable: false, retryAfterMs: null, details: {} };
      } catch (error) {
        if (error instanceof VivariumError) throw error;
        failure = this.#describeFailure(error);
      }
      if (callerSignal?.aborted) {
        calls.push(
          this.#record(purpose, messages, started, {
            response: '',
            usage: { ...ZERO_USAGE },
            error: 'aborted by the caller',
          }),
        );
        throw new VivariumError('ABORTED', 'The model call was aborted by the caller', {
          details: { ...this.#facts(), calls },
        });
      }
      if (timeout.aborted) {
        failure = {
          message: `no complete answer within ${String(this.#llm.timeoutMs)} ms (llm.timeoutMs)`,
          retryable: false,
          retryAfterMs: null,
          details: { timeoutMs: this.#llm.timeoutMs },
        };
      }
      calls.push(
        this.#record(purpose, messages, started, {
          response: '',
          usage: { ...ZERO_USAGE },
          error: failure.message,
        }),
      );
      // A retry after streamed text would repeat it to the listener: only clean failures are retried.
      if (failure.retryable && !streamedText && attempt < this.#llm.maxRetries) {
        const backoff = LLM_RETRY_BASE_DELAY_MS * 2 ** attempt;
        await sleep(Math.min(failure.retryAfterMs ?? backoff, LLM_RETRY_MAX_DELAY_MS), callerSignal);
        continue;
      }
      throw new VivariumError(
        'GENERATION_FAILED',
        `The ${this.provider} model \`${this.model}\` failed${calls.length > 1 ? ` after ${String(calls.length)} calls` : ''}: ${failure.message}`,
        { details: { ...this.#facts(), ...failure.details, calls } },
      );
    }
  }
}

/**
 * The AI SDK prints provider warnings (an unsupported setting, …) with `console.info`/`console.warn`,
 * which would land in the CLI's `--json` stdout. Unless the application set its own
 * `AI_SDK_LOG_WARNINGS`, they go to stderr, one line each.
 */
function routeSdkWarningsToStderr(): void {
  if (globalThis.AI_SDK_LOG_WARNINGS !== undefined) return;
  globalThis.AI_SDK_LOG_WARNINGS = ({ warnings, provider, model }) => {
    for (const warning of warnings) {
      const text =
        'details' in warning && warning.details
          ? `${'feature' in warning ? `${warning.feature}: ` : ''}${warning.details}`
          : 'message' in warning
            ? warning.message
            : JSON.stringify(warning);
      process.stderr.write(`vivarium: AI SDK warning (${provider} ${model}): ${text}\n`);
    }
  };
}

/**
 * Builds the `llm` generator from the `llm` config section, checking it at start: `llm.model` is
 * required, `openai-compatible` needs `llm.baseUrl`, `openai`/`anthropic` need `llm.apiKey` (or
 * `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`), and the provider's npm package must load. Each problem
 * is `CONFIG_INVALID` saying what to set or install; nothing falls back silently.
 */
export async function createLlmGenerator(options: CreateLlmGeneratorOptions): Promise<LlmGenerator> {
  const { llm } = options;
  const env = options.env ?? process.env;
  const importModule = options.importModule ?? ((specifier: string) => import(specifier));
  const provider = llm.provider;
  if (llm.model === undefined) {
    throw new VivariumError(
      'CONFIG_INVALID',
      'The `llm` generator needs a model: set `llm.model` (or VIVARIUM_LLM_MODEL), e.g. `qwen2.5-coder:7b`, `gpt-4.1-mini`, `claude-sonnet-4-5`',
      { details: { provider } },
    );
  }
  const model = llm.model;
  if (provider === 'openai-compatible' && llm.baseUrl === undefined) {
    throw new VivariumError(
      'CONFIG_INVALID',
      'The `openai-compatible` provider needs the server’s URL: set `llm.baseUrl` (or VIVARIUM_LLM_BASE_URL), e.g. `http://localhost:11434/v1` for Ollama',
      { details: { provider } },
    );
  }
  const keyVariable = LLM_PROVIDER_KEY_VARIABLES[provider];
  const apiKey = llm.apiKey ?? (keyVariable === undefined ? undefined : env[keyVariable]);
  if (keyVariable !== undefined && (apiKey === undefined || apiKey === '')) {
    throw new VivariumError(
      'CONFIG_INVALID',
      `The \`${provider}\` provider needs an API key: set \`llm.apiKey\` (VIVARIUM_LLM_API_KEY) or ${keyVariable}`,
      { details: { provider } },
    );
  }

  const ai = await loadModule<typeof Ai>(importModule, 'ai', provider);
  routeSdkWarningsToStderr();
  const specifier = LLM_PROVIDER_PACKAGES[provider];
  let languageModel: Ai.LanguageModel;
  if (provider === 'openai-compatible') {
    const { createOpenAICompatible } = await loadModule<ProviderModules['openai-compatible']>(
      importModule,
      specifier,
      provider,
    );
    languageModel = createOpenAICompatible({
      name: 'openai-compatible',
      baseURL: llm.baseUrl ?? '',
      ...(apiKey === undefined ? {} : { apiKey }),
      includeUsage: true,
    }).chatModel(model);
  } else if (provider === 'openai') {
    const { createOpenAI } = await loadModule<ProviderModules['openai']>(importModule, specifier, provider);
    // `.chat()`: the Chat Completions API, which every OpenAI-compatible gateway speaks too.
    languageModel = createOpenAI({
      apiKey,
      ...(llm.baseUrl === undefined ? {} : { baseURL: llm.baseUrl }),
    }).chat(model);
  } else {
    const { createAnthropic } = await loadModule<ProviderModules['anthropic']>(
      importModule,
      specifier,
      provider,
    );
    languageModel = createAnthropic({
      apiKey,
      ...(llm.baseUrl === undefined ? {} : { baseURL: llm.baseUrl }),
    })(model);
  }
  return new LlmGenerator({
    llm,
    model,
    ai,
    languageModel,
    promptBuilder: options.promptBuilder ?? new PromptBuilder(),
    secrets: apiKey === undefined ? [] : [apiKey],
  });
}
