import type { ExecutionStatus } from '../kernel/index.js';
import type { TaskOutcome } from '../pipeline/index.js';

/** Exit codes of the `vivarium` binary. Documented in `docs/cli.md`; scripts depend on them. */

/** The command did what it was asked; the Python code ran without an exception. */
export const EXIT_OK = 0;
/** The Python code raised (status `error`) or was interrupted; `doctor`: strict isolation cannot work. */
export const EXIT_PYTHON_ERROR = 1;
/** `doctor` found that strict isolation cannot work here. Same number as a Python error, different command. */
export const EXIT_CHECK_FAILED = 1;
/** Bad flags or arguments, a missing file, an invalid configuration (`CONFIG_INVALID`, `INVALID_ARGUMENT`). */
export const EXIT_USAGE = 2;
/** The sandbox or the interpreter is unavailable (`SANDBOX_UNAVAILABLE`, `INTERPRETER_UNAVAILABLE`); the message says what to install. */
export const EXIT_SANDBOX_UNAVAILABLE = 3;
/** `analyze`: the policy denies the code (a critical finding or a syntax error). Same number as a Python error, different command. */
export const EXIT_POLICY_DENIED = 1;
/**
 * `analyze`: the code needs a human's approval (approval mode `always`, or `on_risk` with a
 * warning). The same number as an unavailable sandbox (and a rejected task): the decision is
 * printed on stdout, a sandbox failure is a `vivarium:` message on stderr with no result.
 */
export const EXIT_NEEDS_APPROVAL = 3;
/** Any other engine fault (kernel failed to start, protocol violation, internal error); `sysexits.h` `EX_SOFTWARE`. */
export const EXIT_ENGINE_FAULT = 70;
/** The execution hit its wall-clock timeout (status `timeout`), as `timeout(1)` reports it. */
export const EXIT_TIMEOUT = 124;
/** The user pressed Ctrl-C twice and the CLI gave up waiting (128 + SIGINT). */
export const EXIT_SIGINT = 130;
/** The kernel was killed: memory limit (status `memory_exceeded`) or another kill (status `killed`); 128 + SIGKILL. */
export const EXIT_KILLED = 137;

/**
 * `vivarium task`: the task failed (attempts exhausted, its budget, an infrastructure fault) or was
 * cancelled; `vivarium approvals approve|reject`: the approval was decided already (409).
 */
export const EXIT_TASK_FAILED = 1;
/**
 * `vivarium task`: an approval was rejected (by a person, by the CLI without a terminal to ask, or
 * because nobody decided in time). The same number as an unavailable sandbox: the message says which.
 */
export const EXIT_TASK_REJECTED = 3;

/** The exit code `vivarium task` ends with for a task's outcome (Ctrl-C is 130, decided by the command). */
export function exitCodeForTaskOutcome(status: TaskOutcome | null): number {
  switch (status) {
    case 'succeeded':
      return EXIT_OK;
    case 'rejected':
      return EXIT_TASK_REJECTED;
    case 'failed':
    case 'cancelled':
    case null:
      return EXIT_TASK_FAILED;
  }
}

/** The exit code `vivarium run` ends with for an execution's status. */
export function exitCodeForStatus(status: ExecutionStatus): number {
  switch (status) {
    case 'ok':
      return EXIT_OK;
    case 'error':
    case 'interrupted':
      return EXIT_PYTHON_ERROR;
    case 'timeout':
      return EXIT_TIMEOUT;
    case 'memory_exceeded':
    case 'killed':
      return EXIT_KILLED;
  }
}
