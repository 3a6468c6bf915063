import { Command, CommanderError } from 'commander';
import { APPROVAL_MODES, EXECUTION_MODES } from '../config/index.js';
import { isVivariumClientError } from '../client/index.js';
import { isVivariumError, type ErrorCode } from '../errors/index.js';
import { processIo, type CliIo } from './cli-io.js';
import { analyzeCommand, type AnalyzeFlags } from './commands/analyze.js';
import { addApprovalsCommand } from './commands/approvals.js';
import { batchCommand, type BatchFlags } from './commands/batch.js';
import { depsCommand, type DepsFlags } from './commands/deps.js';
import { doctorCommand, type DoctorFlags } from './commands/doctor.js';
import {
  keysCreateCommand,
  keysListCommand,
  keysRevokeCommand,
  type KeysCreateFlags,
  type KeysListFlags,
  type KeysStoreFlags,
} from './commands/keys.js';
import {
  notebookExportCommand,
  notebookRunCommand,
  type NotebookExportFlags,
  type NotebookFlags,
} from './commands/notebook.js';
import { replCommand, type ReplFlags } from './commands/repl.js';
import { runCommand, type RunFlags } from './commands/run.js';
import { DEFAULT_CLI_PROFILE_TOP, profileCommand, type ProfileFlags } from './commands/profile.js';
import { serveCommand, type ServeFlags } from './commands/serve.js';
import { addTaskCommand } from './commands/task.js';
import { testCommand, type TestFlags } from './commands/test.js';
import { addEngineFlags, addModeFlag, addSessionFlags } from './engine-flags.js';
import {
  EXIT_ENGINE_FAULT,
  EXIT_OK,
  EXIT_SANDBOX_UNAVAILABLE,
  EXIT_TASK_FAILED,
  EXIT_USAGE,
} from './exit-codes.js';
import { CliUsageError } from './usage-error.js';
import { packageVersion } from './version.js';

/** Engine error codes that mean "the caller asked for something wrong": fix the flags or config. */
const USAGE_ERROR_CODES = new Set<ErrorCode>([
  'INVALID_ARGUMENT',
  'CONFIG_INVALID',
  'FILE_NOT_FOUND',
  'FILE_REFUSED',
  'FILE_TOO_LARGE',
  'FILE_TYPE_NOT_ALLOWED',
  'PATH_INVALID',
]);
/** Engine error codes that mean "this host lacks something": install it (`vivarium doctor` says what). */
const ENVIRONMENT_ERROR_CODES = new Set<ErrorCode>(['SANDBOX_UNAVAILABLE', 'INTERPRETER_UNAVAILABLE']);
/** A service's answers that mean "the caller asked for something wrong": an id, a key, a URL. */
const SERVICE_USAGE_ERROR_CODES = new Set<string>([
  'UNAUTHENTICATED',
  'ROUTE_NOT_FOUND',
  'SESSION_NOT_FOUND',
  'TASK_NOT_FOUND',
  'APPROVAL_NOT_FOUND',
]);

/**
 * The one place a failure becomes an exit code and a message. Python errors never come here: they
 * are data, and commands return their exit code from the execution's status.
 */
export function exitCodeForError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // commander has printed its own message (or the help / version) already.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (error instanceof CliUsageError) {
    io.stderr.write(`vivarium: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (isVivariumError(error)) {
    io.stderr.write(`vivarium: ${error.message}\n`);
    if (USAGE_ERROR_CODES.has(error.code)) return EXIT_USAGE;
    if (ENVIRONMENT_ERROR_CODES.has(error.code)) {
      if (error.code === 'SANDBOX_UNAVAILABLE')
        io.stderr.write('vivarium: `vivarium doctor` checks this host and prints what to install\n');
      return EXIT_SANDBOX_UNAVAILABLE;
    }
    return EXIT_ENGINE_FAULT;
  }
  if (isVivariumClientError(error)) {
    // A service's answer (the engine's codes, over HTTP) or the client's own failure.
    io.stderr.write(`vivarium: ${error.message}\n`);
    if (error.code === 'NETWORK_ERROR')
      io.stderr.write(
        'vivarium: is the service running? `vivarium serve` starts one; `--server URL` (or VIVARIUM_SERVER_URL) says where it is\n',
      );
    if (error.code === 'APPROVAL_CONFLICT') return EXIT_TASK_FAILED;
    if (USAGE_ERROR_CODES.has(error.code as ErrorCode) || SERVICE_USAGE_ERROR_CODES.has(error.code))
      return EXIT_USAGE;
    if (ENVIRONMENT_ERROR_CODES.has(error.code as ErrorCode)) return EXIT_SANDBOX_UNAVAILABLE;
    return EXIT_ENGINE_FAULT;
  }
  // Not a fault the engine knows: a bug. Say so with the stack, so it can be reported.
  io.stderr.write(
    `vivarium: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT_ENGINE_FAULT;
}

const RUN_EXAMPLES = `
Examples:
  $ vivarium run analysis.py
  $ vivarium run -c 'print(sum(range(10)))' --no-preload
  $ vivarium run plot.py --workspace ./out          # images saved as out/output-1.png, ...
  $ vivarium run job.py --timeout 30 --memory 512 --json | jq .status
  $ vivarium run audit.py --workspace ./data --mode read_only   # ./data cannot be changed
  $ cat script.py | vivarium run -

Exit codes: 0 ok, 1 Python error or interrupted, 2 usage/config error, 3 sandbox unavailable,
124 timeout, 137 memory limit or killed, 70 engine fault.`;

const REPL_EXAMPLES = `
Commands inside the REPL: %vars, %files, %restart, %exit (or Ctrl-D), %help.
A line ending in ':' or '\\', or inside open brackets, continues the cell; an empty line ends a block.
Ctrl-C interrupts a running cell (three times restarts the kernel); at the prompt it clears the line.

Examples:
  $ vivarium repl
  $ vivarium repl --workspace ./project --no-preload
  $ vivarium repl --mode network                    # with the host network (APIs, downloads)
  $ printf 'x = 21\\nx * 2\\n' | vivarium repl --no-preload`;

const DOCTOR_EXAMPLES = `
Exit code 1 when strict isolation cannot work here, 0 otherwise (missing packages are reported, not fatal).

Examples:
  $ vivarium doctor
  $ vivarium doctor --json | jq '.checks[] | select(.status != "ok")'`;

const SERVE_EXAMPLES = `
Logs are JSON lines on stdout; where the service listens is printed on stderr.
SIGINT or SIGTERM stops it gracefully (exit 0); a second Ctrl-C quits at once (130).

Examples:
  $ vivarium keys create --name alice        # prints the key; pass it as Authorization: Bearer <key>
  $ vivarium serve --port 8420 --data /var/lib/vivarium
  $ vivarium serve --host 0.0.0.0 --config /etc/vivarium.yaml
  $ vivarium serve --no-auth                 # local development only: refused unless the host is loopback`;

const NOTEBOOK_EXAMPLES = `
The executed notebook (nbformat 4.5) goes to -o FILE, or to stdout; one line per cell on stderr.
Exit codes as for \`run\`, from the first cell that failed: 0 all ok, 1 error, 124 timeout, 137 killed.

Examples:
  $ vivarium notebook run analysis.ipynb -o analysis.out.ipynb
  $ vivarium notebook run report.ipynb --continue-on-error --timeout 120 > executed.ipynb
  $ vivarium notebook run analysis.ipynb -o out.ipynb --json | jq .summary
  $ vivarium notebook export --from analysis.py -o analysis.ipynb   # cells split at '# %%' lines`;

const BATCH_EXAMPLES = `
Sequential (the default): one session, later files see earlier files' variables.
--parallel: each file in its own sandbox, N at a time. Exit 0 when every file ended ok, else 1.

Examples:
  $ vivarium batch load.py clean.py report.py
  $ vivarium batch jobs/*.py --parallel 4 --timeout 60
  $ vivarium batch a.py b.py --stop-on-failure --json | jq '.failures'`;

const TEST_EXAMPLES = `
The directory is used as the workspace as is; reports go to its .vivarium/reports/ folder.
Exit 0 when every test passed (and coverage met --cov-threshold), 1 otherwise, 2 on bad flags.

Examples:
  $ vivarium test tests/
  $ vivarium test tests/test_api.py::test_login -k 'not slow' --no-cov
  $ vivarium test --cov-threshold 80 --json | jq '.coverage.percent'
  $ vivarium test tests --unittest --workspace ~/project`;

const PROFILE_EXAMPLES = `
Exit 0 when the file ran without an exception, 1 otherwise (the profile is printed either way).

Examples:
  $ vivarium profile slow.py
  $ vivarium profile slow.py --top 30 --save slow.prof     # then: python3 -m pstats slow.prof
  $ vivarium profile slow.py --lines --json | jq '.lines[:5]'`;

const KEYS_EXAMPLES = `
Keys are stored hashed in the data directory's database: 'create' shows a key once, nothing shows it again.

Examples:
  $ vivarium keys create --name ci-runner > ci.key
  $ vivarium keys create --name ops --admin --data /var/lib/vivarium
  $ vivarium keys list
  $ vivarium keys list --json | jq '.[] | select(.revokedAt == null) | .id'
  $ vivarium keys revoke key_aa4094d39c8ab184c38cb455`;

/** The commander program; `io` receives everything printed. */
export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('vivarium')
    .description(
      'Run Python in sandboxed CPython kernels: one-off runs, a REPL, tasks a model writes code for (with approvals), analysis and developer tools, a host check, and the HTTP service.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  program.addHelpText(
    'after',
    '\nRun `vivarium <command> --help` for the flags of each command. Docs: docs/cli.md',
  );

  const run = program
    .command('run')
    .description(
      'run a Python file (or `-c CODE`, or `-` for stdin) once in a fresh sandbox, streaming its output',
    )
    .argument('[file]', 'Python file to run; `-` reads the code from stdin')
    .option('-c, --code <code>', 'run this code instead of a file')
    .option('--json', 'print only the Execution as one JSON object on stdout (no streaming)');
  addSessionFlags(run);
  addModeFlag(run);
  addEngineFlags(run);
  run.addHelpText('after', RUN_EXAMPLES).action(async (file: string | undefined, flags: RunFlags) => {
    setExitCode(await runCommand(file, flags, io));
  });

  const repl = program
    .command('repl')
    .description('an interactive Python session in the sandbox (cells can also be piped on stdin)');
  addSessionFlags(repl);
  addModeFlag(repl);
  addEngineFlags(repl);
  repl.addHelpText('after', REPL_EXAMPLES).action(async (flags: ReplFlags) => {
    setExitCode(await replCommand(flags, io));
  });

  const doctor = program
    .command('doctor')
    .description(
      'check this host: bubblewrap, namespaces, privileges, cgroups, the interpreter and the data packages',
    )
    .option('--json', 'print the report as JSON');
  addEngineFlags(doctor);
  doctor.addHelpText('after', DOCTOR_EXAMPLES).action(async (flags: DoctorFlags) => {
    setExitCode(await doctorCommand(flags, io));
  });

  const serve = program
    .command('serve')
    .description('the HTTP service: REST + streaming API, API keys, persistence in the data directory')
    .option('--host <host>', 'address to bind (default: config `server.host`, else 127.0.0.1)')
    .option(
      '--port <port>',
      'port to listen on; 0 picks a free one (default: config `server.port`, else 8420)',
    )
    .option(
      '--data <dir>',
      'data directory: database, workspaces (default: config, else /var/lib/vivarium for root, ~/.local/share/vivarium otherwise)',
    )
    .option(
      '--config <file>',
      'config file, JSON or YAML (default: vivarium.config.json|yaml|yml in the cwd, or $VIVARIUM_CONFIG)',
    )
    .option(
      '--no-auth',
      'accept requests without an API key (refused unless the host is a loopback address)',
    );
  serve.addHelpText('after', SERVE_EXAMPLES).action(async (flags: ServeFlags) => {
    setExitCode(await serveCommand(flags, io));
  });

  const keys = program
    .command('keys')
    .description("manage the service's API keys: create, list, revoke")
    .addHelpText('after', KEYS_EXAMPLES);
  const addStoreFlags = (command: Command): Command =>
    command
      .option('--data <dir>', 'data directory holding the database (default: config, as for `serve`)')
      .option('--config <file>', 'config file, JSON or YAML (default: as for `serve`)');
  addStoreFlags(
    keys
      .command('create')
      .description('create a key and print it alone on stdout (shown this once; stored hashed)')
      .requiredOption('--name <name>', 'who or what the key is for')
      .option('--admin', "an admin key: sees and touches every key's sessions"),
  ).action(async (flags: KeysCreateFlags) => {
    setExitCode(await keysCreateCommand(flags, io));
  });
  addStoreFlags(
    keys
      .command('list')
      .description('list keys: id, name, admin, created, revoked, last used (never a key)')
      .option('--json', 'print the list as JSON'),
  ).action(async (flags: KeysListFlags) => {
    setExitCode(await keysListCommand(flags, io));
  });
  addStoreFlags(
    keys
      .command('revoke')
      .description('revoke a key by id: its requests answer 401 from now on')
      .argument('<id>', 'the key id (`key_…`, from `vivarium keys list`)'),
  ).action(async (id: string, flags: KeysStoreFlags) => {
    setExitCode(await keysRevokeCommand(id, flags, io));
  });

  const notebook = program
    .command('notebook')
    .description('run Jupyter notebooks (.ipynb) in the sandbox and write them executed')
    .addHelpText('after', NOTEBOOK_EXAMPLES);
  const addNotebookFlags = (command: Command): Command => {
    command
      .option('-o, --output <file>', 'write the executed notebook here (default: stdout)')
      .option('--continue-on-error', 'run the remaining cells after a failing one (default: stop)')
      .option('--json', 'print {summary, outputPath, notebook?} as one JSON object on stdout');
    addSessionFlags(command);
    return addEngineFlags(command);
  };
  addNotebookFlags(
    notebook
      .command('run')
      .description('run the code cells of IN.ipynb in order in one fresh session')
      .argument('<file>', 'the notebook to run (nbformat 4)'),
  ).action(async (file: string, flags: NotebookFlags) => {
    setExitCode(await notebookRunCommand(file, flags, io));
  });
  addNotebookFlags(
    notebook
      .command('export')
      .description(
        "run a Python script split into cells at '# %%' lines and write it as an executed notebook",
      )
      .option(
        '--from <file>',
        "the script (percent format: '# %%' starts a cell, '# %% [markdown]' a text cell)",
      ),
  ).action(async (flags: NotebookExportFlags) => {
    setExitCode(await notebookExportCommand(flags, io));
  });

  const batchRun = program
    .command('batch')
    .description(
      'run several Python files: in order in one session, or in parallel sandboxes; a report at the end',
    )
    .argument('<files...>', 'Python files to run, in order')
    .option('--parallel [n]', 'run each file in its own sandbox, n at a time (default n: 2)')
    .option('--stop-on-failure', 'start no file after one fails')
    .option('--json', 'print the report as one JSON object on stdout');
  addSessionFlags(batchRun);
  addEngineFlags(batchRun);
  batchRun.addHelpText('after', BATCH_EXAMPLES).action(async (files: string[], flags: BatchFlags) => {
    setExitCode(await batchCommand(files, flags, io));
  });

  const test = program
    .command('test')
    .description(
      'run tests (pytest with coverage, or unittest) of a directory in a fresh sandbox; a summary at the end',
    )
    .argument(
      '[paths...]',
      'test files, directories or node ids (file::test), relative to the workspace (default: all)',
    )
    .option('-k <expr>', 'only tests matching this keyword expression (pytest -k)')
    .option('--unittest', 'run unittest discovery instead of pytest')
    .option('--cov-threshold <percent>', 'fail when total coverage is below this percent')
    .option('--no-cov', 'do not measure coverage')
    .option('--timeout <sec>', 'wall-clock limit of the test run, in seconds (default 120)')
    .option('--memory <mb>', 'memory limit of the sandbox, in MB (default: config, else 2048)')
    .option(
      '--workspace <dir>',
      'the project directory, adopted as the workspace (default: the current directory)',
    )
    .option('--json', 'print the result as one JSON object on stdout');
  addEngineFlags(test);
  test.addHelpText('after', TEST_EXAMPLES).action(async (paths: string[], flags: TestFlags) => {
    setExitCode(await testCommand(paths, flags, io));
  });

  const profileRun = program
    .command('profile')
    .description(
      'profile a Python file in a fresh sandbox: top functions by cumulative and own time, memory sites',
    )
    .argument('<file>', 'the Python file to run under cProfile and tracemalloc')
    .option('--top <n>', `rows per table (default ${DEFAULT_CLI_PROFILE_TOP})`)
    .option(
      '--save <file>',
      'write the raw cProfile data (.prof, for pstats/snakeviz) to this file in the workspace',
    )
    .option('--lines', 'line-level timings too (needs python3-line-profiler)')
    .option('--timeout <sec>', 'wall-clock limit of the run, in seconds (default 120)')
    .option('--memory <mb>', 'memory limit of the sandbox, in MB (default: config, else 2048)')
    .option(
      '--workspace <dir>',
      "the workspace (default: the current directory, or the file's when it is outside)",
    )
    .option('--json', 'print the result as one JSON object on stdout');
  addEngineFlags(profileRun);
  profileRun.addHelpText('after', PROFILE_EXAMPLES).action(async (file: string, flags: ProfileFlags) => {
    setExitCode(await profileCommand(file, flags, io));
  });

  const deps = program
    .command('deps')
    .description(
      "list a Python file's imports as stdlib / installed / missing (by the sandbox's interpreter), with install hints",
    )
    .argument('<file>', 'the Python file to analyse (it is not run)')
    .option('--json', 'print the result ({imports, syntaxError}) as one JSON object');
  addEngineFlags(deps);
  deps
    .addHelpText(
      'after',
      `
Exit 0 when every import resolves, 1 when one is missing or the file does not parse, 2 on bad flags.

Examples:
  $ vivarium deps analysis.py
  $ vivarium deps analysis.py --json | jq '.imports[] | select(.kind == "missing")'`,
    )
    .action(async (file: string, flags: DepsFlags) => {
      setExitCode(await depsCommand(file, flags, io));
    });

  const analyze = program
    .command('analyze')
    .description(
      "static analysis of a Python file in the sandbox (it is not run): imports, risky calls, file and network use, and the policy's decision",
    )
    .argument('<file>', 'the Python file to analyse')
    .option(
      '--mode <mode>',
      `the execution mode the code would run in: ${EXECUTION_MODES.join(' | ')} (default: config \`policy.mode\`, else workspace_write)`,
    )
    .option(
      '--approval-mode <mode>',
      `when the decision asks a human: ${APPROVAL_MODES.join(' | ')} (default: config \`policy.approvalMode\`, else on_risk)`,
    )
    .option('--json', 'print only the AnalysisResult as one JSON object');
  addEngineFlags(analyze);
  analyze
    .addHelpText(
      'after',
      `
Exit 0 when the policy allows the code, 1 when it denies it (a critical finding or a syntax error),
3 when it needs a human's approval, 2 on bad flags or config. Rules and policy: docs/analysis.md.

Examples:
  $ vivarium analyze job.py
  $ vivarium analyze job.py --mode read_only --approval-mode never
  $ vivarium analyze job.py --json | jq '.findings[] | select(.severity != "info")'`,
    )
    .action(async (file: string, flags: AnalyzeFlags) => {
      setExitCode(await analyzeCommand(file, flags, io));
    });

  addTaskCommand(program, io, setExitCode);
  addApprovalsCommand(program, io, setExitCode);

  const configureOutput = (command: Command): void => {
    command.exitOverride().configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
    for (const child of command.commands) configureOutput(child);
  };
  for (const command of program.commands) configureOutput(command);
  return program;
}

/** Runs the CLI on `argv` (as `process.argv`: node, script, args...); resolves with the exit code. */
export async function main(argv: readonly string[] = process.argv, io: CliIo = processIo()): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    return exitCodeForError(error, io);
  }
}
