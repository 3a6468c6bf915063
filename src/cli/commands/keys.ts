import { loadConfig } from '../../config/index.js';
import type { ApiKeyRecord, Store } from '../../store/index.js';
import type { CliIo } from '../cli-io.js';
import { engineOptionsFromFlags } from '../engine-flags.js';
import { EXIT_OK } from '../exit-codes.js';
import { neutralizeControls } from '../render.js';
import { CliUsageError } from '../usage-error.js';

/** Flags every `vivarium keys` subcommand takes (raw commander values). */
export interface KeysStoreFlags {
  data?: string;
  config?: string;
}

/** Flags of `vivarium keys create`. */
export interface KeysCreateFlags extends KeysStoreFlags {
  name?: string;
  admin?: boolean;
}

/** Flags of `vivarium keys list`. */
export interface KeysListFlags extends KeysStoreFlags {
  json?: boolean;
}

/** Longest key name accepted, in characters. */
export const MAX_KEY_NAME_CHARS = 200;

/** Opens the store of the data directory the flags, config file and env name; closes it after `use`. */
async function withStore<T>(flags: KeysStoreFlags, use: (store: Store) => Promise<T>): Promise<T> {
  const { configFile, dataDir } = engineOptionsFromFlags({
    ...(flags.data === undefined ? {} : { data: flags.data }),
    ...(flags.config === undefined ? {} : { config: flags.config }),
  });
  const config = loadConfig({
    overrides: dataDir === undefined ? {} : { dataDir },
    ...(configFile === undefined ? {} : { configFile }),
  });
  // Loaded here, not at the top: other commands do not pay for SQLite.
  const { openSqliteStore } = await import('../../store/index.js');
  const store = await openSqliteStore({ dataDir: config.dataDir });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/**
 * `vivarium keys create --name NAME [--admin]`: the new key alone on its line of stdout (it is
 * shown this once: only its hash is stored); what it is goes to stderr.
 */
export async function keysCreateCommand(flags: KeysCreateFlags, io: CliIo): Promise<number> {
  const name = flags.name?.trim() ?? '';
  if (name === '' || name.length > MAX_KEY_NAME_CHARS || /[\p{Cc}]/u.test(name)) {
    throw new CliUsageError(
      `Expected \`--name\` to be a name of 1 to ${MAX_KEY_NAME_CHARS} printable characters, got \`${neutralizeControls(flags.name ?? '')}\``,
    );
  }
  const admin = flags.admin === true;
  const { key, record } = await withStore(flags, (store) => store.createKey({ name, admin }));
  io.stdout.write(`${key}\n`);
  io.stderr.write(
    `vivarium: created ${admin ? 'admin ' : ''}key ${record.id} (${neutralizeControls(record.name)}); ` +
      'it is shown only now: store it, then pass it as `Authorization: Bearer <key>`\n',
  );
  return EXIT_OK;
}

/** One row of `keys list --json`: the record, never the key (the store has only its hash). */
export type KeyListEntry = ApiKeyRecord;

const COLUMNS = ['ID', 'NAME', 'ADMIN', 'CREATED', 'REVOKED', 'LAST USED'] as const;

/** `vivarium keys list [--json]`: id, name, admin, created, revoked, last used — never a key. */
export async function keysListCommand(flags: KeysListFlags, io: CliIo): Promise<number> {
  const keys = await withStore(flags, (store) => store.listKeys());
  if (flags.json === true) {
    const entries: KeyListEntry[] = keys;
    io.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return EXIT_OK;
  }
  if (keys.length === 0) {
    io.stderr.write('vivarium: no API keys yet; create one with `vivarium keys create --name NAME`\n');
    return EXIT_OK;
  }
  const rows = keys.map((key) => [
    key.id,
    neutralizeControls(key.name),
    key.admin ? 'yes' : 'no',
    key.createdAt,
    key.revokedAt ?? '-',
    key.lastUsedAt ?? '-',
  ]);
  const widths = COLUMNS.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const format = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ');
  io.stdout.write(`${format(COLUMNS)}\n`);
  for (const row of rows) io.stdout.write(`${format(row)}\n`);
  return EXIT_OK;
}

/** `vivarium keys revoke ID`: exit 0 (also when already revoked), usage error for an unknown id. */
export async function keysRevokeCommand(id: string, flags: KeysStoreFlags, io: CliIo): Promise<number> {
  const shown = neutralizeControls(id);
  const outcome = await withStore(flags, async (store) => {
    if (await store.revokeKey(id)) return 'revoked';
    return (await store.getKey(id)) === null ? 'unknown' : 'already';
  });
  if (outcome === 'unknown')
    throw new CliUsageError(`No API key with id \`${shown}\` (\`vivarium keys list\` shows the ids)`);
  io.stdout.write(outcome === 'revoked' ? `revoked ${shown}\n` : `${shown} was already revoked\n`);
  return EXIT_OK;
}
