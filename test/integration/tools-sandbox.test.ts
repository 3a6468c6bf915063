import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isVivariumError } from '../../src/index.js';
import { runSandboxTool } from '../../src/tools/index.js';
import { useEngine } from '../helpers/engine.js';

describe('sandbox tools', () => {
  const engine = useEngine({ pool: { size: 0 } });

  it('runs in a side kernel on the workspace, leaving the session namespace alone', async () => {
    const session = await engine.vv.createSession();
    await session.execute('marker = 1');
    const { result } = await runSandboxTool(
      { session, tool: 'echo', args: { text: 'it\'s "quoted"\nand multi-line' } },
      z.object({ args: z.object({ text: z.string() }), cwd: z.string(), uid: z.number() }),
    );
    expect(result.args.text).toBe('it\'s "quoted"\nand multi-line');
    expect(result.cwd).toBe('/workspace');
    const variables = await session.variables();
    expect(variables.map((variable) => variable.name)).toEqual(['marker']);
    expect((await session.execute('marker + 1')).result).toEqual({ 'text/plain': '2' });
  });

  it('reports a failing or unknown tool as TOOL_FAILED, never a crash', async () => {
    const session = await engine.vv.createSession();
    const error = await runSandboxTool({ session, tool: 'no_such_tool', args: {} }, z.unknown()).catch(
      (caught: unknown) => caught,
    );
    expect(isVivariumError(error, 'TOOL_FAILED')).toBe(true);
    expect((error as Error).message).toContain('ModuleNotFoundError');
    const invalid = await runSandboxTool({ session, tool: 'echo; import os', args: {} }, z.unknown()).catch(
      (caught: unknown) => caught,
    );
    expect(isVivariumError(invalid, 'INVALID_ARGUMENT')).toBe(true);
  });
});
