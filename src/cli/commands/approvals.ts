import type { Command } from 'commander';
import { VivariumClientError } from '../../client/index.js';
import { APPROVAL_STATES, type Approval, type ApprovalState } from '../../pipeline/index.js';
import type { CliIo } from '../cli-io.js';
import { EXIT_OK } from '../exit-codes.js';
import { neutralizeControls } from '../render.js';
import {
  addServiceFlags,
  clientForServer,
  DEFAULT_SERVER_URL,
  serverUrlFromFlags,
  type ServiceFlags,
} from '../service-flags.js';
import { approvalDecisionLine, approvalsTable } from '../task-render.js';
import { CliUsageError, flagExpectation } from '../usage-error.js';

/** Flags of `vivarium approvals list`. */
export interface ApprovalsListFlags extends ServiceFlags {
  state?: string;
  json?: boolean;
}

/** Flags of `vivarium approvals approve|reject`. */
export interface ApprovalsDecideFlags extends ServiceFlags {
  comment?: string;
  codeHash?: string;
  json?: boolean;
}

/** Shortest `--code-hash` prefix accepted: shorter ones would match too easily. */
export const MIN_CODE_HASH_PREFIX_CHARS = 8;

/** `--state` values of `approvals list`: the states, and `all`. */
const LIST_STATES = [...APPROVAL_STATES, 'all'] as const;

const APPROVALS_EXAMPLES = `
These commands talk to a service: --server URL, else $VIVARIUM_SERVER_URL, else ${DEFAULT_SERVER_URL};
the key comes from --api-key or $VIVARIUM_API_KEY.
Exit codes: 0 done, 1 the approval was decided already or its code changed (409), 2 usage error or
no such approval.

Examples:
  $ vivarium approvals list
  $ vivarium approvals list --state all --json | jq '.[] | {id, state}'
  $ vivarium approvals approve apr_0a1b2c3d4e5f --code-hash 1a2b3c4d5e6f --comment 'reviewed'
  $ vivarium approvals reject apr_0a1b2c3d4e5f --comment 'writes outside the report folder'`;

/** Registers `vivarium approvals list|approve|reject` on the program. */
export function addApprovalsCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): Command {
  const approvals = program
    .command('approvals')
    .description('list, approve and reject the approvals tasks wait for on a service (`vivarium serve`)')
    .addHelpText('after', APPROVALS_EXAMPLES);
  const serverDefault = `default: $VIVARIUM_SERVER_URL, else ${DEFAULT_SERVER_URL}`;
  addServiceFlags(
    approvals
      .command('list')
      .description('list approvals: id, task, attempt, state, requested, expires, reasons, code hash')
      .option('--state <state>', `${LIST_STATES.join(' | ')} (default: pending)`)
      .option('--json', 'print the approvals as a JSON array'),
    serverDefault,
  ).action(async (flags: ApprovalsListFlags) => {
    setExitCode(await approvalsListCommand(flags, io));
  });
  for (const decision of ['approve', 'reject'] as const) {
    const command = approvals
      .command(decision)
      .description(
        decision === 'approve'
          ? 'approve a pending approval: the task runs the code (stored and audited)'
          : 'reject a pending approval: the task ends `rejected` (stored and audited)',
      )
      .argument('<id>', 'the approval id (`apr_…`, from `vivarium approvals list`)')
      .option('--comment <text>', 'why; stored with the decision');
    if (decision === 'approve')
      command.option(
        '--code-hash <hash>',
        `the sha256 of the code you reviewed (or its first ${MIN_CODE_HASH_PREFIX_CHARS}+ characters): refused when the pending code is another`,
      );
    command.option('--json', 'print the decided approval as JSON');
    addServiceFlags(command, serverDefault).action(async (id: string, flags: ApprovalsDecideFlags) => {
      setExitCode(await approvalsDecideCommand(decision, id, flags, io));
    });
  }
  return approvals;
}

function clientFor(flags: ServiceFlags): ReturnType<typeof clientForServer> {
  const url = serverUrlFromFlags(flags, process.env, DEFAULT_SERVER_URL) ?? DEFAULT_SERVER_URL;
  return clientForServer(url, flags, process.env);
}

/** `--state pending|approved|rejected|cancelled|all` → the filter (undefined for all). */
export function parseApprovalState(raw: string | undefined): ApprovalState | undefined {
  if (raw === undefined) return 'pending';
  const state = LIST_STATES.find((candidate) => candidate === raw);
  if (state === undefined)
    throw flagExpectation('--state', `one of ${LIST_STATES.map((s) => `\`${s}\``).join(', ')}`, raw);
  return state === 'all' ? undefined : state;
}

/** `vivarium approvals list`: a table on stdout (or `--json`, the array). */
export async function approvalsListCommand(flags: ApprovalsListFlags, io: CliIo): Promise<number> {
  const state = parseApprovalState(flags.state);
  const client = clientFor(flags);
  const approvals: Approval[] = await client.listApprovals(state === undefined ? {} : { state });
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(approvals, null, 2)}\n`);
    return EXIT_OK;
  }
  if (approvals.length === 0) {
    io.stderr.write(`vivarium: no ${state === undefined ? '' : `${state} `}approvals\n`);
    return EXIT_OK;
  }
  io.stdout.write(`${approvalsTable(approvals)}\n`);
  return EXIT_OK;
}

/** `--code-hash`: a full sha256, or a prefix of one checked against the approval here. */
function parseCodeHash(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const hash = raw.trim().toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${MIN_CODE_HASH_PREFIX_CHARS},64}$`).test(hash))
    throw flagExpectation(
      '--code-hash',
      `a sha256 in hex (64 characters, or at least the first ${MIN_CODE_HASH_PREFIX_CHARS})`,
      raw,
    );
  return hash;
}

/** `vivarium approvals approve|reject ID`: decides, prints the decided approval. */
export async function approvalsDecideCommand(
  decision: 'approve' | 'reject',
  id: string,
  flags: ApprovalsDecideFlags,
  io: CliIo,
): Promise<number> {
  if (id.trim() === '')
    throw new CliUsageError('Expected an approval ID (`apr_…`, from `vivarium approvals list`)');
  let codeHash = parseCodeHash(flags.codeHash);
  const client = clientFor(flags);
  if (codeHash !== undefined && codeHash.length < 64) {
    // The service checks full hashes; a prefix is checked here against the pending code's.
    const pending = await client.getApproval(id);
    if (!pending.codeHash.startsWith(codeHash))
      throw new VivariumClientError(
        'APPROVAL_CONFLICT',
        `The code awaiting approval has sha256 ${pending.codeHash}, which does not start with ${codeHash}: review the current code (\`vivarium approvals list\`)`,
        { status: 409, details: { approvalId: id, codeHash: pending.codeHash } },
      );
    codeHash = pending.codeHash;
  }
  const approval = await client.decideApproval(id, {
    decision,
    ...(flags.comment === undefined ? {} : { comment: flags.comment }),
    ...(codeHash === undefined ? {} : { codeHash }),
  });
  if (flags.json === true) io.stdout.write(`${JSON.stringify(approval, null, 2)}\n`);
  else io.stdout.write(`${approvalDecisionLine(approval)}\n`);
  if (flags.json !== true && decision === 'approve')
    io.stderr.write(`vivarium: task ${neutralizeControls(approval.taskId)} goes on with the approved code\n`);
  return EXIT_OK;
}
