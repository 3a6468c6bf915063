import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { isVivariumClientError } from '../../client/index.js';
import {
  APPROVAL_MODES,
  LLM_PROVIDERS,
  MAX_TIMER_MS,
  type ApprovalMode,
  type ConfigInput,
  type ExecutionMode,
  type LlmProvider,
} from '../../config/index.js';
import { Vivarium } from '../../engine/index.js';
import type { Approval, TaskEvent, TaskResult } from '../../pipeline/index.js';
import { listenForInterrupts, type CliIo, type InterruptListener } from '../cli-io.js';
import { addEngineFlags, engineOptionsFromFlags, parseMode, type EngineFlags } from '../engine-flags.js';
import { EXIT_SIGINT, exitCodeForTaskOutcome } from '../exit-codes.js';
import { neutralizeControls } from '../render.js';
import { addServiceFlags, clientForServer, serverUrlFromFlags, type ServiceFlags } from '../service-flags.js';
import { approvalText, shortHash, taskResultsText, taskSummaryText } from '../task-render.js';
import { SPINNER_INTERVAL_MS, TaskView } from '../task-view.js';
import { CliUsageError, flagExpectation, readLocalFile } from '../usage-error.js';

/** Flags of `vivarium task` (raw commander values). */
export interface TaskFlags extends EngineFlags, ServiceFlags {
  file?: string[];
  expect?: string[];
  context?: string;
  model?: string;
  provider?: string;
  baseUrl?: string;
  approvalMode?: string;
  mode?: string;
  maxAttempts?: string;
  timeoutMs?: string;
  verify?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Most attempts `--max-attempts` accepts (what the task schema accepts). */
export const MAX_TASK_ATTEMPTS = 20;

/** The comment stored with an approval `--yes` approved. */
export const YES_COMMENT = 'approved with --yes';

/**
 * The comment stored with an approval the CLI rejected because it could not ask anyone: it names
 * the ways out, for whoever reads the task later.
 */
export const NO_TERMINAL_COMMENT =
  'rejected by `vivarium task`: no terminal to ask for approval (stdin or stderr is not a TTY); pass --yes to approve, --approval-mode never to run without approvals, or run the task on a service (--server) and decide with `vivarium approvals`';

const NO_GENERATOR_MESSAGE =
  'No code generator is configured: pass `--model MODEL` (with `--provider` and `--base-url` for a local or compatible server), or set `llm.model` in the config file or VIVARIUM_LLM_MODEL (docs/llm.md)';

const TASK_EXAMPLES = `
Local by default: the engine runs in this process with the configured model (or --model/--provider/
--base-url); with --server (or VIVARIUM_SERVER_URL) the task runs on that service.
The live view (steps, code, analysis, output, verification) goes to stderr; stdout gets the results.
Approvals: asked at the terminal ([y/N]); --yes approves; without a terminal the CLI rejects (local)
or prints the \`vivarium approvals approve ID\` command and keeps following (--server).

Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage/config error (no model configured),
3 rejected (or the sandbox is unavailable: the message says which), 130 Ctrl-C (the task is cancelled).

Examples:
  $ vivarium task "sum the numbers in data.csv" --file data.csv --expect total --model gpt-4.1-mini --provider openai
  $ vivarium task "plot a sine wave to sine.png" --base-url http://localhost:11434/v1 --model qwen2.5-coder:7b
  $ vivarium task "count the words of notes.txt" --file notes.txt --json | jq .results
  $ vivarium task "fetch the page title of example.com" --mode network --approval-mode always --yes
  $ vivarium task "clean report.csv" --file report.csv --server http://127.0.0.1:8420 --api-key "$KEY"`;

/** `--file a --file b` → `['a', 'b']`. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Registers `vivarium task` on the program. */
export function addTaskCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): Command {
  const command = program
    .command('task')
    .description(
      'give a model an objective: it writes Python, which is analyzed, approved when policy says so, run in the sandbox, verified and repaired',
    )
    .argument('<objective>', 'what the code must achieve, in plain language')
    .option(
      '--file <path>',
      'a local file for the task, copied into the workspace under its base name (repeatable)',
      collect,
    )
    .option('--expect <name>', 'a name the code must leave in its `results` dict (repeatable)', collect)
    .option('--context <text>', 'context for the model (a plan step, what the data means)')
    .option('--model <model>', 'the model id, over config `llm.model` (local only)')
    .option(
      '--provider <provider>',
      `the model's provider: ${LLM_PROVIDERS.join(' | ')} (local only; default: config \`llm.provider\`)`,
    )
    .option('--base-url <url>', "the provider's API base URL, e.g. http://localhost:11434/v1 (local only)")
    .option(
      '--approval-mode <mode>',
      `when to ask a human: ${APPROVAL_MODES.join(' | ')} (default: config \`policy.approvalMode\`)`,
    )
    .option(
      '--mode <mode>',
      'what the code may touch: read_only | workspace_write | network (default: config `policy.mode`)',
    )
    .option(
      '--max-attempts <n>',
      `attempts (generate or repair, run, verify) before the task fails, 1 to ${MAX_TASK_ATTEMPTS} (default: config \`llm.maxAttempts\`)`,
    )
    .option('--timeout-ms <ms>', 'budget of the whole task in ms, approval waits excluded (default: 900000)')
    .option(
      '--verify',
      'ask the model whether the output answers the objective (default: config `llm.verify`)',
    )
    .option('--yes', 'approve every approval request of this task without asking')
    .option('--json', 'print only the TaskResult as one JSON object on stdout (no live view)')
    .option('--no-preload', 'import no modules at kernel start (local only)');
  addEngineFlags(command);
  addServiceFlags(command, 'default: $VIVARIUM_SERVER_URL, else the task runs locally');
  return command.addHelpText('after', TASK_EXAMPLES).action(async (objective: string, flags: TaskFlags) => {
    setExitCode(await taskCommand(objective, flags, io));
  });
}

/** The task as the flags describe it (what both the engine and the service take). */
interface TaskRequest {
  objective: string;
  files: Array<{ path: string; content: Uint8Array }>;
  context?: string;
  expectedResults?: string[];
  maxAttempts?: number;
  approvalMode?: ApprovalMode;
  mode?: ExecutionMode;
  timeoutMs?: number;
  verify?: boolean;
}

function wholeNumber(flag: string, raw: string, min: number, max: number): number {
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw flagExpectation(flag, `a whole number from ${min} to ${max}`, raw);
  return value;
}

function parseApprovalMode(raw: string): ApprovalMode {
  const mode = APPROVAL_MODES.find((candidate) => candidate === raw);
  if (mode === undefined)
    throw flagExpectation(
      '--approval-mode',
      `one of ${APPROVAL_MODES.map((m) => `\`${m}\``).join(', ')}`,
      raw,
    );
  return mode;
}

function parseProvider(raw: string): LlmProvider {
  const provider = LLM_PROVIDERS.find((candidate) => candidate === raw);
  if (provider === undefined)
    throw flagExpectation('--provider', `one of ${LLM_PROVIDERS.map((p) => `\`${p}\``).join(', ')}`, raw);
  return provider;
}

/** Reads the `--file`s: each goes into the workspace under its base name. */
async function readTaskFiles(paths: readonly string[]): Promise<TaskRequest['files']> {
  const files: TaskRequest['files'] = [];
  const seen = new Map<string, string>();
  for (const path of paths) {
    const name = basename(path);
    const earlier = seen.get(name);
    if (earlier !== undefined)
      throw new CliUsageError(
        `\`--file ${path}\` and \`--file ${earlier}\` would both be \`${name}\` in the workspace: rename one`,
      );
    seen.set(name, path);
    files.push({ path: name, content: await readLocalFile(path, '--file') });
  }
  return files;
}

/** The task the flags ask for. */
async function taskRequest(objective: string, flags: TaskFlags): Promise<TaskRequest> {
  if (objective.trim() === '') throw new CliUsageError('Expected an OBJECTIVE: what the code must achieve');
  const request: TaskRequest = { objective, files: await readTaskFiles(flags.file ?? []) };
  if (flags.context !== undefined) request.context = flags.context;
  if (flags.expect !== undefined) request.expectedResults = flags.expect;
  if (flags.maxAttempts !== undefined)
    request.maxAttempts = wholeNumber('--max-attempts', flags.maxAttempts, 1, MAX_TASK_ATTEMPTS);
  if (flags.approvalMode !== undefined) request.approvalMode = parseApprovalMode(flags.approvalMode);
  if (flags.mode !== undefined) request.mode = parseMode(flags.mode);
  if (flags.timeoutMs !== undefined)
    request.timeoutMs = wholeNumber('--timeout-ms', flags.timeoutMs, 1, MAX_TIMER_MS);
  if (flags.verify === true) request.verify = true;
  return request;
}

/** The `llm` config the model flags ask for, over the configured one. */
function llmOverrides(flags: TaskFlags): NonNullable<ConfigInput['llm']> | null {
  const llm: NonNullable<ConfigInput['llm']> = {};
  if (flags.model !== undefined) {
    if (flags.model.trim() === '') throw flagExpectation('--model', 'a model id', flags.model);
    llm.model = flags.model;
  }
  if (flags.provider !== undefined) llm.provider = parseProvider(flags.provider);
  if (flags.baseUrl !== undefined) llm.baseUrl = flags.baseUrl;
  return Object.keys(llm).length === 0 ? null : llm;
}

/** Flags that configure the local engine; with a service they would be silently ignored, so they are refused. */
const LOCAL_ONLY_FLAGS: ReadonlyArray<[keyof TaskFlags, string]> = [
  ['model', '--model'],
  ['provider', '--provider'],
  ['baseUrl', '--base-url'],
  ['isolation', '--isolation'],
  ['data', '--data'],
  ['config', '--config'],
  ['preload', '--no-preload'],
];

/** A decision the CLI sends (locally through the engine, remotely through the client). */
type Decide = (
  approvalId: string,
  input: { decision: 'approve' | 'reject'; comment: string; codeHash: string },
) => Promise<Approval>;

/** Options of {@link TaskFollower}. */
interface TaskFollowerOptions {
  io: CliIo;
  /** The live view, or null with `--json`. */
  view: TaskView | null;
  yes: boolean;
  /** stdin and stderr are terminals: approvals are asked. */
  interactive: boolean;
  /** The service URL when the task runs there (approvals then wait for someone else). */
  serverUrl: string | null;
  decide: Decide;
  /** Ctrl-C at the approval prompt: cancel the task. */
  onInterrupt: () => void;
}

/**
 * Follows a task's events: feeds the view, and answers approval requests (at the terminal, with
 * `--yes`, or by rejecting / pointing at `vivarium approvals` when nobody can be asked).
 */
class TaskFollower {
  private readonly options: TaskFollowerOptions;
  private readonly decisions = new Set<Promise<void>>();
  /** Closes the prompt on screen when its approval was decided elsewhere or the task ended. */
  private prompt: { approvalId: string; abort: AbortController } | null = null;

  constructor(options: TaskFollowerOptions) {
    this.options = options;
  }

  readonly handle = (event: TaskEvent): void => {
    this.options.view?.handle(event);
    if (event.type === 'approval-request') {
      const decision = this.answer(event.approval).catch((error: unknown) => {
        this.notice(
          `vivarium: could not decide approval ${neutralizeControls(event.approval.id)}: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
      this.decisions.add(decision);
      void decision.finally(() => this.decisions.delete(decision));
    } else if (
      (event.type === 'approval-decided' && this.prompt?.approvalId === event.approval.id) ||
      event.type === 'task-end'
    ) {
      this.prompt?.abort.abort();
    }
  };

  /** Waits for decisions in flight (so their messages come before the summary). */
  async settled(): Promise<void> {
    this.prompt?.abort.abort();
    await Promise.allSettled([...this.decisions]);
  }

  private notice(text: string): void {
    if (this.options.view) this.options.view.note(text);
    else this.options.io.stderr.write(`${text}\n`);
  }

  private async answer(approval: Approval): Promise<void> {
    const { decide, yes, interactive, serverUrl, io } = this.options;
    const id = neutralizeControls(approval.id);
    // The run starts waiting for the decision right after it announced the request.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (yes) {
      this.notice(`vivarium: approving ${id} (code ${shortHash(approval.codeHash)}) with --yes`);
      await decide(approval.id, { decision: 'approve', comment: YES_COMMENT, codeHash: approval.codeHash });
      return;
    }
    if (interactive) {
      this.options.view?.pause();
      io.stderr.write(`\n${approvalText(approval)}\n`);
      const abort = new AbortController();
      this.prompt = { approvalId: approval.id, abort };
      let answer: 'yes' | 'no' | 'closed';
      try {
        answer = await askYesNo(io, 'Approve? [y/N] ', abort.signal, this.options.onInterrupt);
      } finally {
        this.prompt = null;
        this.options.view?.resume();
      }
      if (answer === 'closed') return;
      await decide(approval.id, {
        decision: answer === 'yes' ? 'approve' : 'reject',
        comment: answer === 'yes' ? 'approved at the terminal' : 'rejected at the terminal',
        codeHash: approval.codeHash,
      });
      return;
    }
    const reasons =
      approval.reasons.length > 0 ? ` (${approval.reasons.map(neutralizeControls).join('; ')})` : '';
    if (serverUrl === null) {
      this.notice(
        `vivarium: approval ${id} is needed${reasons}, and there is no terminal to ask: rejecting it. ` +
          'Pass --yes to approve, --approval-mode never to run without approvals, or run the task on a service (--server) and decide with `vivarium approvals`',
      );
      await decide(approval.id, {
        decision: 'reject',
        comment: NO_TERMINAL_COMMENT,
        codeHash: approval.codeHash,
      });
      return;
    }
    const server = neutralizeControls(serverUrl);
    this.notice(
      `vivarium: approval ${id} waits for a decision${reasons}; decide it with\n` +
        `  vivarium approvals approve ${id} --code-hash ${shortHash(approval.codeHash)} --server ${server}\n` +
        `  vivarium approvals reject ${id} --comment 'why' --server ${server}\n` +
        'vivarium: following the task until then (Ctrl-C cancels it)',
    );
  }
}

/**
 * Asks a yes/no question on the terminal. `closed`: the signal fired (decided elsewhere, the task
 * ended), stdin ended, or Ctrl-C was pressed (raw mode: readline sees it, not the process).
 */
async function askYesNo(
  io: CliIo,
  question: string,
  signal: AbortSignal,
  onInterrupt: () => void,
): Promise<'yes' | 'no' | 'closed'> {
  const readline = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    return await new Promise((resolve) => {
      readline.once('SIGINT', () => {
        io.stderr.write('\n');
        onInterrupt();
        resolve('closed');
      });
      readline.once('close', () => resolve('closed'));
      signal.addEventListener(
        'abort',
        () => {
          io.stderr.write('\n');
          resolve('closed');
        },
        { once: true },
      );
      readline.question(question, (answer) => resolve(/^\s*y(es)?\s*$/i.test(answer) ? 'yes' : 'no'));
    });
  } finally {
    readline.close();
  }
}

/** What both modes share: the view and its spinner, Ctrl-C, the follower, the report. */
class TaskSession {
  readonly view: TaskView | null;
  readonly abort = new AbortController();
  interrupted = false;
  private readonly spinner: ReturnType<typeof setInterval> | null;
  private readonly interrupts: InterruptListener;

  constructor(
    private readonly io: CliIo,
    private readonly json: boolean,
  ) {
    const tty = io.stderr.isTTY === true;
    this.view = json ? null : new TaskView({ sink: io.stderr, tty });
    const view = this.view;
    this.spinner = view !== null && tty ? setInterval(() => view.tick(), SPINNER_INTERVAL_MS) : null;
    this.interrupts = listenForInterrupts({
      onInterrupt: () => this.interrupt(),
      stderr: io.stderr,
      exitCode: EXIT_SIGINT,
    });
  }

  /** Ctrl-C: cancel the task (the engine's signal, or the client's, which cancels on the service). */
  readonly interrupt = (): void => {
    if (this.interrupted) return;
    this.interrupted = true;
    this.abort.abort();
  };

  follower(options: Pick<TaskFollowerOptions, 'yes' | 'serverUrl' | 'decide'>): TaskFollower {
    return new TaskFollower({
      ...options,
      io: this.io,
      view: this.view,
      interactive: this.io.stdin.isTTY === true && this.io.stderr.isTTY === true,
      onInterrupt: this.interrupt,
    });
  }

  /** Prints the outcome; returns the exit code. */
  report(result: TaskResult): number {
    this.view?.end();
    if (this.json) {
      this.io.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      this.io.stderr.write(taskSummaryText(result));
      this.io.stdout.write(taskResultsText(result));
    }
    if (this.interrupted && result.status === 'cancelled') return EXIT_SIGINT;
    return exitCodeForTaskOutcome(result.status);
  }

  dispose(): void {
    if (this.spinner !== null) clearInterval(this.spinner);
    this.view?.end();
    this.interrupts.dispose();
  }
}

/**
 * `vivarium task OBJECTIVE`: runs a task locally (the engine in this process) or on a service
 * (`--server`), with a live view and approvals at the terminal. Returns the exit code.
 */
export async function taskCommand(objective: string, flags: TaskFlags, io: CliIo): Promise<number> {
  const serverUrl = serverUrlFromFlags(flags, process.env, null);
  if (serverUrl !== null) {
    const via = flags.server === undefined ? ' (from VIVARIUM_SERVER_URL)' : '';
    for (const [field, flag] of LOCAL_ONLY_FLAGS) {
      // `--no-preload` sets `preload: false` (commander defaults it to true).
      if (field === 'preload' ? flags.preload === false : flags[field] !== undefined)
        throw new CliUsageError(
          `\`${flag}\` configures the local engine, but the task runs on the service at ${serverUrl}${via}, which uses its own configuration: drop \`${flag}\`, or run locally without \`--server\``,
        );
    }
  }
  const request = await taskRequest(objective, flags);
  return serverUrl === null ? runLocally(request, flags, io) : runOnService(request, serverUrl, flags, io);
}

async function runLocally(request: TaskRequest, flags: TaskFlags, io: CliIo): Promise<number> {
  const engineOptions = engineOptionsFromFlags(flags);
  const llm = llmOverrides(flags);
  // One session per CLI process: a warm pool would only start kernels nobody takes.
  const vv = await Vivarium.start({ ...engineOptions, pool: { size: 0 }, ...(llm === null ? {} : { llm }) });
  let session: TaskSession | null = null;
  try {
    if (vv.generator === null) throw new CliUsageError(NO_GENERATOR_MESSAGE);
    session = new TaskSession(io, flags.json === true);
    const follower = session.follower({
      yes: flags.yes === true,
      serverUrl: null,
      decide: (id, input) => vv.tasks.decide(id, input),
    });
    const handle = await vv.tasks.create({
      ...request,
      onEvent: follower.handle,
      signal: session.abort.signal,
    });
    const result = await handle.result();
    await follower.settled();
    return session.report(result);
  } finally {
    session?.dispose();
    await vv.stop();
  }
}

async function runOnService(
  request: TaskRequest,
  serverUrl: string,
  flags: TaskFlags,
  io: CliIo,
): Promise<number> {
  const client = clientForServer(serverUrl, flags, process.env);
  const session = new TaskSession(io, flags.json === true);
  try {
    const follower = session.follower({
      yes: flags.yes === true,
      serverUrl,
      decide: (id, input) => client.decideApproval(id, input),
    });
    let result: TaskResult;
    try {
      result = await client.createTask({
        ...request,
        onEvent: follower.handle,
        signal: session.abort.signal,
      });
    } catch (error) {
      if (session.interrupted && isVivariumClientError(error) && error.code === 'ABORTED') {
        session.view?.end();
        io.stderr.write(`vivarium: ${error.message}\n`);
        return EXIT_SIGINT;
      }
      throw error;
    }
    await follower.settled();
    return session.report(result);
  } finally {
    session.dispose();
  }
}
