import { stat } from 'node:fs/promises';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Vivarium } from '../engine/index.js';
import { validate, VivariumError } from '../errors/index.js';
import { KernelProcess, type Execution } from '../kernel/index.js';
import { addressSpaceHeadroomMb, newId, type Session } from '../session/index.js';

/** Wall clock of one install (the pip run plus its sandbox start) unless the caller says otherwise. */
export const DEFAULT_INSTALL_TIMEOUT_MS = 300_000;
/** Most requirements one install takes. */
export const MAX_INSTALL_PACKAGES = 50;
/** Where the wheelhouse appears inside the installer's sandbox. */
export const SANDBOX_WHEELHOUSE = '/opt/vivarium/wheelhouse';
/** The session's package directory, relative to its workspace (the reserved folder is not tracked as user files). */
export const SESSION_SITE_PACKAGES = '.vivarium/site-packages';
/** Wall clock of the cell that puts the package directory on the kernel's `sys.path`. */
const ACTIVATE_TIMEOUT_MS = 30_000;

/** The `packages` section of the configuration. */
export type PackagesConfig = Config['packages'];

/** Options of {@link install}. */
export interface InstallOptions {
  /** Wall clock of the pip run. @default DEFAULT_INSTALL_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One distribution pip put into the session's package directory. */
export const installedDistributionSchema = z.object({
  name: z.string(),
  version: z.string(),
  /** The version it replaced in the session's directory, or null. */
  previousVersion: z.string().nullable(),
});

/** Result of {@link install}. */
export const installResultSchema = z.object({
  installed: z.array(installedDistributionSchema),
  /**
   * Requirements of the installed distributions that nothing on the kernel's path satisfies:
   * installs run without dependencies (each one is a separate, allowlisted request).
   */
  unmetRequirements: z.array(
    z.object({ distribution: z.string(), requirement: z.string(), found: z.string().nullable() }),
  ),
  /** The session's package directory, relative to the workspace. */
  targetDir: z.string(),
  /** Where pip looked: the configured wheelhouse and/or index. */
  sources: z.object({ wheelhouse: z.boolean(), indexUrl: z.string().nullable() }),
  /**
   * True when the pip process had network (a remote index is configured); the session's own kernel
   * has it only in execution mode `network`.
   */
  network: z.boolean(),
  /** The session's kernel has the directory on `sys.path`: the packages import without a restart. */
  activated: z.boolean(),
  durationMs: z.number(),
  /** pip's output, the last 8000 characters. */
  log: z.string(),
});
export type InstallResult = z.infer<typeof installResultSchema>;

const toolOutcomeSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    installed: z.array(
      z.object({ name: z.string(), version: z.string(), previousVersion: z.string().nullish() }),
    ),
    unmetRequirements: z.array(
      z.object({
        distribution: z.string().nullish(),
        requirement: z.string(),
        found: z.string().nullish(),
      }),
    ),
    log: z.string(),
  }),
  z.object({
    ok: z.literal(false),
    reason: z.enum(['unavailable', 'timeout', 'pip_failed', 'wheelhouse_unreadable']),
    message: z.string(),
    unavailable: z.array(z.string()).optional(),
    log: z.string(),
  }),
]);

/** `Foo.Bar_baz` → `foo-bar-baz` (PEP 503): how names are compared to `allow` and `deny`. */
export function normalizeDistributionName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const CLAUSE = '(?:===|==|~=|!=|<=|>=|<|>)\\s*[A-Za-z0-9.*+!_-]+';
/** `name` or `name<op>version[, <op>version…]`: no URLs, paths, extras, markers or pip options. */
const REQUIREMENT = new RegExp(`^\\s*(${NAME})\\s*(${CLAUSE}(?:\\s*,\\s*${CLAUSE})*)?\\s*$`);

const packagesSchema = z
  .array(
    z
      .string()
      .max(200)
      .regex(REQUIREMENT, 'a distribution name with an optional version (`name`, `name==1.2`, `name>=1,<2`)'),
  )
  .min(1)
  .max(MAX_INSTALL_PACKAGES);

const installOptionsSchema = z
  .object({
    timeoutMs: z.number().int().positive().max(2_147_483_647).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** A requirement split into its distribution name and version clause. */
export interface ParsedRequirement {
  /** As given (`PyYAML`). */
  name: string;
  /** PEP 503 form (`pyyaml`). */
  normalizedName: string;
  /** `==1.2`, `>=1,<2`, or empty. */
  specifier: string;
}

/** Validates requirement strings; `INVALID_ARGUMENT` in the house form for anything else. */
export function parseRequirements(packages: unknown): ParsedRequirement[] {
  const checked = validate(packagesSchema, packages, 'packages');
  return checked.map((text) => {
    const match = REQUIREMENT.exec(text);
    const name = match?.[1] ?? text.trim();
    return {
      name,
      normalizedName: normalizeDistributionName(name),
      specifier: (match?.[2] ?? '').replace(/\s+/g, ''),
    };
  });
}

/** True when config `packages` lets `name` be installed into sessions (`deny` wins over `allow`). */
export function isInstallAllowed(packages: PackagesConfig, name: string): boolean {
  const normalized = normalizeDistributionName(name);
  if (packages.deny.some((denied) => normalizeDistributionName(denied) === normalized)) return false;
  return packages.allow.some(
    (allowed) => allowed === '*' || normalizeDistributionName(allowed) === normalized,
  );
}

/** Throws `INVALID_ARGUMENT` naming what is refused and what is allowed. */
export function checkInstallAllowed(
  packages: PackagesConfig,
  requirements: readonly ParsedRequirement[],
): void {
  if (packages.allow.length === 0) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      'No package may be installed into sessions: config `packages.allow` is empty (list the distribution names an operator allows, or `*`)',
      { details: { allowed: [], refused: requirements.map((item) => item.name) } },
    );
  }
  const denied = requirements.filter((item) =>
    packages.deny.some((name) => normalizeDistributionName(name) === item.normalizedName),
  );
  const outside = requirements.filter(
    (item) => !denied.includes(item) && !isInstallAllowed(packages, item.name),
  );
  if (denied.length === 0 && outside.length === 0) return;
  const problems = [
    ...denied.map((item) => `\`${item.name}\` is denied by config \`packages.deny\``),
    ...outside.map((item) => `\`${item.name}\` is not in config \`packages.allow\``),
  ];
  throw new VivariumError(
    'INVALID_ARGUMENT',
    `${problems.join('; ')}. Allowed: ${packages.allow.map((name) => `\`${name}\``).join(', ')}`,
    {
      details: {
        refused: [...denied, ...outside].map((item) => item.name),
        denied: denied.map((item) => item.name),
        allowed: [...packages.allow],
      },
    },
  );
}

/** The configured sources; `INVALID_ARGUMENT` when there is none, `CONFIG_INVALID` for a bad wheelhouse. */
async function resolveSources(
  packages: PackagesConfig,
): Promise<{ wheelhouseDir?: string; indexUrl?: string }> {
  if (packages.wheelhouseDir === undefined && packages.indexUrl === undefined) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      'Installing needs a package source: configure `packages.wheelhouseDir` (a directory of wheels) and/or `packages.indexUrl`',
    );
  }
  if (packages.wheelhouseDir !== undefined) {
    const info = await stat(packages.wheelhouseDir).catch(() => null);
    if (!info?.isDirectory()) {
      throw new VivariumError(
        'CONFIG_INVALID',
        `\`packages.wheelhouseDir\` is not a directory: ${packages.wheelhouseDir}`,
        { details: { wheelhouseDir: packages.wheelhouseDir } },
      );
    }
  }
  return {
    ...(packages.wheelhouseDir === undefined ? {} : { wheelhouseDir: packages.wheelhouseDir }),
    ...(packages.indexUrl === undefined ? {} : { indexUrl: packages.indexUrl }),
  };
}

/**
 * The cell that puts the session's package directory on the kernel's `sys.path` (after the
 * stdlib, before the system's packages) and drops the import caches. Self-contained and run in
 * its own globals: it binds nothing in the user's namespace, and replays harmlessly elsewhere.
 */
export const ACTIVATE_PACKAGES_CODE = [
  '# vivarium: packages installed into this session (.vivarium/site-packages) import from now on',
  'exec("""',
  'import importlib, os, sys',
  "path = os.path.join(os.environ.get('VIVARIUM_WORKSPACE') or os.getcwd(), '.vivarium', 'site-packages')",
  'if os.path.isdir(path) and path not in sys.path:',
  "    at = [i for i, p in enumerate(sys.path) if p.endswith(('site-packages', 'dist-packages'))]",
  '    sys.path.insert(at[0] if at else len(sys.path), path)',
  'importlib.invalidate_caches()',
  '""", {})',
].join('\n');

/**
 * Makes packages installed into the session importable by its kernel: {@link install} does it;
 * call it again after `session.restart()` (a fresh kernel starts with the default path).
 * Runs as a (recorded) cell of the session. Resolves true when the cell ran cleanly.
 */
export async function activateSessionPackages(
  session: Session,
  options: { signal?: AbortSignal } = {},
): Promise<boolean> {
  const execution = await session.execute(ACTIVATE_PACKAGES_CODE, {
    timeoutMs: ACTIVATE_TIMEOUT_MS,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return execution.status === 'ok';
}

/** One install at a time per session: two pips on one target directory would trample each other. */
const installsInFlight = new WeakMap<Session, Promise<unknown>>();

/**
 * Installs distributions into one session only: pip (`--target <workspace>/.vivarium/site-packages
 * --no-deps --only-binary :all:`) runs as its own sandboxed process — a kernel on the session's
 * workspace with its uid, limits, cgroup and seccomp, never in the session's kernel — from the
 * configured sources only: `packages.wheelhouseDir` (bound read-only, `--no-index --find-links`:
 * nothing reaches the network) and/or `packages.indexUrl` (then that process, and only it, keeps
 * the host network). Names must be in `packages.allow` and not in `packages.deny`
 * (`INVALID_ARGUMENT` otherwise, listing the allowed names). Afterwards the session's kernel has
 * the directory on `sys.path`: `import` works at once, without a restart.
 *
 * A distribution the sources lack is `TOOL_FAILED` with `details.unavailable`.
 */
export async function install(
  vv: Vivarium,
  session: Session,
  packages: readonly string[],
  options: InstallOptions = {},
): Promise<InstallResult> {
  const requirements = parseRequirements(packages);
  const parsedOptions = validate(installOptionsSchema, options, 'options');
  const config = vv.config.packages;
  const sources = await resolveSources(config);
  checkInstallAllowed(config, requirements);
  const previous = installsInFlight.get(session) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(() => installNow(vv, session, requirements, sources, parsedOptions));
  installsInFlight.set(session, run);
  try {
    return await run;
  } finally {
    if (installsInFlight.get(session) === run) installsInFlight.delete(session);
  }
}

async function installNow(
  vv: Vivarium,
  session: Session,
  requirements: readonly ParsedRequirement[],
  sources: { wheelhouseDir?: string; indexUrl?: string },
  options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined },
): Promise<InstallResult> {
  if (session.state === 'closed')
    throw new VivariumError('SESSION_CLOSED', `Session ${session.id} is closed`);
  if (session.state === 'dead') {
    throw new VivariumError(
      'SESSION_DEAD',
      `Session ${session.id} is dead: ${session.deathReason ?? 'no kernel'}. Call restart() first`,
      { details: { sessionId: session.id } },
    );
  }
  if (session.mode === 'read_only') {
    // The installer writes into the workspace; a read_only session's workspace is never written.
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Session ${session.id} is read_only: installs write into its workspace (${SESSION_SITE_PACKAGES}). Create the session with mode \`workspace_write\` or \`network\` to install packages`,
      { details: { sessionId: session.id, mode: session.mode } },
    );
  }
  const startedAt = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS;
  const network = sources.indexUrl !== undefined;
  const isolated = vv.sandbox.isolated;
  const wheelhouse =
    sources.wheelhouseDir === undefined ? null : isolated ? SANDBOX_WHEELHOUSE : sources.wheelhouseDir;
  const indexHost = sources.indexUrl === undefined ? null : new URL(sources.indexUrl);
  const { execution, payload } = await runInstaller(vv, session, {
    network,
    // With `network`, the sandbox binds what name resolution and TLS need (NETWORK_ETC_BINDS).
    readOnlyBinds:
      sources.wheelhouseDir === undefined
        ? []
        : [{ source: sources.wheelhouseDir, target: SANDBOX_WHEELHOUSE }],
    args: {
      mode: 'install',
      requirements: requirements.map((item) => `${item.name}${item.specifier}`),
      wheelhouse,
      indexUrl: sources.indexUrl ?? null,
      // An operator who configured a plain-http index trusts it.
      trustedHost: indexHost?.protocol === 'http:' ? indexHost.hostname : null,
      timeoutSec: Math.max(1, Math.floor((timeoutMs - 5_000) / 1000)),
    },
    timeoutMs,
    signal: options.signal,
  });
  const outcome = toolOutcomeSchema.safeParse(payload);
  if (!outcome.success) {
    const detail = execution.error
      ? `${execution.error.ename}: ${execution.error.evalue}`
      : (execution.reason ?? execution.status);
    throw new VivariumError('TOOL_FAILED', `The installer failed: ${detail}`, {
      details: { tool: 'install', status: execution.status, stderr: execution.stderr.slice(-4000) },
    });
  }
  const result = outcome.data;
  if (!result.ok) {
    const where = [
      sources.wheelhouseDir === undefined ? null : `wheelhouse ${sources.wheelhouseDir}`,
      sources.indexUrl === undefined ? null : `index ${sources.indexUrl}`,
    ]
      .filter((part) => part !== null)
      .join(' and ');
    if (result.reason === 'wheelhouse_unreadable')
      throw new VivariumError('CONFIG_INVALID', `\`packages.wheelhouseDir\`: ${result.message}`, {
        details: { wheelhouseDir: sources.wheelhouseDir },
      });
    const message =
      result.reason === 'unavailable'
        ? `Not available from the configured sources (${where}): ${(result.unavailable ?? []).map((name) => `\`${name}\``).join(', ')} (${result.message})`
        : result.reason === 'timeout'
          ? `pip did not finish within ${timeoutMs} ms`
          : `pip failed: ${result.message}`;
    throw new VivariumError('TOOL_FAILED', message, {
      details: {
        tool: 'install',
        reason: result.reason,
        unavailable: result.unavailable ?? [],
        log: result.log,
      },
    });
  }
  const activated = await activateSessionPackages(session, options.signal ? { signal: options.signal } : {});
  return {
    installed: result.installed.map((item) => ({
      name: item.name,
      version: item.version,
      previousVersion: item.previousVersion ?? null,
    })),
    unmetRequirements: result.unmetRequirements.map((item) => ({
      distribution: item.distribution ?? '',
      requirement: item.requirement,
      found: item.found ?? null,
    })),
    targetDir: SESSION_SITE_PACKAGES,
    sources: { wheelhouse: sources.wheelhouseDir !== undefined, indexUrl: sources.indexUrl ?? null },
    network,
    activated,
    durationMs: Math.round(performance.now() - startedAt),
    log: result.log,
  };
}

/**
 * Starts the installer's sandbox — a kernel on the session's workspace with the session's uid,
 * limits, cgroup and seccomp, plus the binds and network the sources need — runs the
 * `dependencies` tool's install mode in it, and closes it.
 */
async function runInstaller(
  vv: Vivarium,
  session: Session,
  request: {
    network: boolean;
    readOnlyBinds: Array<{ source: string; target: string; optional?: boolean }>;
    args: Record<string, unknown>;
    timeoutMs: number;
    signal: AbortSignal | undefined;
  },
): Promise<{ execution: Execution; payload: unknown }> {
  const record = session.record();
  const limits = session.limits;
  const cgroups = vv.sandbox.cgroups;
  const cgroup = cgroups.enabled
    ? await cgroups.create(newId('krn'), {
        memoryLimitMb: limits.memoryLimitMb,
        maxProcesses: limits.maxProcesses,
        cpuCores: limits.cpuCores,
      })
    : undefined;
  const spec = vv.sandbox.launchSpec({
    workspaceDir: record.workspace.dir,
    env: record.env,
    cgroupFdCount: cgroup ? cgroup.procsFiles.length : 0,
    network: request.network,
    readOnlyBinds: request.readOnlyBinds,
    ...(record.workspace.uid === undefined ? {} : { uid: record.workspace.uid }),
  });
  const kernel = await KernelProcess.start({
    spec,
    preload: [],
    limits: {
      ...limits,
      ...(cgroup ? { addressSpaceMb: addressSpaceHeadroomMb(limits.memoryLimitMb) } : {}),
    },
    startTimeoutMs: vv.config.session.startTimeoutMs,
    cgroup,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  try {
    // First, the workspace leaves `sys.path`: this process may have network, and nothing the
    // session's code wrote (planted modules) may run in it. The arguments travel as a JSON string
    // literal: never interpolated as code.
    const code = [
      'import os as _vv_os, sys as _vv_sys',
      '_vv_ws = _vv_os.environ.get("VIVARIUM_WORKSPACE") or _vv_os.getcwd()',
      '_vv_sys.path[:] = [p for p in _vv_sys.path if p not in ("", ".", _vv_ws) and not p.startswith(_vv_ws + "/")]',
      'import json as _vv_json',
      'from vivarium_runtime.tools.dependencies import main as _vv_main',
      `_vv_result = _vv_main(_vv_json.loads(${JSON.stringify(JSON.stringify(request.args))}))`,
      'class _VVJson:',
      '    def _repr_json_(self):',
      '        return _vv_result',
      '_VVJson()',
    ].join('\n');
    const execution = await kernel.execute({
      executionId: newId('exe'),
      sessionId: session.id,
      code,
      timeoutMs: request.timeoutMs,
      maxOutputBytes: limits.maxOutputBytes,
      maxDisplayBytes: limits.maxDisplayBytes,
      signal: request.signal,
    });
    return { execution, payload: execution.result?.['application/json'] };
  } finally {
    await kernel.close();
  }
}
