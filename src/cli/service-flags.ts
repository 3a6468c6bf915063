import type { Command } from 'commander';
import { VivariumClient } from '../client/index.js';
import { flagExpectation } from './usage-error.js';

/** Where the commands that talk to a service look for it when neither `--server` nor the env says. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8420';

/** `--server`, `--api-key` (raw commander values). */
export interface ServiceFlags {
  server?: string;
  apiKey?: string;
}

/** Registers `--server URL` and `--api-key KEY` on a command; `serverDefault` says what an unset `--server` means. */
export function addServiceFlags(command: Command, serverDefault: string): Command {
  return command
    .option('--server <url>', `the Vivarium service to talk to (${serverDefault})`)
    .option(
      '--api-key <key>',
      'API key for the service, sent as `Authorization: Bearer` (default: $VIVARIUM_API_KEY)',
    );
}

/**
 * The service URL of `--server`, else `$VIVARIUM_SERVER_URL`, else `fallback` (null: no service,
 * run locally). A URL that is not http(s) is a usage error.
 */
export function serverUrlFromFlags(
  flags: ServiceFlags,
  env: NodeJS.ProcessEnv,
  fallback: string | null,
): string | null {
  const fromFlag = flags.server;
  const fromEnv = env.VIVARIUM_SERVER_URL?.trim() === '' ? undefined : env.VIVARIUM_SERVER_URL;
  const raw = fromFlag ?? fromEnv;
  if (raw === undefined) return fallback;
  let url: URL | null = null;
  try {
    url = new URL(raw.trim());
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw flagExpectation(
      fromFlag === undefined ? 'VIVARIUM_SERVER_URL' : '--server',
      'an http(s) URL such as `http://127.0.0.1:8420`',
      raw,
    );
  return raw.trim();
}

/** A client of the service at `baseUrl`, with the key of `--api-key` or `$VIVARIUM_API_KEY`. */
export function clientForServer(
  baseUrl: string,
  flags: ServiceFlags,
  env: NodeJS.ProcessEnv,
): VivariumClient {
  const apiKey = flags.apiKey ?? (env.VIVARIUM_API_KEY?.trim() === '' ? undefined : env.VIVARIUM_API_KEY);
  if (apiKey !== undefined && (apiKey.trim() === '' || /[\r\n]/.test(apiKey)))
    throw flagExpectation(
      flags.apiKey === undefined ? 'VIVARIUM_API_KEY' : '--api-key',
      'an API key on one line',
      '<redacted>',
    );
  return new VivariumClient({ baseUrl, ...(apiKey === undefined ? {} : { apiKey: apiKey.trim() }) });
}
