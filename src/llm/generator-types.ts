import type { ExecutionMode } from '../config/index.js';

/** Tokens one call or a whole task used, as the provider reported them (0 when it did not). */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** One chat message of a prompt, or of the caller's context. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One model call, as stored with the task: what was sent, what came back, what it cost. */
export interface ModelCall {
  /** `generate` or `verify`. */
  purpose: 'generate' | 'verify';
  /** The generator's name and, for `llm`, provider and model. */
  generator: string;
  provider: string | null;
  model: string | null;
  /** The prompt exactly as sent. */
  messages: ChatMessage[];
  /** The raw answer text. */
  response: string;
  usage: TokenUsage;
  latencyMs: number;
  /** ISO time the call started. */
  startedAt: string;
  /** Set when the call failed (network, HTTP status, timeout); `response` is then empty. */
  error: string | null;
}

/** A variable of the session the code runs in, as the prompt shows it. */
export interface PromptVariable {
  name: string;
  type: string;
  summary: string;
}

/** An input file of the task, as the prompt shows it (from `session.files.describe`). */
export interface PromptFile {
  /** Workspace-relative path. */
  path: string;
  sizeBytes: number;
  /** The file-metadata description (columns, dtypes, rows, sheets, structure, preview, size), as returned by `files.describe`. */
  description: unknown;
}

/** What a generator is asked for. */
export interface GenerationRequest {
  objective: string;
  /** Names the code must leave in a `results` dict. */
  expectedResults: readonly string[];
  /** Context the caller passed: free text, or a conversation. */
  context: string | readonly ChatMessage[] | null;
  /** The session's variables before the task's code runs. */
  variables: readonly PromptVariable[];
  files: readonly PromptFile[];
  /** Top-level modules importable in the kernel (the data stack, session installs). */
  packages: readonly string[];
  /** What the sandbox will allow (the prompt says so: no network unless `network`). */
  mode: ExecutionMode;
  /** 1-based attempt number. */
  attempt: number;
  /** Called with each piece of text as it streams in (when the generator streams). */
  onTextDelta?: (text: string) => void;
  signal?: AbortSignal;
}

/** One failed attempt, as the next generation sees it. */
export interface ErrorChainEntry {
  attempt: number;
  /** Where it failed: the policy denied it, the run failed, or the outcome did not check out. */
  stage: 'analysis' | 'execution' | 'verification';
  code: string;
  /** `ename` is e.g. `NameError`, `PolicyDenied`, `MissingResults`, `Inadequate`; traceback trimmed head and tail. */
  error: { ename: string; evalue: string; traceback: string[] };
  /** How many earlier entries had the same stage, ename and evalue (0 the first time). */
  repeats: number;
}

/** What a generator returns: the code, and what it cost. */
export interface GenerationResult {
  /** Python source, extracted from the model's answer (fences removed). */
  code: string;
  /** Anything the model said besides the code, trimmed; null when nothing. */
  notes: string | null;
  usage: TokenUsage;
  /** The calls made (usually one); stored with the task. */
  calls: ModelCall[];
}

/** What the optional model check of a successful run is given. */
export interface VerificationRequest {
  objective: string;
  code: string;
  /** stdout (trimmed) and the `results` dict as JSON. */
  stdout: string;
  results: Record<string, unknown>;
  signal?: AbortSignal;
}

/** The model's judgement of a successful run. */
export interface VerificationResult {
  adequate: boolean;
  reason: string;
  suggestion: string | null;
  usage: TokenUsage;
  calls: ModelCall[];
}

/**
 * A code generator: `llm` (AI SDK providers), `scripted` (replays code), or a plugin's. Generators
 * never run code; they only write it.
 */
export interface CodeGenerator {
  /** Registry name (`llm`, `scripted`, a plugin's). */
  readonly name: string;
  generate(request: GenerationRequest, errorChain: readonly ErrorChainEntry[]): Promise<GenerationResult>;
  /** The optional model check (`llm.verify`); generators without it skip the check. */
  verify?(request: VerificationRequest): Promise<VerificationResult>;
}
