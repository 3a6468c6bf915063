export {
  configSchema,
  limitsSchema,
  limitsOverrideSchema,
  serverSchema,
  ISOLATION_MODES,
  BACKENDS,
  MAX_TIMER_MS,
} from './config-schema.js';
export type { Config, ConfigInput, Limits } from './config-schema.js';
export {
  loadConfig,
  configFromEnv,
  defaultDataDir,
  formatConfigIssues,
  ROOT_DATA_DIR,
} from './load-config.js';
export type { LoadConfigOptions } from './load-config.js';
export * from './defaults.js';
