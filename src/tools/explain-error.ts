import { posix } from 'node:path';
import { z } from 'zod';
import { VivariumError } from '../errors/index.js';
import type { Execution, VariableSummary } from '../kernel/index.js';
import type { Session } from '../session/index.js';
import { moduleSource, installHints } from './dependencies.js';
import { isInstallAllowed, type PackagesConfig } from './install.js';
import { runSandboxTool } from './sandbox-tool.js';

/** What kind of failure an execution had. */
export const ERROR_CATEGORIES = [
  'syntax',
  'name',
  'import',
  'type',
  'value',
  'key_index',
  'file_not_found',
  'permission',
  'timeout',
  'memory',
  'recursion',
  'encoding',
  'assertion',
  'keyboard_interrupt',
  'other',
] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/** Concrete help found in the session: close names, files present, columns, what to install. */
export const errorSuggestionsSchema = z.object({
  /** The name, attribute, key, path or module the error is about. */
  subject: z.string().optional(),
  /** Close matches of `subject` (difflib's get_close_matches), best first. */
  closeMatches: z.array(z.string()).optional(),
  /** Workspace files present (FileNotFoundError), paths relative to /workspace. */
  files: z.array(z.string()).optional(),
  /** Columns of the session's DataFrames, by variable name (KeyError). */
  columns: z.record(z.string(), z.array(z.string())).optional(),
  /** The missing module (import errors) and where it comes from. */
  module: z.string().optional(),
  distribution: z.string().optional(),
  debianPackage: z.string().optional(),
  /** True when config `packages` lets `distribution` be installed into the session. */
  installable: z.boolean().optional(),
  /** NameError of a usual alias (`np`, `pd`, `plt`): the import that binds it. */
  importStatement: z.string().optional(),
});
export type ErrorSuggestions = z.infer<typeof errorSuggestionsSchema>;

/** Result of {@link explainError}. */
export const errorExplanationSchema = z.object({
  category: z.enum(ERROR_CATEGORIES),
  /** One sentence: what went wrong, in the user's terms. */
  summary: z.string(),
  /** What to do about it, most specific first. */
  hints: z.array(z.string()),
  /** The error explained; null when the execution has none (a memory kill, a kill by the host). */
  error: z.object({ ename: z.string(), evalue: z.string(), line: z.number().int().nullable() }).nullable(),
  suggestions: errorSuggestionsSchema,
  /** A free-text explanation from the configured {@link ErrorNarrator} (the pipeline's LLM), or null. */
  narrative: z.object({ source: z.string(), text: z.string() }).nullable(),
});
export type ErrorExplanation = z.infer<typeof errorExplanationSchema>;

/**
 * The extension point for explanations beyond the deterministic ones: the pipeline plugs an LLM
 * generator in here. It sees the failed execution and the deterministic explanation, and answers
 * text (or null to say nothing). A narrator that throws is ignored: the deterministic part stands.
 */
export interface ErrorNarrator {
  /** Shown as `narrative.source` (`llm:<model>`, …). */
  readonly name: string;
  narrate(input: {
    execution: Execution;
    code: string | undefined;
    explanation: Omit<ErrorExplanation, 'narrative'>;
    signal?: AbortSignal;
  }): Promise<string | null>;
}

/** Options of {@link explainError}. */
export interface ExplainErrorOptions {
  /**
   * The session the execution ran in: its variables (close names, DataFrame columns), its
   * workspace files, and a side kernel for `dir()` of modules and types. Without it the hints
   * come from the error alone. @default undefined
   */
  session?: Session;
  /** The cell's code, to quote the failing line. @default undefined */
  code?: string;
  /** Config `packages`, to say whether a missing distribution can be installed into the session. @default undefined: not installable */
  packages?: PackagesConfig;
  /** Adds `narrative` (see {@link ErrorNarrator}). @default undefined: `narrative` is null */
  narrator?: ErrorNarrator;
  signal?: AbortSignal;
}

/** Most close matches returned, and difflib's default similarity cutoff. */
const MAX_CLOSE_MATCHES = 3;
const CLOSE_MATCH_CUTOFF = 0.6;
/** Most workspace entries looked at for a FileNotFoundError, and shown. */
const MAX_LISTED_FILES = 500;
const MAX_SHOWN_FILES = 50;

/** Python 3.11 builtins (`dir(builtins)` without dunders) plus what the runtime adds. */
export const PYTHON_BUILTIN_NAMES: readonly string[] = (
  'ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError BrokenPipeError ' +
  'BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError ' +
  'ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception ' +
  'ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ' +
  'ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError ' +
  'KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError None NotADirectoryError NotImplemented ' +
  'NotImplementedError OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError ' +
  'RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration ' +
  'SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True TypeError UnboundLocalError ' +
  'UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning ValueError ' +
  'Warning ZeroDivisionError abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr ' +
  'classmethod compile complex copyright credits delattr dict dir divmod enumerate eval exec exit filter float ' +
  'format frozenset getattr globals hasattr hash help hex id input int isinstance issubclass iter len license list ' +
  'locals map max memoryview min next object oct open ord pow print property quit range repr reversed round set ' +
  'setattr slice sorted staticmethod str sum super tuple type vars zip display clear_output update_display'
).split(' ');

/** Usual import aliases: a NameError on one of these is a missing import. */
const USUAL_IMPORTS: Readonly<Record<string, string>> = {
  np: 'import numpy as np',
  pd: 'import pandas as pd',
  plt: 'import matplotlib.pyplot as plt',
  sns: 'import seaborn as sns',
  sp: 'import scipy as sp',
  stats: 'from scipy import stats',
  sm: 'import statsmodels.api as sm',
  mpl: 'import matplotlib as mpl',
  nx: 'import networkx as nx',
  tf: 'import tensorflow as tf',
  torch: 'import torch',
  os: 'import os',
  sys: 'import sys',
  re: 'import re',
  json: 'import json',
  math: 'import math',
  random: 'import random',
  time: 'import time',
  datetime: 'from datetime import datetime',
  date: 'from datetime import date',
  timedelta: 'from datetime import timedelta',
  Path: 'from pathlib import Path',
  defaultdict: 'from collections import defaultdict',
  Counter: 'from collections import Counter',
  namedtuple: 'from collections import namedtuple',
  dataclass: 'from dataclasses import dataclass',
  partial: 'from functools import partial',
  reduce: 'from functools import reduce',
  itertools: 'import itertools',
  csv: 'import csv',
  glob: 'import glob',
  pickle: 'import pickle',
  requests: 'import requests',
};

/**
 * difflib's `SequenceMatcher(None, a, b)` count of matching characters (no junk: names are far
 * shorter than the 200 characters where autojunk starts).
 */
function matchingCharacters(a: string, b: string): number {
  const match = (aLow: number, aHigh: number, bLow: number, bHigh: number): number => {
    let bestI = aLow;
    let bestJ = bLow;
    let bestSize = 0;
    let lengths = new Map<number, number>();
    for (let i = aLow; i < aHigh; i += 1) {
      const next = new Map<number, number>();
      for (let j = bLow; j < bHigh; j += 1) {
        if (a[i] !== b[j]) continue;
        const size = (lengths.get(j - 1) ?? 0) + 1;
        next.set(j, size);
        if (size > bestSize) {
          bestI = i - size + 1;
          bestJ = j - size + 1;
          bestSize = size;
        }
      }
      lengths = next;
    }
    if (bestSize === 0) return 0;
    return (
      bestSize + match(aLow, bestI, bLow, bestJ) + match(bestI + bestSize, aHigh, bestJ + bestSize, bHigh)
    );
  };
  return match(0, a.length, 0, b.length);
}

/** difflib's `get_close_matches(word, possibilities, n, cutoff)`: best first, ties by name descending. */
export function closeMatches(
  word: string,
  possibilities: Iterable<string>,
  count = MAX_CLOSE_MATCHES,
  cutoff = CLOSE_MATCH_CUTOFF,
): string[] {
  const scored: Array<[number, string]> = [];
  for (const candidate of new Set(possibilities)) {
    if (candidate === word || candidate.length + word.length === 0) continue;
    const ratio = (2 * matchingCharacters(candidate, word)) / (candidate.length + word.length);
    if (ratio >= cutoff) scored.push([ratio, candidate]);
  }
  scored.sort((x, y) => y[0] - x[0] || (x[1] < y[1] ? 1 : x[1] > y[1] ? -1 : 0));
  return scored.slice(0, count).map(([, candidate]) => candidate);
}

/** The first quoted string of a Python message (`name 'x' is not defined` → `x`). */
function quoted(text: string): string | null {
  const match = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/.exec(text);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

/** Line in the cell of the innermost cell frame of a traceback, or the SyntaxError's own. */
function errorLine(execution: Execution): number | null {
  const error = execution.error;
  if (!error) return null;
  if (typeof error.line === 'number') return error.line;
  let line: number | null = null;
  // eslint-disable-next-line no-control-regex -- tracebacks may carry ANSI colours
  const text = error.traceback.join('\n').replace(/\u001b\[[0-9;]*m/g, '');
  for (const match of text.matchAll(/File "<cell-[^>]*>", line (\d+)/g)) line = Number(match[1]);
  return line;
}

/** The category of a failed execution: status first (timeout, memory, interrupt), then the exception. */
export function categorize(execution: Pick<Execution, 'status' | 'error'>): ErrorCategory {
  if (execution.status === 'timeout') return 'timeout';
  if (execution.status === 'memory_exceeded') return 'memory';
  if (execution.status === 'interrupted') return 'keyboard_interrupt';
  const error = execution.error;
  if (!error) return 'other';
  const { ename, evalue } = error;
  switch (ename) {
    case 'SyntaxError':
    case 'IndentationError':
    case 'TabError':
      return 'syntax';
    case 'NameError':
    case 'UnboundLocalError':
    case 'AttributeError':
      return 'name';
    case 'ModuleNotFoundError':
    case 'ImportError':
      return 'import';
    case 'TypeError':
      return 'type';
    case 'ValueError':
    case 'ZeroDivisionError':
    case 'OverflowError':
    case 'FloatingPointError':
    case 'ArithmeticError':
    case 'JSONDecodeError':
    case 'ParserError':
    case 'EmptyDataError':
    case 'DateParseError':
    case 'OutOfBoundsDatetime':
      return 'value';
    case 'KeyError':
    case 'IndexError':
      return 'key_index';
    case 'FileNotFoundError':
    case 'IsADirectoryError':
    case 'NotADirectoryError':
      return 'file_not_found';
    case 'PermissionError':
      return 'permission';
    case 'TimeoutError':
      return 'timeout';
    case 'MemoryError':
      return 'memory';
    case 'RecursionError':
      return 'recursion';
    case 'UnicodeDecodeError':
    case 'UnicodeEncodeError':
    case 'UnicodeError':
    case 'UnicodeTranslateError':
      return 'encoding';
    case 'AssertionError':
      return 'assertion';
    case 'KeyboardInterrupt':
      return 'keyboard_interrupt';
    default:
      break;
  }
  if (/Read-only file system|Operation not permitted|Permission denied/.test(evalue)) return 'permission';
  if (isNetworkFailure(ename, evalue)) return 'permission';
  if (/unknown encoding|codec can't/.test(evalue)) return 'encoding';
  return 'other';
}

function isNetworkFailure(ename: string, evalue: string): boolean {
  return (
    /^(gaierror|ConnectionError|ConnectionRefusedError|URLError|NewConnectionError|MaxRetryError|ConnectTimeout)$/.test(
      ename,
    ) ||
    /Network is unreachable|Temporary failure in name resolution|Name or service not known|No address associated/.test(
      evalue,
    )
  );
}

/** What a session can tell, each part fetched once and on demand; failures leave it out. */
class SessionFacts {
  private variablesPromise: Promise<VariableSummary[]> | null = null;

  constructor(
    private readonly session: Session | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  variables(): Promise<VariableSummary[]> {
    if (!this.session) return Promise.resolve([]);
    this.variablesPromise ??= this.session
      .variables(this.signal ? { signal: this.signal } : {})
      .catch(() => []);
    return this.variablesPromise;
  }

  async files(): Promise<string[]> {
    if (!this.session) return [];
    try {
      const listing = await this.session.files.list('', { recursive: true, maxEntries: MAX_LISTED_FILES });
      return listing.entries
        .filter((entry) => entry.type === 'file' && !entry.path.startsWith('.vivarium/'))
        .map((entry) => entry.path);
    } catch {
      return [];
    }
  }

  /** `dir()` of a module or type, from a side kernel on the session's workspace; [] when unknown. */
  async attributes(kind: 'module' | 'type', name: string): Promise<string[]> {
    if (!this.session || !/^[A-Za-z_][\w.]*$/.test(name)) return [];
    try {
      const { result } = await runSandboxTool(
        {
          session: this.session,
          tool: 'validation',
          args: { mode: 'attributes', kind, name },
          timeoutMs: 30_000,
          ...(this.signal ? { signal: this.signal } : {}),
        },
        z.object({ found: z.boolean(), attributes: z.array(z.string()) }),
      );
      return result.attributes;
    } catch {
      return [];
    }
  }
}

type Draft = Omit<ErrorExplanation, 'narrative' | 'error' | 'category'>;

function sourceLine(code: string | undefined, line: number | null): string | null {
  if (code === undefined || line === null) return null;
  const text = code.split('\n')[line - 1];
  return text === undefined ? null : text.trim();
}

async function explainName(error: { ename: string; evalue: string }, facts: SessionFacts): Promise<Draft> {
  if (error.ename === 'AttributeError') return explainAttribute(error.evalue, facts);
  const name = quoted(error.evalue) ?? '';
  const variables = await facts.variables();
  const matches = closeMatches(name, [
    ...variables.map((variable) => variable.name),
    ...PYTHON_BUILTIN_NAMES,
  ]);
  const hints: string[] = [];
  const usual = USUAL_IMPORTS[name];
  if (usual)
    hints.push(
      `\`${name}\` is usually bound by an import: add \`${usual}\` (imports of earlier cells stay bound, a restart drops them)`,
    );
  if (matches.length > 0) hints.push(`did you mean ${matches.map((match) => `\`${match}\``).join(' or ')}?`);
  if (error.ename === 'UnboundLocalError')
    hints.push(
      `\`${name}\` is assigned inside the function, which makes it local there: declare it \`global ${name}\` or pass it as an argument`,
    );
  else if (!usual)
    hints.push(
      `define \`${name}\` before this line, or run the cell that defines it first (a restart or a failed earlier cell loses variables)`,
    );
  return {
    summary: `\`${name}\` is not defined${error.ename === 'UnboundLocalError' ? ' (as a local variable) where it is used' : ''}`,
    hints,
    suggestions: {
      subject: name,
      closeMatches: matches,
      ...(usual ? { importStatement: usual } : {}),
    },
  };
}

async function explainAttribute(evalue: string, facts: SessionFacts): Promise<Draft> {
  const moduleMatch = /^module '([\w.]+)' has no attribute '(\w+)'/.exec(evalue);
  const objectMatch = /^(?:type object )?'([\w.]+)'(?: object)? has no attribute '(\w+)'/.exec(evalue);
  const kind = moduleMatch ? 'module' : 'type';
  const owner = moduleMatch?.[1] ?? objectMatch?.[1] ?? null;
  const attribute = moduleMatch?.[2] ?? objectMatch?.[2] ?? quoted(evalue.split('attribute')[1] ?? '') ?? '';
  const hints: string[] = [];
  let candidates: string[] = [];
  if (owner !== null && owner !== 'NoneType') candidates = await facts.attributes(kind, owner);
  if (owner === 'DataFrame' || owner === 'Series') {
    // `df.colx` reads a column as an attribute: the columns are candidates too.
    for (const variable of await facts.variables()) candidates.push(...(variable.columns ?? []));
  }
  const matches = closeMatches(attribute, candidates);
  if (owner === 'NoneType')
    hints.push(
      'the object is None: a function or method returned None (in-place methods such as `list.sort()` or `df.drop(..., inplace=True)` do), or a variable was never set',
    );
  if (matches.length > 0) hints.push(`did you mean ${matches.map((match) => `\`${match}\``).join(' or ')}?`);
  if (kind === 'module' && owner !== null)
    hints.push(
      `\`${owner}\` has no \`${attribute}\` in the installed version: check the spelling and the library's docs for this version (dependencies() shows it)`,
    );
  else if (owner !== null && owner !== 'NoneType')
    hints.push(`objects of type \`${owner}\` have no \`${attribute}\`: \`dir(obj)\` lists what they have`);
  return {
    summary:
      owner === null
        ? `the attribute \`${attribute}\` does not exist`
        : `${kind === 'module' ? 'module' : 'type'} \`${owner}\` has no attribute \`${attribute}\``,
    hints,
    suggestions: { subject: attribute, closeMatches: matches },
  };
}

async function explainImport(
  error: { ename: string; evalue: string },
  facts: SessionFacts,
  packages: PackagesConfig | undefined,
): Promise<Draft> {
  const cannot = /^cannot import name '(\w+)' from '([\w.]+)'/.exec(error.evalue);
  if (cannot) {
    const [, name = '', module = ''] = cannot;
    const matches = closeMatches(name, await facts.attributes('module', module));
    return {
      summary: `\`${module}\` has no \`${name}\` to import`,
      hints: [
        ...(matches.length > 0
          ? [`did you mean ${matches.map((match) => `\`${match}\``).join(' or ')}?`]
          : []),
        `check the spelling, and that the installed version of \`${module.split('.')[0] ?? module}\` has \`${name}\` (it may have moved or been renamed)`,
        ...(error.evalue.includes('circular import')
          ? ['the message says circular import: two modules import each other at import time']
          : []),
      ],
      suggestions: { subject: name, closeMatches: matches, module },
    };
  }
  const module = quoted(error.evalue) ?? '';
  const top = module.split('.')[0] ?? module;
  const source = moduleSource(top);
  const distribution = source?.distribution ?? (source ? undefined : top);
  const installable =
    distribution !== undefined && packages !== undefined && isInstallAllowed(packages, distribution);
  const hints = installHints({ module: top, ...(source ?? {}) }, installable);
  if (top !== module)
    hints.unshift(`\`${top}\` may be installed without the submodule \`${module}\`: check the name`);
  return {
    summary: `the module \`${module}\` is not installed in the kernel's Python`,
    hints,
    suggestions: {
      subject: module,
      module: top,
      ...(distribution ? { distribution } : {}),
      ...(source?.debianPackage ? { debianPackage: source.debianPackage } : {}),
      installable,
    },
  };
}

async function explainKey(error: { ename: string; evalue: string }, facts: SessionFacts): Promise<Draft> {
  if (error.ename === 'IndexError') {
    return {
      summary: `an index is out of range: ${error.evalue}`,
      hints: [
        'indexes start at 0 and end at len(x) - 1; negative ones count from the end',
        'check the length first (`len(x)`), or for pandas use `.iloc` for positions and `.loc` for labels',
      ],
      suggestions: {},
    };
  }
  const key = quoted(error.evalue) ?? error.evalue;
  const variables = await facts.variables();
  const columns: Record<string, string[]> = {};
  const candidates: string[] = [];
  for (const variable of variables) {
    if (variable.columns && variable.columns.length > 0) {
      columns[variable.name] = variable.columns;
      candidates.push(...variable.columns);
    }
    for (const dictKey of variable.keys ?? []) candidates.push(quoted(dictKey) ?? dictKey);
  }
  const matches = closeMatches(key, candidates);
  const lowered = candidates.filter(
    (candidate) => candidate.toLowerCase() === key.toLowerCase() && candidate !== key,
  );
  const ordered = [...new Set([...lowered, ...matches])].slice(0, MAX_CLOSE_MATCHES);
  const hints: string[] = [];
  if (ordered.length > 0) hints.push(`did you mean ${ordered.map((match) => `\`${match}\``).join(' or ')}?`);
  const frames = Object.entries(columns);
  if (frames.length > 0)
    hints.push(
      ...frames
        .slice(0, 5)
        .map(
          ([name, names]) =>
            `\`${name}\` has the columns ${names.map((column) => `\`${column}\``).join(', ')}`,
        ),
    );
  hints.push(
    frames.length > 0
      ? 'column names are case- and space-sensitive: `df.columns = df.columns.str.strip()` trims stray spaces'
      : 'use `.get(key)` for a default instead of an error, or check `key in d` first',
  );
  return {
    summary: `the key \`${key}\` does not exist`,
    hints,
    suggestions: {
      subject: key,
      closeMatches: ordered,
      ...(frames.length > 0 ? { columns } : {}),
    },
  };
}

async function explainFile(error: { ename: string; evalue: string }, facts: SessionFacts): Promise<Draft> {
  const path = /: '(.*)'$|: "(.*)"$/.exec(error.evalue);
  const missing = path?.[1] ?? path?.[2] ?? quoted(error.evalue) ?? '';
  const files = await facts.files();
  const base = posix.basename(missing);
  const relative = missing.startsWith('/workspace/') ? missing.slice('/workspace/'.length) : missing;
  const matches = closeMatches(relative, files);
  const byName = files.filter((file) => posix.basename(file) === base && file !== relative);
  const ordered = [
    ...new Set([
      ...byName,
      ...matches,
      ...closeMatches(
        base,
        files.map((file) => posix.basename(file)),
      ),
    ]),
  ]
    .filter((file) => file !== base || files.includes(file))
    .slice(0, MAX_CLOSE_MATCHES);
  const hints: string[] = [];
  if (error.ename === 'IsADirectoryError') hints.push(`\`${missing}\` is a directory: open a file inside it`);
  else if (error.ename === 'NotADirectoryError')
    hints.push(`a part of \`${missing}\` is a file, not a directory`);
  if (ordered.length > 0) hints.push(`did you mean ${ordered.map((file) => `\`${file}\``).join(' or ')}?`);
  if (missing.startsWith('/') && !missing.startsWith('/workspace') && !missing.startsWith('/tmp'))
    hints.push(
      'the sandbox sees only its workspace (/workspace, the current directory) and /tmp: upload the file to the workspace and open it by a relative path',
    );
  hints.push(
    files.length > 0
      ? `files in the workspace: ${files.slice(0, MAX_SHOWN_FILES).join(', ')}${files.length > MAX_SHOWN_FILES ? ', …' : ''}`
      : 'the workspace has no files: upload the file first',
  );
  return {
    summary:
      error.ename === 'FileNotFoundError'
        ? `the file \`${missing}\` does not exist`
        : `\`${missing}\` is not the kind of path the code expects`,
    hints,
    suggestions: { subject: missing, closeMatches: ordered, files: files.slice(0, MAX_SHOWN_FILES) },
  };
}

function explainStatus(execution: Execution, session: Session | undefined): Draft | null {
  const limits = session?.limits;
  if (execution.status === 'timeout') {
    return {
      summary: `the cell ran past its time limit${limits ? ` (${limits.timeoutMs} ms)` : ''} and the kernel was stopped (variables are lost)`,
      hints: [
        'look for a loop that never ends or an input() waiting forever',
        'work on a sample first (`df.head(1000)`, fewer iterations), and vectorize loops with numpy/pandas',
        'pass a longer `timeoutMs` for this execution, within the session limit',
        'restart the session before the next cell: the kernel was killed',
      ],
      suggestions: {},
    };
  }
  if (execution.status === 'memory_exceeded') {
    return {
      summary: `the cell used more memory than the kernel may${limits ? ` (${limits.memoryLimitMb} MB)` : ''} and the kernel was killed (variables are lost)`,
      hints: [
        'read only what is needed: `pd.read_csv(..., usecols=[...], nrows=..., chunksize=...)`',
        'use smaller dtypes (`float32`, `category`) and `del` large intermediates',
        'avoid building huge Python lists or cartesian joins; process in chunks',
        'restart the session before the next cell: the kernel was killed',
      ],
      suggestions: {},
    };
  }
  if (execution.status === 'interrupted') {
    return {
      summary: 'the cell was interrupted (KeyboardInterrupt) before it finished; variables are kept',
      hints: ['run it again, on less data or with a longer timeout, if it was simply slow'],
      suggestions: {},
    };
  }
  if (execution.status === 'killed') {
    return {
      summary: `the kernel was killed: ${execution.reason ?? 'no reason given'}`,
      hints: ['restart the session (files are kept, variables are lost) and run the cells again'],
      suggestions: {},
    };
  }
  return null;
}

function explainOther(category: ErrorCategory, error: { ename: string; evalue: string }): Draft {
  const { ename, evalue } = error;
  switch (category) {
    case 'type':
      return {
        summary: `an operation got a value of the wrong type: ${evalue}`,
        hints: [
          /NoneType/.test(evalue)
            ? 'a value is None: a function returned nothing (in-place methods return None) or a lookup found nothing'
            : 'check the types involved (`type(x)`): convert with `int()`, `float()`, `str()` or `pd.to_numeric()`',
          /argument|positional|keyword/.test(evalue)
            ? "the call's arguments do not match the function's signature: `help(function)` shows it"
            : 'strings and numbers do not mix: format with f-strings, parse with int()/float()',
        ],
        suggestions: {},
      };
    case 'value':
      return {
        summary: `a value was not acceptable: ${ename}: ${evalue}`,
        hints: [
          ename === 'ZeroDivisionError'
            ? 'a divisor is zero: guard it (`if d else ...`) or use numpy, which gives inf/nan'
            : /could not convert|invalid literal/.test(evalue)
              ? "the text is not a number: clean it (strip, remove ',' or '%') or use `pd.to_numeric(..., errors='coerce')`"
              : /JSON|Expecting/.test(ename + evalue)
                ? 'the text is not valid JSON: print its start to see what it really is'
                : 'print the value (and its shape or length) just before the failing line',
          'check the data against what the function expects (shapes, ranges, formats)',
        ],
        suggestions: {},
      };
    case 'permission':
      return isNetworkFailure(ename, evalue)
        ? {
            summary: 'the code tried to reach the network, which the sandbox does not allow',
            hints: [
              'kernels have no network: upload the data to the workspace instead of downloading it',
              'packages come from the session install (configured wheelhouse or index), not from pip inside the cell',
            ],
            suggestions: {},
          }
        : {
            summary: `the sandbox refused the operation: ${evalue}`,
            hints: [
              'only the workspace (/workspace, the current directory) and /tmp are writable',
              'write outputs under the workspace with relative paths',
            ],
            suggestions: {},
          };
    case 'recursion':
      return {
        summary: 'a function called itself too deeply (maximum recursion depth exceeded)',
        hints: [
          'check the base case: the recursion must stop',
          'rewrite deep recursion as a loop with an explicit stack',
        ],
        suggestions: {},
      };
    case 'encoding':
      return {
        summary: `text could not be decoded or encoded: ${evalue}`,
        hints: [
          "the file is not UTF-8: try `encoding='latin-1'` or `encoding='cp1252'`, or detect it with chardet (`chardet.detect(open(path, 'rb').read(100000))`)",
          "for pandas: `pd.read_csv(path, encoding='latin-1')`; to skip bad bytes: `errors='replace'`",
        ],
        suggestions: {},
      };
    case 'assertion':
      return {
        summary: evalue ? `an assertion failed: ${evalue}` : 'an assertion failed',
        hints: ['the asserted condition was false: print the values it compares just before it'],
        suggestions: {},
      };
    case 'memory':
      return {
        summary: 'Python ran out of memory (MemoryError)',
        hints: ['work in chunks and with smaller dtypes; avoid building huge lists'],
        suggestions: {},
      };
    case 'timeout':
      return {
        summary: `an operation timed out: ${evalue}`,
        hints: ['the kernel has no network; anything waiting on a connection times out'],
        suggestions: {},
      };
    case 'keyboard_interrupt':
      return {
        summary: 'the cell was interrupted (KeyboardInterrupt)',
        hints: ['run it again, on less data, if it was simply slow'],
        suggestions: {},
      };
    default:
      return {
        summary: `${ename}: ${evalue}`,
        hints: ['read the last lines of the traceback: they point at the failing call'],
        suggestions: {},
      };
  }
}

function explainSyntax(
  error: { ename: string; evalue: string; line?: number | null; column?: number | null },
  code: string | undefined,
): Draft {
  const line = typeof error.line === 'number' ? error.line : null;
  const text = sourceLine(code, line);
  const hints: string[] = [];
  if (/never closed|unmatched|unexpected EOF/.test(error.evalue))
    hints.push(
      'a bracket or quote is not closed (or closed twice): count them on this line and the ones before',
    );
  if (error.ename !== 'SyntaxError' || /indent/.test(error.evalue))
    hints.push('indent blocks consistently with 4 spaces; do not mix tabs and spaces');
  if (/expected ':'/.test(error.evalue))
    hints.push('`if`, `for`, `while`, `def` and `class` lines end with `:`');
  if (/print /.test(text ?? '') && /Missing parentheses/.test(error.evalue))
    hints.push('in Python 3, print is a function: `print(x)`');
  hints.push('validate() reports syntax errors with a caret before running code');
  return {
    summary: `the code does not parse${line === null ? '' : ` at line ${line}${typeof error.column === 'number' ? `, column ${error.column}` : ''}`}: ${error.evalue}${text ? ` — \`${text}\`` : ''}`,
    hints,
    suggestions: {},
  };
}

/**
 * Explains a failed execution, deterministically: a category, a one-line summary and concrete
 * hints — close names for a NameError / AttributeError (the session's variables, builtins,
 * `dir()` of the module or type), the files present for a FileNotFoundError, the distribution
 * and Debian package of a missing module (and whether `packages.allow` lets it be installed),
 * the columns present for a pandas KeyError, what to do after a timeout or a memory kill.
 * A configured {@link ErrorNarrator} adds `narrative` on top (the pipeline's LLM, later).
 *
 * `INVALID_ARGUMENT` for an execution that did not fail (status `ok`).
 */
export async function explainError(
  execution: Execution,
  options: ExplainErrorOptions = {},
): Promise<ErrorExplanation> {
  if (typeof execution !== 'object' || execution === null || typeof execution.status !== 'string') {
    throw new VivariumError('INVALID_ARGUMENT', 'Expected `execution` to be an Execution');
  }
  if (execution.status === 'ok') {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Execution ${execution.id} did not fail (status \`ok\`): there is no error to explain`,
    );
  }
  const category = categorize(execution);
  const facts = new SessionFacts(options.session, options.signal);
  const error = execution.error;
  let draft = explainStatus(execution, options.session);
  if (draft === null && error) {
    switch (category) {
      case 'syntax':
        draft = explainSyntax(error, options.code);
        break;
      case 'name':
        draft = await explainName(error, facts);
        break;
      case 'import':
        draft = await explainImport(error, facts, options.packages);
        break;
      case 'key_index':
        draft = await explainKey(error, facts);
        break;
      case 'file_not_found':
        draft = await explainFile(error, facts);
        break;
      default:
        draft = explainOther(category, error);
    }
  }
  draft ??= explainOther('other', { ename: execution.status, evalue: execution.reason ?? '' });
  const line = errorLine(execution);
  const quotedLine = category === 'syntax' ? null : sourceLine(options.code, line);
  const explanation: Omit<ErrorExplanation, 'narrative'> = {
    category,
    summary: quotedLine ? `${draft.summary} (line ${line}: \`${quotedLine}\`)` : draft.summary,
    hints: draft.hints,
    error: error ? { ename: error.ename, evalue: error.evalue, line } : null,
    suggestions: draft.suggestions,
  };
  let narrative: ErrorExplanation['narrative'] = null;
  if (options.narrator) {
    try {
      const text = await options.narrator.narrate({
        execution,
        code: options.code,
        explanation,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (text) narrative = { source: options.narrator.name, text };
    } catch {
      // The deterministic explanation stands on its own.
    }
  }
  return { ...explanation, narrative };
}
