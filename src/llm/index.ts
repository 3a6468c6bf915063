export type {
  CodeGenerator,
  ChatMessage,
  ErrorChainEntry,
  GenerationRequest,
  GenerationResult,
  ModelCall,
  PromptFile,
  PromptVariable,
  TokenUsage,
  VerificationRequest,
  VerificationResult,
} from './generator-types.js';
export { extractCode } from './code-extraction.js';
export type { ExtractedCode } from './code-extraction.js';
export { PromptBuilder, DEFAULT_MAX_PROMPT_BYTES, DEFAULT_PROMPT_BUDGETS } from './prompt-builder.js';
export type { PromptBuilderOptions, PromptBudgets } from './prompt-builder.js';
export {
  DEFAULT_PROMPTS_DIR,
  PROMPT_TEMPLATE_FILES,
  loadPromptTemplates,
  renderTemplate,
} from './prompt-templates.js';
export type { PromptTemplates, PromptTemplateName, TemplateValues } from './prompt-templates.js';
export {
  LlmGenerator,
  createLlmGenerator,
  addUsage,
  LLM_PROVIDER_PACKAGES,
  LLM_PROVIDER_KEY_VARIABLES,
  LLM_RETRY_BASE_DELAY_MS,
  LLM_RETRY_MAX_DELAY_MS,
} from './llm-generator.js';
export type { CreateLlmGeneratorOptions, LlmConfig } from './llm-generator.js';
export { ScriptedGenerator } from './scripted-generator.js';
export type { ScriptedGeneratorOptions } from './scripted-generator.js';
export { parseVerdict } from './verification-verdict.js';
export type { VerificationVerdict } from './verification-verdict.js';
export {
  GeneratorRegistry,
  BUILTIN_GENERATORS,
  GENERATOR_NAME_PATTERN,
  createGenerator,
  loadGeneratorPlugin,
} from './generator-registry.js';
export type { GeneratorFactory, CreateGeneratorOptions } from './generator-registry.js';
