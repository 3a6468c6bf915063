import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeExecution,
  runAttackExpectingVerdict,
  startSecurityEngine,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: code planted in the workspace to run at the next kernel start (`.pth`,
 * `sitecustomize.py`) or to shadow the standard library, an installed package or the runtime
 * itself (`json.py`, `numpy.py`, `vivarium_runtime/`). Python starts isolated (`-I -B`) and the
 * workspace is last on `sys.path`.
 */

let engine: SecurityEngine;

beforeAll(async () => {
  engine = await startSecurityEngine('planted-modules');
});

afterAll(async () => {
  await engine?.stop();
});

describe('planted modules', () => {
  it('run nowhere and shadow nothing after restart(); the kernel starts fine with preload json', async () => {
    const session = await engine.session({ preload: ['json'] });
    const planted = await runAttackExpectingVerdict(session, 'plant_modules');
    expect(planted.planted).toContain('json.py');
    await session.restart();
    expect(session.state).toBe('idle');
    const execution = await session.execute(
      await import('node:fs').then((fs) =>
        fs.readFileSync(new URL('../fixtures/attacks/check_planted_modules.py', import.meta.url), 'utf8'),
      ),
    );
    expect(execution.status, describeExecution(execution)).toBe('ok');
    const verdict = JSON.parse(execution.stdout.trim().split('\n').at(-1)!);
    expect(verdict.jsonShadowed).toBeUndefined();
    expect(verdict.jsonFile).toMatch(/^\/usr\/lib\/python3[.\d]*\/json\/__init__\.py$/);
    expect(verdict.numpyFile).toMatch(/^\/usr\/lib\/python3\/dist-packages\/numpy\/__init__\.py$/);
    expect(verdict.numpyShadowed).toBe(false);
    expect(verdict.runtimeFile).toBe('/opt/vivarium/runtime/vivarium_runtime/__init__.py');
    expect(verdict.markers).toEqual([]);
    expect(verdict.flags).toEqual({ isolated: 1, no_user_site: 1, dont_write_bytecode: 1 });
    // User modules in the workspace stay importable, last on the path.
    expect(verdict.userHelperAnswer).toBe(42);
    expect(verdict.workspaceOnPathLast).toBe(true);
    for (const marker of [
      'pth',
      'json',
      'numpy',
      'sitecustomize',
      'usercustomize',
      'vivarium_runtime',
      'vivarium_runtime_kernel',
    ]) {
      expect(existsSync(join(session.workspaceDir, `marker-${marker}`)), marker).toBe(false);
    }
    // No bytecode written into the workspace either (-B).
    expect(existsSync(join(session.workspaceDir, '__pycache__'))).toBe(false);
  });
});
