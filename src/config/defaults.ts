/** Named defaults of the configuration. Every documented `@default` points here. */

/** Wall-clock limit of one execution, host-enforced. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Memory of one kernel (address space under rlimits; memory cgroup where available). */
export const DEFAULT_MEMORY_LIMIT_MB = 2048;
/** CPU seconds one execution may use before the kernel is killed. */
export const DEFAULT_CPU_TIME_LIMIT_SEC = 120;
/** CPU share of one kernel in cores, enforced by the cpu cgroup where available. */
export const DEFAULT_CPU_CORES = 1;
/** Processes (and threads) one kernel's uid may have. */
export const DEFAULT_MAX_PROCESSES = 128;
/** Largest single file a kernel may write. */
export const DEFAULT_MAX_FILE_SIZE_MB = 1024;
/** Open file descriptors of one kernel process. */
export const DEFAULT_MAX_OPEN_FILES = 1024;
/** stdout + stderr bytes kept per execution; the rest is dropped and `truncated` set. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1_048_576;
/** Rich output (display data, results) bytes kept per execution. */
export const DEFAULT_MAX_DISPLAY_BYTES = 32 * 1_048_576;
/** Size of `/tmp` inside the sandbox. */
export const DEFAULT_TMP_SIZE_MB = 256;
/** Load the seccomp filter under the bubblewrap sandbox (`dist/seccomp/filter.bpf`). */
export const DEFAULT_SECCOMP = true;
/** Sessions without activity for this long are closed. 0 disables expiry. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
/** Time a kernel has to start and finish its preload. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;
/** Modules imported at kernel start. */
export const DEFAULT_PRELOAD: readonly string[] = ['numpy', 'pandas', 'matplotlib.pyplot'];
/** The interpreter kernels run. Debian's, which gets the `python3-*` packages. */
export const DEFAULT_PYTHON_PATH = '/usr/bin/python3';
/** Largest file the host file API reads or writes. */
export const DEFAULT_MAX_TRANSFER_BYTES = 100 * 1_048_576;
/** First host uid handed to kernels when the engine runs as root. */
export const DEFAULT_UID_RANGE_START = 200_000;
/** Number of host uids kernels may use when the engine runs as root. */
export const DEFAULT_UID_RANGE_SIZE = 50_000;

/** File types the host file API accepts by default (extensions, lower case, no dot). */
export const DEFAULT_ALLOWED_EXTENSIONS: readonly string[] = [
  'txt',
  'md',
  'log',
  'rtf',
  'csv',
  'tsv',
  'json',
  'xml',
  'yaml',
  'yml',
  'xlsx',
  'xls',
  'xlsm',
  'docx',
  'doc',
  'pdf',
  'dat',
  'h5',
  'hdf5',
  'nc',
  'parquet',
  'feather',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'bmp',
  'tiff',
  'svg',
  'zip',
  'tar',
  'gz',
  'bz2',
  '7z',
];
/** Kernels kept started ahead of demand. */
export const DEFAULT_POOL_SIZE = 2;
/** Pool kernel starts in flight at once. */
export const DEFAULT_POOL_MAX_CONCURRENT_STARTS = 1;
/** Bytes one workspace may hold (enforced where workspace volumes are available). */
export const DEFAULT_WORKSPACE_MAX_BYTES = 1024 * 1024 * 1024;
/** Files and directories one workspace may hold. */
export const DEFAULT_WORKSPACE_MAX_FILES = 100_000;
/** Address `vivarium serve` binds to: loopback unless told otherwise. */
export const DEFAULT_SERVER_HOST = '127.0.0.1';
/** Port `vivarium serve` listens on. */
export const DEFAULT_SERVER_PORT = 8420;
/** Largest JSON request body the service reads, in bytes (413 past it). */
export const DEFAULT_SERVER_BODY_LIMIT_BYTES = 2 * 1_048_576;
/** Largest `code` of one execution, in UTF-8 bytes (413 past it). */
export const DEFAULT_SERVER_MAX_CODE_BYTES = 1_048_576;
/** Largest file upload (raw body or one multipart file), in bytes (413 past it). */
export const DEFAULT_SERVER_MAX_UPLOAD_BYTES = 100 * 1_048_576;
/** How long a graceful shutdown lets running cells finish before interrupting them. */
export const DEFAULT_SERVER_SHUTDOWN_GRACE_MS = 10_000;
/** Sessions one API key may have open at once, unless the key says otherwise. */
export const DEFAULT_KEY_MAX_CONCURRENT_SESSIONS = 20;
/** Executions one API key may start per minute, unless the key says otherwise. */
export const DEFAULT_KEY_MAX_EXECUTIONS_PER_MINUTE = 600;
/** Distribution names `install` accepts: none until the operator lists them (`["*"]` for any). */
export const DEFAULT_PACKAGES_ALLOW: readonly string[] = [];
/** Distribution names `install` refuses even when `packages.allow` would accept them. */
export const DEFAULT_PACKAGES_DENY: readonly string[] = [];
/** Execution mode of sessions and tasks unless one is asked for (docs/analysis.md). */
export const DEFAULT_EXECUTION_MODE = 'workspace_write';
/** When a task asks a human: `on_risk` — when the analysis finds a risky call. */
export const DEFAULT_APPROVAL_MODE = 'on_risk';
/** A pending approval not decided within this long ends `rejected` (24 hours). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** Provider of the `llm` generator unless configured. */
export const DEFAULT_LLM_PROVIDER = 'openai-compatible';
/** Sampling temperature of the `llm` generator. */
export const DEFAULT_LLM_TEMPERATURE = 0.2;
/** Most tokens one model answer may have. */
export const DEFAULT_LLM_MAX_TOKENS = 4096;
/** Wall clock of one model call, ms. */
export const DEFAULT_LLM_TIMEOUT_MS = 120_000;
/** Retries of a model call that failed transiently (HTTP 408/409/429/5xx, connection refused), each recorded. */
export const DEFAULT_LLM_MAX_RETRIES = 2;
/** Attempts (generate → … → verify) one task may make before it fails. */
export const DEFAULT_TASK_MAX_ATTEMPTS = 3;
