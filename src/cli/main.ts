import { Command, CommanderError } from 'commander';
import { isVivariumError, type ErrorCode } from '../errors/index.js';
import { processIo, type CliIo } from './cli-io.js';
import { doctorCommand, type DoctorFlags } from './commands/doctor.js';
import {
  keysCreateCommand,
  keysListCommand,
  keysRevokeCommand,
  type KeysCreateFlags,
  type KeysListFlags,
  type KeysStoreFlags,
} from './commands/keys.js';
import { replCommand, type ReplFlags } from './commands/repl.js';
import { runCommand, type RunFlags } from './commands/run.js';
import { serveCommand, type ServeFlags } from './commands/serve.js';
import { addEngineFlags, addSessionFlags } from './engine-flags.js';
import { EXIT_ENGINE_FAULT, EXIT_OK, EXIT_SANDBOX_UNAVAILABLE, EXIT_USAGE } from './exit-codes.js';
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
      'Run Python in sandboxed CPython kernels: one-off runs, an interactive REPL, a host check, and the HTTP service.',
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
  addEngineFlags(run);
  run.addHelpText('after', RUN_EXAMPLES).action(async (file: string | undefined, flags: RunFlags) => {
    setExitCode(await runCommand(file, flags, io));
  });

  const repl = program
    .command('repl')
    .description('an interactive Python session in the sandbox (cells can also be piped on stdin)');
  addSessionFlags(repl);
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
