import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXECUTION_MODES, ISOLATION_MODES, type ExecutionMode, type Limits } from '../config/index.js';
import type { VivariumOptions } from '../engine/index.js';
import { flagExpectation } from './usage-error.js';

/** Longest `--timeout` accepted, in seconds: Node timers hold at most 2^31-1 ms (about 24.8 days). */
export const MAX_TIMEOUT_SEC = Math.floor(2_147_483_647 / 1000);
/** Smallest `--memory` accepted, in MB: what the engine's limits schema accepts. */
export const MIN_MEMORY_MB = 64;

/** Flags that choose how the engine starts, shared by `run`, `repl` and `doctor` (raw commander values). */
export interface EngineFlags {
  isolation?: string;
  data?: string;
  config?: string;
  /** False after `--no-preload`. */
  preload?: boolean;
}

/** Flags that set limits of the session, shared by `run` and `repl` (raw commander values). */
export interface LimitFlags {
  timeout?: string;
  memory?: string;
}

/** The `--mode` flag of `run` and `repl` (raw commander value). */
export interface ModeFlags {
  mode?: string;
}

/** Registers `--mode <mode>` (the session's execution mode) on a command. */
export function addModeFlag(command: Command): Command {
  return command.option(
    '--mode <mode>',
    `what the code may touch, enforced by the sandbox: ${EXECUTION_MODES.join(' | ')} (read_only: the workspace is read-only; network: the host network) (default: config \`policy.mode\`, else workspace_write)`,
  );
}

/** `--mode read_only|workspace_write|network`. */
export function parseMode(raw: string): ExecutionMode {
  const mode = EXECUTION_MODES.find((candidate) => candidate === raw);
  if (mode === undefined)
    throw flagExpectation('--mode', `one of ${EXECUTION_MODES.map((m) => `\`${m}\``).join(', ')}`, raw);
  return mode;
}

/** The execution mode the flags ask for; undefined leaves config `policy.mode` in charge. */
export function modeFromFlags(flags: ModeFlags): ExecutionMode | undefined {
  return flags.mode === undefined ? undefined : parseMode(flags.mode);
}

/** Registers `--isolation`, `--data`, `--config` on a command. */
export function addEngineFlags(command: Command): Command {
  return command
    .option(
      '--isolation <mode>',
      `sandboxing: ${ISOLATION_MODES.join(' | ')} (none runs code UNSANDBOXED) (default: config, else strict)`,
    )
    .option(
      '--data <dir>',
      'data directory: workspaces and runtime (default: config, else /var/lib/vivarium for root, ~/.local/share/vivarium otherwise)',
    )
    .option(
      '--config <file>',
      'config file, JSON or YAML (default: vivarium.config.json|yaml|yml in the cwd, or $VIVARIUM_CONFIG)',
    );
}

/** Registers `--timeout`, `--memory`, `--workspace`, `--no-preload` on a command. */
export function addSessionFlags(command: Command): Command {
  return command
    .option('--timeout <sec>', 'wall-clock limit of each execution, in seconds (default: config, else 60)')
    .option(
      '--memory <mb>',
      `memory limit of the kernel, in MB, at least ${MIN_MEMORY_MB} (default: config, else 2048)`,
    )
    .option(
      '--workspace <dir>',
      'use this existing directory as the workspace (/workspace, the cwd of the code); kept afterwards',
    )
    .option(
      '--no-preload',
      'import no modules at kernel start (faster start when numpy/pandas/matplotlib are not needed)',
    );
}

/** `--timeout 1.5` → 1500 (ms). */
export function parseTimeoutSeconds(raw: string): number {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(seconds > 0) || seconds > MAX_TIMEOUT_SEC) {
    throw flagExpectation('--timeout', `a positive number of seconds (at most ${MAX_TIMEOUT_SEC})`, raw);
  }
  return Math.ceil(seconds * 1000);
}

/** `--memory 512` → 512 (MB). */
export function parseMemoryMb(raw: string): number {
  const megabytes = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(megabytes) || megabytes < MIN_MEMORY_MB) {
    throw flagExpectation('--memory', `a whole number of MB >= ${MIN_MEMORY_MB}`, raw);
  }
  return megabytes;
}

/** `--isolation strict|none`. */
export function parseIsolation(raw: string): (typeof ISOLATION_MODES)[number] {
  const mode = ISOLATION_MODES.find((candidate) => candidate === raw);
  if (mode === undefined)
    throw flagExpectation('--isolation', `one of ${ISOLATION_MODES.map((m) => `\`${m}\``).join(', ')}`, raw);
  return mode;
}

/** The options of `Vivarium.start` / `Vivarium.inspect` the flags ask for; unset flags leave config and env in charge. */
export function engineOptionsFromFlags(flags: EngineFlags): VivariumOptions {
  const options: VivariumOptions = {};
  if (flags.isolation !== undefined) options.isolation = parseIsolation(flags.isolation);
  if (flags.data !== undefined) {
    if (flags.data.trim() === '') throw flagExpectation('--data', 'a directory path', flags.data);
    options.dataDir = resolve(flags.data);
  }
  if (flags.config !== undefined) {
    if (flags.config.trim() === '') throw flagExpectation('--config', 'a file path', flags.config);
    options.configFile = resolve(flags.config);
  }
  if (flags.preload === false) options.preload = [];
  return options;
}

/** The limits the flags ask for, over the configured ones. */
export function limitsFromFlags(flags: LimitFlags): Partial<Limits> {
  const limits: Partial<Limits> = {};
  if (flags.timeout !== undefined) limits.timeoutMs = parseTimeoutSeconds(flags.timeout);
  if (flags.memory !== undefined) limits.memoryLimitMb = parseMemoryMb(flags.memory);
  return limits;
}
