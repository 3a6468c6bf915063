import type { RuleSeverity } from '../config/index.js';
import type { FindingCategory } from './analysis-types.js';

/** Severity a rule can have once the policy applied (`off` drops the finding). */
export type FindingSeverity = Exclude<RuleSeverity, 'off'>;

/** One rule of the catalog: what it is about, how serious it is by default, what it catches. */
export interface RuleInfo {
  category: FindingCategory;
  /** Before config `policy.rules` and the execution mode (docs/analysis.md). */
  defaultSeverity: FindingSeverity;
  /** What the rule catches, one sentence (the rules table of docs/analysis.md). */
  description: string;
}

/**
 * Every rule the analysis knows, by id (`<category>.<name>`). The calls are detected by
 * `python/vivarium_runtime/tools/analysis.py` (which must use only these ids); `import.*` and
 * `syntax.error` are added by the policy (`policy.ts`).
 */
export const ANALYSIS_RULES = {
  'syntax.error': {
    category: 'syntax',
    defaultSeverity: 'critical',
    description: 'The code does not parse: it cannot run (the decision is `deny` whatever the severity)',
  },
  'syntax.incomplete': {
    category: 'syntax',
    defaultSeverity: 'warning',
    description:
      'The code nests too deeply to be analysed completely: what the analysis did not reach is unchecked',
  },
  'import.denied': {
    category: 'import',
    defaultSeverity: 'critical',
    description: 'An import (static or a literal dynamic one) matches config `policy.imports.deny`',
  },
  'import.not_allowed': {
    category: 'import',
    defaultSeverity: 'critical',
    description: 'An import matches nothing in a non-empty config `policy.imports.allow`',
  },
  'import.missing': {
    category: 'import',
    defaultSeverity: 'info',
    description: "An import the sandbox's interpreter cannot find (the code will raise ModuleNotFoundError)",
  },
  'dynamic.eval': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description: '`eval(...)`, however reached (`builtins.eval`, `__builtins__["eval"]`, an alias)',
  },
  'dynamic.exec': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description: '`exec(...)`, however reached',
  },
  'dynamic.compile': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description: 'The builtin `compile(...)` (not `re.compile`)',
  },
  'dynamic.import': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description:
      '`__import__`, `importlib.import_module`, `importlib.reload`, `runpy.run_path`, loaders from a file; a literal module name is tracked as an import',
  },
  'dynamic.getattr': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description:
      '`getattr`/`setattr`/`delattr` on a module or `builtins`, and name lookups in `__builtins__[...]`, `vars(module)[...]`, `module.__dict__[...]`, `globals()[...]` (dunder or computed keys)',
  },
  'dynamic.introspection': {
    category: 'dynamic',
    defaultSeverity: 'warning',
    description:
      'Interpreter internals: `__subclasses__`, `__globals__`, `__builtins__`, `__code__`, `__bases__`, frame attributes, `sys._getframe`, `inspect.currentframe`, `gc.get_objects`',
  },
  'process.subprocess': {
    category: 'process',
    defaultSeverity: 'warning',
    description:
      'Any call into `subprocess` (`run`, `Popen`, `check_output`, …), `asyncio.create_subprocess_*`',
  },
  'process.system': {
    category: 'process',
    defaultSeverity: 'warning',
    description: '`os.system`, `os.popen`: a shell command',
  },
  'process.exec': {
    category: 'process',
    defaultSeverity: 'warning',
    description: '`os.exec*`, `os.spawn*`, `os.posix_spawn*`, `os.startfile`',
  },
  'process.fork': {
    category: 'process',
    defaultSeverity: 'warning',
    description:
      '`os.fork`, `multiprocessing.Process` / `Pool` / `get_context`, `concurrent.futures.ProcessPoolExecutor`',
  },
  'process.pty': {
    category: 'process',
    defaultSeverity: 'warning',
    description: '`pty.spawn`, `pty.fork`, `os.forkpty`, `os.openpty`',
  },
  'process.signal': {
    category: 'process',
    defaultSeverity: 'warning',
    description: '`os.kill`, `os.killpg`, `signal.pthread_kill`',
  },
  'process.import': {
    category: 'process',
    defaultSeverity: 'info',
    description: 'Importing `subprocess`, `pty` or `multiprocessing` (each call is flagged on its own)',
  },
  'network.socket': {
    category: 'network',
    defaultSeverity: 'warning',
    description:
      '`socket.socket`, `create_connection`, `getaddrinfo`/`gethostbyname`, `ssl.wrap_socket`, `asyncio.open_connection`, socket servers',
  },
  'network.http': {
    category: 'network',
    defaultSeverity: 'warning',
    description:
      'Clients of application protocols: `requests`, `httpx`, `aiohttp`, `urllib3`, `urllib.request`, `http.client`, `ftplib`, `smtplib`, `poplib`, `imaplib`, `xmlrpc`, websockets, `webbrowser`; any reader given a literal `http(s)://` / `ftp://` URL (`pd.read_csv("https://…")`)',
  },
  'network.import': {
    category: 'network',
    defaultSeverity: 'info',
    description:
      'Importing a network module (`socket`, `requests`, `urllib.request`, …; each call is flagged on its own)',
  },
  'native.ctypes': {
    category: 'native',
    defaultSeverity: 'warning',
    description:
      '`ctypes.CDLL`, `ctypes.cdll.*`, `ctypes.pythonapi.*`, `cast`, `memmove`, `string_at`, function types: native code',
  },
  'native.cffi': {
    category: 'native',
    defaultSeverity: 'warning',
    description: 'Any call into `cffi` (`cffi.FFI()`)',
  },
  'native.import': {
    category: 'native',
    defaultSeverity: 'info',
    description: 'Importing `ctypes` or `cffi` (each call is flagged on its own)',
  },
  'file.write': {
    category: 'file',
    defaultSeverity: 'info',
    description:
      '`open`/`io.open`/`os.open` with a write, append or create mode, `Path.write_text`/`write_bytes`/`open("w")`/`mkdir`/`touch`, `shutil.copy*`/`move`, `os.rename`/`replace`/`mkdir`, `df.to_csv(...)` and other writers, `savefig`, in the workspace or /tmp (or a computed path)',
  },
  'file.write_outside': {
    category: 'file',
    defaultSeverity: 'warning',
    description: 'A write (as `file.write`) to a literal path outside `/workspace` and `/tmp`',
  },
  'file.read_outside': {
    category: 'file',
    defaultSeverity: 'warning',
    description:
      'A read of a literal path outside `/workspace` and `/tmp` (`open("/etc/shadow")`, `Path("/root/…").read_text()`, `pd.read_csv("/…")`, `os.listdir("/home")`)',
  },
  'file.delete': {
    category: 'file',
    defaultSeverity: 'warning',
    description: '`os.remove`/`unlink`/`rmdir`/`removedirs`, `shutil.rmtree`, `Path.unlink`/`rmdir`',
  },
  'serialization.pickle': {
    category: 'serialization',
    defaultSeverity: 'warning',
    description:
      'Loading pickles: `pickle.load(s)`/`Unpickler` (and `cPickle`, `dill`, `cloudpickle`), `shelve.open`, `pandas.read_pickle`, `joblib.load`, `torch.load`, `numpy.load(allow_pickle=True)`',
  },
  'serialization.pickle_dump': {
    category: 'serialization',
    defaultSeverity: 'info',
    description: 'Writing pickles: `pickle.dump(s)`, `dill.dump(s)`, `joblib.dump`, `df.to_pickle(...)`',
  },
  'serialization.marshal': {
    category: 'serialization',
    defaultSeverity: 'warning',
    description: '`marshal.load(s)`: code objects from bytes',
  },
  'serialization.yaml': {
    category: 'serialization',
    defaultSeverity: 'warning',
    description: '`yaml.unsafe_load`, `yaml.load` without a safe loader: arbitrary Python objects from YAML',
  },
} as const satisfies Readonly<Record<string, RuleInfo>>;

/** A rule id of the catalog. */
export type RuleId = keyof typeof ANALYSIS_RULES;

/** Every rule id, in catalog order. */
export const RULE_IDS = Object.keys(ANALYSIS_RULES) as RuleId[];

/** True for an id of the catalog. */
export function isRuleId(value: string): value is RuleId {
  return Object.hasOwn(ANALYSIS_RULES, value);
}

/** The catalog entry of a rule id. */
export function ruleInfo(ruleId: RuleId): RuleInfo {
  return ANALYSIS_RULES[ruleId];
}
