import type { WorkspaceEntry } from '../index.js';
import { VivariumClientError } from './client-error.js';
import type { HttpTransport } from './http-transport.js';
import { fileListingSchema, fileWriteResultSchema } from './response-schemas.js';

/** Options of the {@link RemoteFiles} calls. */
export interface RemoteFileCallOptions {
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** What can be written to a file: bytes, a Blob, or text (sent as UTF-8). */
export type FileData = Uint8Array | ArrayBuffer | Blob | string;

/** Result of {@link RemoteFiles.write}. */
export interface RemoteWriteResult {
  /** The normalised path written, relative to the workspace root. */
  path: string;
  /** Bytes written. */
  sizeBytes: number;
}

/** Result of {@link RemoteFiles.list}. */
export interface RemoteFileListing {
  /** The directory listed, relative to the workspace root (`''` for the root). */
  path: string;
  /** Entries sorted by name within each directory. */
  entries: WorkspaceEntry[];
  /** True when the service left entries out (its bound on one listing). */
  truncated: boolean;
}

/** How the sandbox sees the workspace; a path under it names the same file as the relative path. */
const WORKSPACE_PREFIX = '/workspace/';

/**
 * `a/b c.txt` → `a/b%20c.txt`: each component encoded, the slashes kept. A leading `/workspace/`
 * is dropped and `.` components removed (the engine's rules). Another absolute path keeps its
 * leading slash, encoded, so the service refuses it (`PATH_INVALID`) rather than the client quietly
 * making it relative. A `..` component is refused here with `PATH_INVALID`: a URL cannot carry it
 * (`fetch` resolves it away, encoded or not), and the engine would refuse it anyway.
 */
export function encodeWorkspacePath(path: string): string {
  if (typeof path !== 'string')
    throw new VivariumClientError('PATH_INVALID', `Expected \`path\` to be a string, got ${typeof path}`);
  const relative = path.startsWith(WORKSPACE_PREFIX) ? path.slice(WORKSPACE_PREFIX.length) : path;
  const components = relative.split('/');
  if (components.includes('..'))
    throw new VivariumClientError(
      'PATH_INVALID',
      `Expected \`path\` to stay inside the workspace (no \`..\` components), got \`${path}\``,
      { details: { path } },
    );
  return components
    .filter((component, index) => component !== '.' && (index === 0 || component !== ''))
    .map((component) => encodeURIComponent(component))
    .join('/')
    .replace(/^\//, '%2F');
}

/**
 * A session's workspace (`/workspace` in the sandbox) over HTTP, with the engine's rules: paths are
 * relative to the workspace (a leading `/workspace/` is accepted), no `..`, no symlinks followed,
 * size and type limits; refusals arrive as `VivariumClientError` (`PATH_INVALID`, `FILE_REFUSED`,
 * `FILE_TOO_LARGE`, `FILE_TYPE_NOT_ALLOWED`, `FILE_NOT_FOUND`).
 */
export class RemoteFiles {
  readonly #transport: HttpTransport;
  readonly #sessionPath: string;

  /** @internal Made by {@link RemoteSession}. */
  constructor(transport: HttpTransport, sessionPath: string) {
    this.#transport = transport;
    this.#sessionPath = sessionPath;
  }

  /** Writes (creates or replaces) a file, creating missing parent directories. */
  async write(path: string, data: FileData, options: RemoteFileCallOptions = {}): Promise<RemoteWriteResult> {
    const body = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const answer = await this.#transport.json(
      {
        method: 'PUT',
        path: `${this.#sessionPath}/files/${encodeWorkspacePath(path)}`,
        body,
        signal: options.signal,
      },
      fileWriteResultSchema,
    );
    return { path: answer.path, sizeBytes: answer.sizeBytes };
  }

  /** The bytes of a file. */
  async read(path: string, options: RemoteFileCallOptions = {}): Promise<Uint8Array> {
    return await this.#transport.bytes({
      method: 'GET',
      path: `${this.#sessionPath}/files/${encodeWorkspacePath(path)}`,
      signal: options.signal,
    });
  }

  /** A file's content decoded as UTF-8. */
  async readText(path: string, options: RemoteFileCallOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.read(path, options));
  }

  /** The entries of a directory (the workspace root by default). */
  async list(
    path?: string,
    options: RemoteFileCallOptions & { recursive?: boolean } = {},
  ): Promise<RemoteFileListing> {
    const answer = await this.#transport.json(
      {
        method: 'GET',
        path: `${this.#sessionPath}/files`,
        query: {
          path: path === undefined || path === '' ? undefined : path,
          recursive: options.recursive ? 'true' : undefined,
        },
        signal: options.signal,
      },
      fileListingSchema,
    );
    return { path: answer.path, entries: answer.entries, truncated: answer.truncated };
  }

  /** Removes a file (or an empty directory; `recursive` for a whole tree). */
  async remove(path: string, options: RemoteFileCallOptions & { recursive?: boolean } = {}): Promise<void> {
    await this.#transport.empty({
      method: 'DELETE',
      path: `${this.#sessionPath}/files/${encodeWorkspacePath(path)}`,
      query: { recursive: options.recursive ? 'true' : undefined },
      signal: options.signal,
    });
  }
}
