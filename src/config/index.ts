export {
  configSchema,
  limitsSchema,
  limitsOverrideSchema,
  serverSchema,
  ISOLATION_MODES,
  BACKENDS,
  MAX_TIMER_MS,
  policySchema,
  llmSchema,
  EXECUTION_MODES,
  APPROVAL_MODES,
  RULE_SEVERITIES,
  LLM_PROVIDERS,
} from './config-schema.js';
export type {
  Config,
  ConfigInput,
  Limits,
  ExecutionMode,
  ApprovalMode,
  RuleSeverity,
  LlmProvider,
} from './config-schema.js';
export {
  loadConfig,
  configFromEnv,
  defaultDataDir,
  formatConfigIssues,
  ROOT_DATA_DIR,
} from './load-config.js';
export type { LoadConfigOptions } from './load-config.js';
export * from './defaults.js';
