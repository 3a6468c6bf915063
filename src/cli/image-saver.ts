import { join } from 'node:path';
import type { ImageOutput, TextSink } from './render.js';

/** What the saver writes through: a session's `files`, or a `WorkspaceFiles` on an adopted directory. */
export interface ImageWriter {
  write(path: string, data: Uint8Array): Promise<unknown>;
}

/** Options of {@link ImageSaver}. */
export interface ImageSaverOptions {
  /** Writes relative to the workspace; refuses symlinks, so code in the sandbox cannot redirect a save. */
  files: ImageWriter;
  /** Host path of the workspace, for the paths printed. */
  hostDir: string;
  /** Where a failed save is reported. */
  stderr: TextSink;
}

/**
 * Saves images from a cell's outputs into the workspace. `save` returns the path at once, so the
 * line naming it is printed in order with the rest of the output; the writes run one after another
 * and `flush()` waits for them. A failed write is reported on stderr, never thrown.
 */
export class ImageSaver {
  private readonly options: ImageSaverOptions;
  private pending: Promise<void> = Promise.resolve();

  constructor(options: ImageSaverOptions) {
    this.options = options;
  }

  /** Starts writing `image` as `name` (relative to the workspace); returns its host path. */
  save(name: string, image: ImageOutput): string {
    const hostPath = join(this.options.hostDir, name);
    this.pending = this.pending
      .then(() => this.options.files.write(name, image.bytes))
      .then(
        () => undefined,
        (error: unknown) => {
          this.options.stderr.write(
            `vivarium: could not save ${hostPath}: ${error instanceof Error ? error.message : String(error)}\n`,
          );
        },
      );
    return hostPath;
  }

  /** Resolves when every started write has finished (or failed and been reported). */
  flush(): Promise<void> {
    return this.pending;
  }
}

/** `[image/png output: 1234 bytes, saved to /w/output-1.png]`. */
export function savedImageLine(image: ImageOutput, hostPath: string): string {
  return `[${image.mime} output: ${image.bytes.length} bytes, saved to ${hostPath}]`;
}
