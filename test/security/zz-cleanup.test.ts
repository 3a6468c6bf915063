import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  expectNoSuiteLeftovers,
  processesOfUid,
  readManifests,
  SECURITY_RUN_DATA_DIR_PREFIX,
  SECURITY_RUN_ID,
} from '../helpers/security.js';

/**
 * The final check of the containment suite. Each file's fixture already checks its own engine and
 * the host as a whole in `afterAll`; this looks at the whole run from the outside, through the
 * manifests every fixture wrote: no kernel process, data directory, mount or loop device is left.
 * Named to sort last; vitest's default sequencer also runs short, previously passing files last,
 * but only a sequencer (or a project with a later `sequence.groupOrder`) could guarantee it, so
 * the host-wide check also runs at the end of every file.
 */

describe('after the whole suite', () => {
  it('no kernel process, data directory, mount or loop device of the suite is left', async () => {
    const manifests = await readManifests();
    const thisRun = manifests.filter(({ manifest }) => manifest.runnerPid === SECURITY_RUN_ID);
    for (const { manifest } of thisRun) {
      expect(manifest.stopped, `${manifest.dataDir}: its engine was never stopped`).toBe(true);
      expect(existsSync(manifest.dataDir), `${manifest.dataDir} still exists`).toBe(false);
      for (const uid of manifest.uids)
        expect(await processesOfUid(uid), `processes of kernel uid ${uid}`).toEqual([]);
    }
    await expectNoSuiteLeftovers();
    const leftDirs = (await readdir(tmpdir())).filter((entry) =>
      entry.startsWith(SECURITY_RUN_DATA_DIR_PREFIX),
    );
    expect(leftDirs, 'data directories of this run').toEqual([]);

    // Bookkeeping: this run's manifests are checked; those of finished runs are dropped too.
    for (const { file, manifest } of manifests) {
      if (manifest.runnerPid === SECURITY_RUN_ID || !existsSync(`/proc/${manifest.runnerPid}`))
        await rm(file, { force: true });
    }
  });
});
