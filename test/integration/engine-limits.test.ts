import { describe, expect, it } from 'vitest';
import { useEngine } from '../helpers/engine.js';

describe('session limits over configured limits', () => {
  const engine = useEngine({ pool: { size: 0 }, limits: { memoryLimitMb: 512, maxOutputBytes: 1000 } });

  it('a session setting one limit keeps the configured others', async () => {
    const session = await engine.vv.createSession({ limits: { timeoutMs: 5000 } });
    expect(session.limits).toMatchObject({ timeoutMs: 5000, memoryLimitMb: 512, maxOutputBytes: 1000 });
    const flood = await session.execute('print("x" * 5000)');
    expect(flood.truncated.output).toBe(true);
    expect(flood.stdout.length).toBeLessThanOrEqual(1000);
    await session.close();
  });
});
