import { z } from 'zod';
import { validate } from '../errors/index.js';
import type { Session } from '../session/index.js';
import { runSandboxTool } from './sandbox-tool.js';

/** Where a missing module comes from: its PyPI distribution and, where Debian has it, the package. */
export interface ModuleSource {
  /** The distribution to install (PyPI spelling), absent for Debian-only stdlib parts. */
  distribution?: string;
  /** The Debian package that provides it (`apt-get install …` on the host). */
  debianPackage?: string;
}

/**
 * Import names whose distribution is spelled differently (or that Debian splits out of the
 * stdlib), plus the common ones whose Debian package is worth naming. Used for missing modules
 * and install hints; an installed module's distribution comes from the interpreter itself.
 */
export const MODULE_SOURCES: Readonly<Record<string, ModuleSource>> = {
  sklearn: { distribution: 'scikit-learn', debianPackage: 'python3-sklearn' },
  PIL: { distribution: 'pillow', debianPackage: 'python3-pil' },
  cv2: { distribution: 'opencv-python', debianPackage: 'python3-opencv' },
  yaml: { distribution: 'PyYAML', debianPackage: 'python3-yaml' },
  bs4: { distribution: 'beautifulsoup4', debianPackage: 'python3-bs4' },
  docx: { distribution: 'python-docx', debianPackage: 'python3-docx' },
  pptx: { distribution: 'python-pptx' },
  dateutil: { distribution: 'python-dateutil', debianPackage: 'python3-dateutil' },
  skimage: { distribution: 'scikit-image', debianPackage: 'python3-skimage' },
  Crypto: { distribution: 'pycryptodome', debianPackage: 'python3-pycryptodome' },
  OpenSSL: { distribution: 'pyOpenSSL', debianPackage: 'python3-openssl' },
  serial: { distribution: 'pyserial', debianPackage: 'python3-serial' },
  usb: { distribution: 'pyusb', debianPackage: 'python3-usb' },
  magic: { distribution: 'python-magic', debianPackage: 'python3-magic' },
  dotenv: { distribution: 'python-dotenv', debianPackage: 'python3-dotenv' },
  jwt: { distribution: 'PyJWT', debianPackage: 'python3-jwt' },
  MySQLdb: { distribution: 'mysqlclient', debianPackage: 'python3-mysqldb' },
  psycopg2: { distribution: 'psycopg2-binary', debianPackage: 'python3-psycopg2' },
  attr: { distribution: 'attrs', debianPackage: 'python3-attr' },
  Bio: { distribution: 'biopython', debianPackage: 'python3-biopython' },
  fitz: { distribution: 'PyMuPDF', debianPackage: 'python3-fitz' },
  PyPDF2: { distribution: 'PyPDF2', debianPackage: 'python3-pypdf2' },
  pypdf: { distribution: 'pypdf', debianPackage: 'python3-pypdf' },
  nacl: { distribution: 'PyNaCl', debianPackage: 'python3-nacl' },
  git: { distribution: 'GitPython', debianPackage: 'python3-git' },
  zmq: { distribution: 'pyzmq', debianPackage: 'python3-zmq' },
  gi: { distribution: 'PyGObject', debianPackage: 'python3-gi' },
  Levenshtein: { distribution: 'python-Levenshtein', debianPackage: 'python3-levenshtein' },
  slugify: { distribution: 'python-slugify', debianPackage: 'python3-slugify' },
  jose: { distribution: 'python-jose', debianPackage: 'python3-jose' },
  websocket: { distribution: 'websocket-client', debianPackage: 'python3-websocket' },
  socks: { distribution: 'PySocks', debianPackage: 'python3-socks' },
  markdown: { distribution: 'Markdown', debianPackage: 'python3-markdown' },
  xlsxwriter: { distribution: 'XlsxWriter', debianPackage: 'python3-xlsxwriter' },
  tables: { distribution: 'tables', debianPackage: 'python3-tables' },
  mpl_toolkits: { distribution: 'matplotlib', debianPackage: 'python3-matplotlib' },
  pkg_resources: { distribution: 'setuptools', debianPackage: 'python3-pkg-resources' },
  dns: { distribution: 'dnspython', debianPackage: 'python3-dns' },
  pywt: { distribution: 'PyWavelets', debianPackage: 'python3-pywt' },
  netCDF4: { distribution: 'netCDF4', debianPackage: 'python3-netcdf4' },
  google: { distribution: 'protobuf', debianPackage: 'python3-protobuf' },
  // Same name on PyPI, named for the Debian package.
  numpy: { distribution: 'numpy', debianPackage: 'python3-numpy' },
  pandas: { distribution: 'pandas', debianPackage: 'python3-pandas' },
  scipy: { distribution: 'scipy', debianPackage: 'python3-scipy' },
  matplotlib: { distribution: 'matplotlib', debianPackage: 'python3-matplotlib' },
  seaborn: { distribution: 'seaborn', debianPackage: 'python3-seaborn' },
  statsmodels: { distribution: 'statsmodels', debianPackage: 'python3-statsmodels' },
  sympy: { distribution: 'sympy', debianPackage: 'python3-sympy' },
  networkx: { distribution: 'networkx', debianPackage: 'python3-networkx' },
  requests: { distribution: 'requests', debianPackage: 'python3-requests' },
  lxml: { distribution: 'lxml', debianPackage: 'python3-lxml' },
  openpyxl: { distribution: 'openpyxl', debianPackage: 'python3-openpyxl' },
  xlrd: { distribution: 'xlrd', debianPackage: 'python3-xlrd' },
  h5py: { distribution: 'h5py', debianPackage: 'python3-h5py' },
  tqdm: { distribution: 'tqdm', debianPackage: 'python3-tqdm' },
  plotly: { distribution: 'plotly', debianPackage: 'python3-plotly' },
  nltk: { distribution: 'nltk', debianPackage: 'python3-nltk' },
  joblib: { distribution: 'joblib', debianPackage: 'python3-joblib' },
  shapely: { distribution: 'shapely', debianPackage: 'python3-shapely' },
  geopandas: { distribution: 'geopandas', debianPackage: 'python3-geopandas' },
  xarray: { distribution: 'xarray', debianPackage: 'python3-xarray' },
  sqlalchemy: { distribution: 'SQLAlchemy', debianPackage: 'python3-sqlalchemy' },
  chardet: { distribution: 'chardet', debianPackage: 'python3-chardet' },
  tabulate: { distribution: 'tabulate', debianPackage: 'python3-tabulate' },
  xgboost: { distribution: 'xgboost', debianPackage: 'python3-xgboost' },
  torch: { distribution: 'torch', debianPackage: 'python3-torch' },
  // Parts of the stdlib Debian ships separately.
  tkinter: { debianPackage: 'python3-tk' },
  distutils: { distribution: 'setuptools', debianPackage: 'python3-distutils' },
  lib2to3: { debianPackage: 'python3-lib2to3' },
  venv: { debianPackage: 'python3-venv' },
  ensurepip: { debianPackage: 'python3-venv' },
};

/** What a module needs to be importable: the mapping above, by its top-level name. */
export function moduleSource(module: string): ModuleSource | undefined {
  const top = module.split('.')[0] ?? module;
  return Object.hasOwn(MODULE_SOURCES, top) ? MODULE_SOURCES[top] : undefined;
}

/** One import of the analysed code. */
export const importEntrySchema = z.object({
  /** The module as written (`numpy`, `os`, `PIL.Image`). */
  module: z.string(),
  /** 1-based line of the import statement. */
  line: z.number().int(),
  /** `stdlib`, `installed` (importable by the kernel's interpreter) or `missing`. */
  kind: z.enum(['stdlib', 'installed', 'missing']),
  /** `import numpy as np` → `np`. */
  alias: z.string().optional(),
  /** `from os import path` → `["path"]`. */
  names: z.array(z.string()).optional(),
  /** `importlib.import_module("x")` / `__import__("x")` with a literal name. */
  dynamic: z.boolean().optional(),
  /** The distribution providing it (installed: from the interpreter; missing: from the name mapping). */
  distribution: z.string().optional(),
  /** Installed version of `distribution`. */
  version: z.string().optional(),
  /** The Debian package providing it, where known. */
  debianPackage: z.string().optional(),
  /** Installed modules: `system` (Debian / the interpreter), `session` (installed into this session), `workspace` (a file of the workspace). */
  location: z.enum(['system', 'session', 'workspace']).optional(),
  /** A stdlib module this interpreter lacks (Debian splits `tkinter`, `distutils`, … out). */
  stdlib: z.boolean().optional(),
});
export type ImportEntry = z.infer<typeof importEntrySchema>;

/** A syntax error: 1-based line and column, and the line with a caret under the column. */
export const syntaxErrorSchema = z.object({
  message: z.string(),
  /** `SyntaxError`, `IndentationError` or `TabError`. */
  kind: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  caret: z.string(),
});
export type SyntaxErrorInfo = z.infer<typeof syntaxErrorSchema>;

/** Result of {@link dependencies}. */
export const dependenciesResultSchema = z.object({
  imports: z.array(importEntrySchema),
  /** Set when the code does not parse (then `imports` is empty). */
  syntaxError: syntaxErrorSchema.nullable(),
});
export type DependenciesResult = z.infer<typeof dependenciesResultSchema>;

/** Options of {@link dependencies}. */
export interface DependenciesOptions {
  /** Wall clock of the analysis. @default DEFAULT_TOOL_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Largest code analysed, in characters. */
export const MAX_ANALYZED_CODE_CHARS = 1_048_576;

export const codeSchema = z.string().max(MAX_ANALYZED_CODE_CHARS);

/**
 * The imports of `code`, each classified by the session's interpreter (in a side kernel on its
 * workspace, so packages installed into the session count): `stdlib`, `installed` (with the
 * distribution and version from `importlib.metadata`) or `missing` (with the distribution to
 * install from {@link MODULE_SOURCES}). Alias-aware; relative imports are the code's own and left out.
 */
export async function dependencies(
  session: Session,
  code: string,
  options: DependenciesOptions = {},
): Promise<DependenciesResult> {
  const checked = validate(codeSchema, code, 'code');
  const { result } = await runSandboxTool(
    {
      session,
      tool: 'dependencies',
      args: { mode: 'analyze', code: checked, aliases: MODULE_SOURCES },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    dependenciesResultSchema,
  );
  return result;
}

/** The install hints of a missing import, for people: session install, Debian package, pip. */
export function installHints(entry: { module: string } & ModuleSource, installable: boolean): string[] {
  const hints: string[] = [];
  if (entry.distribution && installable)
    hints.push(
      `install \`${entry.distribution}\` into the session (\`packages.allow\` permits it): install(vv, session, ['${entry.distribution}']) or POST /v1/sessions/:id/install`,
    );
  else if (entry.distribution)
    hints.push(
      `it comes from the distribution \`${entry.distribution}\`; an operator can allow session installs of it with \`packages.allow\``,
    );
  if (entry.debianPackage)
    hints.push(`on the host, Debian provides it: apt-get install ${entry.debianPackage}`);
  if (!entry.distribution && !entry.debianPackage)
    hints.push(
      `\`${entry.module}\` is not installed and no distribution is known for it: check the spelling (on PyPI the distribution is often named like the module)`,
    );
  return hints;
}
