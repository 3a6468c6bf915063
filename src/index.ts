export { Vivarium } from './engine/index.js';
export type { VivariumOptions, CreateSessionOptions, RunOptions } from './engine/index.js';
export { Session } from './session/index.js';
export type {
  SessionState,
  ExecuteOptions,
  RestartResult,
  SessionInfo,
  WorkspaceEntry,
} from './session/index.js';
export { VivariumError, isVivariumError, ERROR_CODES } from './errors/index.js';
export type { ErrorCode } from './errors/index.js';
export { loadConfig, configSchema, limitsSchema, EXECUTION_MODES } from './config/index.js';
export type { Config, ConfigInput, Limits, ExecutionMode } from './config/index.js';
export type {
  Execution,
  ExecutionStatus,
  ExecutionEvent,
  ExecutionErrorInfo,
  Output,
  StreamOutput,
  DisplayDataOutput,
  ExecuteResultOutput,
  ErrorOutput,
  ExecutionTruncation,
  MimeBundle,
  InputHandler,
  InputRequest,
  VariableSummary,
  FileChange,
} from './kernel/index.js';
export {
  runTests,
  profile,
  validate,
  explainError,
  dependencies,
  install,
  describeFile,
  exportNotebook,
  exportSessionNotebook,
  importNotebook,
  runNotebook,
  notebookFromScript,
  batch,
} from './tools/index.js';
export type {
  RunTestsOptions,
  TestRunResult,
  ProfileOptions,
  ProfileResult,
  ValidateOptions,
  ValidateResult,
  ExplainErrorOptions,
  ErrorExplanation,
  DependenciesOptions,
  DependenciesResult,
  InstallOptions,
  InstallResult,
  DescribeFileOptions,
  FileDescription,
  Notebook,
  ImportedNotebook,
  RunNotebookOptions,
  NotebookRunResult,
  BatchOptions,
  BatchReport,
} from './tools/index.js';
export type { SessionFiles, SessionRecord } from './session/index.js';
export {
  analyze,
  evaluatePolicy,
  decide,
  analysisResultSchema,
  findingSchema,
  ANALYSIS_RULES,
  RULE_IDS,
} from './analysis/index.js';
export type {
  AnalyzeOptions,
  AnalysisResult,
  Finding,
  ImportInfo,
  PolicyDecision,
  RuleId,
  RuleInfo,
  AnalysisPolicy,
} from './analysis/index.js';
export {
  createGenerator,
  GeneratorRegistry,
  LlmGenerator,
  createLlmGenerator,
  ScriptedGenerator,
  PromptBuilder,
  extractCode,
} from './llm/index.js';
export type {
  CodeGenerator,
  GeneratorFactory,
  CreateGeneratorOptions,
  CreateLlmGeneratorOptions,
  ScriptedGeneratorOptions,
  PromptBuilderOptions,
  GenerationRequest,
  GenerationResult,
  VerificationRequest,
  VerificationResult,
  ErrorChainEntry,
  ModelCall,
  TokenUsage,
  ChatMessage,
  PromptFile,
  PromptVariable,
} from './llm/index.js';
