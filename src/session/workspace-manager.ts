import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { join } from 'node:path';
import { VivariumError } from '../errors/index.js';
import type { Sandbox } from '../sandbox/index.js';
import { newId } from './ids.js';
import {
  createVolume,
  destroyVolume,
  mountVolume,
  unmountVolume,
  type QuotaMechanism,
  type VolumeBounds,
} from './workspace-volume.js';

/** A host directory mounted at `/workspace`, with the host uid the kernel runs as. */
export interface Workspace {
  dir: string;
  /** Host uid of the kernel and owner of the directory (root engines); undefined otherwise. */
  uid: number | undefined;
  /** True when the engine created the directory and removes it on close. */
  owned: boolean;
  /** The image file of a size-bounded workspace volume, when quotas are in force. */
  imagePath?: string;
}

/**
 * Creates and removes workspaces under `<dataDir>/workspaces/<opaque id>`, each owned by the uid
 * its kernel runs as, mode 0700: no other kernel uid can enter it.
 */
export class WorkspaceManager {
  private readonly root: string;
  private readonly volumes: string;
  private readonly sandbox: Sandbox;
  /** `loop`: each workspace is a bounded ext4 volume; `none`: a plain directory (unbounded). */
  readonly quota: QuotaMechanism;
  private readonly bounds: VolumeBounds;

  constructor(options: { dataDir: string; sandbox: Sandbox; quota: QuotaMechanism; bounds: VolumeBounds }) {
    this.root = join(options.dataDir, 'workspaces');
    this.volumes = join(options.dataDir, 'volumes');
    this.sandbox = options.sandbox;
    this.quota = options.quota;
    this.bounds = options.bounds;
  }

  async create(): Promise<Workspace> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    await chmod(this.root, 0o711);
    const dir = join(this.root, newId('ws'));
    await mkdir(dir, { mode: 0o700 });
    const uid = this.sandbox.acquireUid();
    try {
      if (this.quota === 'loop') {
        await mkdir(this.volumes, { recursive: true, mode: 0o700 });
        const imagePath = join(this.volumes, `${basename(dir)}.img`);
        await createVolume({ imagePath, mountPoint: dir, bounds: this.bounds, uid });
        return { dir, uid, owned: true, imagePath };
      }
      if (uid !== undefined) await chown(dir, uid, uid);
    } catch (error) {
      this.sandbox.releaseUid(uid);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return { dir, uid, owned: true };
  }

  /**
   * Uses an existing directory as the workspace (CLI `--workspace`). Under a root engine the
   * kernel runs as the directory's owner when that is not root; a root-owned directory is used
   * as root inside the user namespace, with every capability dropped.
   */
  async adopt(dir: string): Promise<Workspace> {
    let info;
    try {
      info = await stat(dir);
    } catch {
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`workspaceDir\` to be an existing directory, got \`${dir}\` (string)`,
        { details: { workspaceDir: dir } },
      );
    }
    if (!info.isDirectory()) {
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`workspaceDir\` to be a directory, got \`${dir}\` (a file)`,
        { details: { workspaceDir: dir } },
      );
    }
    const uid = this.sandbox.isolated && this.sandbox.runningAsRoot && info.uid !== 0 ? info.uid : undefined;
    return { dir, uid, owned: false };
  }

  /**
   * Keeps a workspace for later (service shutdown): a volume is unmounted with its image kept, a
   * plain directory stays as it is; the uid is released in this process only.
   */
  async park(workspace: Workspace): Promise<void> {
    if (workspace.owned && workspace.imagePath) await unmountVolume({ mountPoint: workspace.dir });
    this.sandbox.releaseUid(workspace.uid);
  }

  /** Brings a parked workspace back: its uid reserved, its volume mounted again. */
  async restore(workspace: Workspace): Promise<void> {
    if (workspace.imagePath) {
      await stat(workspace.imagePath).catch(() => {
        throw new VivariumError(
          'FILE_NOT_FOUND',
          `The workspace image of ${basename(workspace.dir)} is gone`,
        );
      });
      await mkdir(workspace.dir, { recursive: true, mode: 0o700 });
      await mountVolume({ imagePath: workspace.imagePath, mountPoint: workspace.dir });
    } else {
      const info = await stat(workspace.dir).catch(() => null);
      if (!info?.isDirectory())
        throw new VivariumError('FILE_NOT_FOUND', `The workspace ${basename(workspace.dir)} is gone`);
    }
    this.sandbox.reserveUid(workspace.uid);
  }

  /** Removes an owned workspace and releases its uid. Idempotent. */
  async dispose(workspace: Workspace): Promise<void> {
    if (workspace.owned) {
      if (workspace.imagePath)
        await destroyVolume({ imagePath: workspace.imagePath, mountPoint: workspace.dir });
      await rm(workspace.dir, { recursive: true, force: true, maxRetries: 3 });
      this.sandbox.releaseUid(workspace.uid);
    }
  }
}
