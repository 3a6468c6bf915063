import { VivariumError } from '../errors/index.js';
import { extractCode } from './code-extraction.js';
import type {
  ChatMessage,
  CodeGenerator,
  ErrorChainEntry,
  GenerationRequest,
  GenerationResult,
  ModelCall,
} from './generator-types.js';
import { PromptBuilder } from './prompt-builder.js';

/** Options of {@link ScriptedGenerator}. */
export interface ScriptedGeneratorOptions {
  /**
   * Builds the prompt a model would have been sent, recorded in each call's `messages` (so replays
   * and pipeline tests can inspect repair prompts). `null` records no messages.
   * @default new PromptBuilder() (the repository's `prompts/`)
   */
  promptBuilder?: PromptBuilder | null;
}

/**
 * The `scripted` generator: returns the given codes in order, one per `generate` call, whatever it
 * is asked (config `llm.generator: "scripted"` with `llm.scripted`). Each entry may be plain code or
 * a model-like answer (fences and prose are extracted as for `llm`). Each step records a
 * {@link ModelCall} (provider and model null, usage 0) with the prompt `llm` would have sent; the
 * whole entry is streamed to `onTextDelta` at once. When the list is used up, `generate` throws
 * `GENERATION_FAILED`. For tests, demos and replaying a stored task's code without a model.
 */
export class ScriptedGenerator implements CodeGenerator {
  readonly name = 'scripted';
  readonly #codes: readonly string[];
  readonly #prompts: PromptBuilder | null;
  #next = 0;

  constructor(codes: readonly string[], options: ScriptedGeneratorOptions = {}) {
    this.#codes = [...codes];
    this.#prompts = options.promptBuilder === undefined ? new PromptBuilder() : options.promptBuilder;
  }

  /** Codes not yet returned. */
  get remaining(): number {
    return this.#codes.length - this.#next;
  }

  generate(request: GenerationRequest, errorChain: readonly ErrorChainEntry[]): Promise<GenerationResult> {
    const started = performance.now();
    const startedAt = new Date().toISOString();
    if (request.signal?.aborted) {
      return Promise.reject(
        new VivariumError('ABORTED', 'The generation was aborted by the caller', {
          details: { generator: this.name, calls: [] },
        }),
      );
    }
    const messages: ChatMessage[] = this.#prompts?.buildGeneration(request, errorChain) ?? [];
    const call = (response: string, error: string | null): ModelCall => ({
      purpose: 'generate',
      generator: this.name,
      provider: null,
      model: null,
      messages,
      response,
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
      latencyMs: Math.round(performance.now() - started),
      startedAt,
      error,
    });
    const answer = this.#codes[this.#next];
    if (answer === undefined) {
      const message = `The scripted generator has no more code: ${String(this.#codes.length)} given`;
      return Promise.reject(
        new VivariumError('GENERATION_FAILED', message, {
          details: { generator: this.name, given: this.#codes.length, calls: [call('', message)] },
        }),
      );
    }
    this.#next += 1;
    const calls = [call(answer, null)];
    try {
      request.onTextDelta?.(answer);
    } catch {
      // A listener's fault must not fail the generation.
    }
    try {
      const { code, notes } = extractCode(answer);
      return Promise.resolve({
        code,
        notes,
        usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
        calls,
      });
    } catch (error) {
      if (error instanceof VivariumError) {
        return Promise.reject(
          new VivariumError('GENERATION_FAILED', `Scripted entry ${String(this.#next)}: ${error.message}`, {
            details: { generator: this.name, ...error.details, calls },
          }),
        );
      }
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
