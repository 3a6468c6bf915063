import { describe, expect, it } from 'vitest';
import type { Session } from '../../src/index.js';
import { useEngine, expectOk } from '../helpers/engine.js';

/**
 * Forgery against the kernel protocol. Output a cell prints is only ever stream text; the report
 * channel (fds ≥ 500) can be found and written to by code that goes looking, and then the
 * execution must never end `ok`: the host kills that kernel, says why, and keeps serving the rest.
 */

const engine = useEngine();

let shared: Session | null = null;
async function session(): Promise<Session> {
  shared ??= await engine.vv.createSession();
  return shared;
}

/** Python: `frame(message)` builds a protocol frame; `EXECUTION_ID` is the running cell's real id. */
const FORGERY_KIT = String.raw`
import gc, json, os, struct
def frame(message):
    body = json.dumps(message).encode()
    return struct.pack('>I', len(body)) + body
def fake_reply(execution_id, status='ok'):
    return frame({'type': 'reply', 'id': execution_id, 'status': status, 'execution_count': 999, 'cpu_ms': 0,
                  'peak_rss_bytes': 0, 'files': [{'path': 'forged', 'sizeBytes': 1, 'change': 'created'}],
                  'files_truncated': False, 'stream_truncated': False})
EXECUTION_ID = next(o.execution_id for o in gc.get_objects()
                    if type(o).__name__ == 'State' and type(o).__module__.startswith('vivarium_runtime'))
def channel_fds():
    return [int(name) for name in os.listdir('/proc/self/fd') if int(name) >= 500]
def write_channel(data):
    written = 0
    for fd in channel_fds():
        try:
            os.write(fd, data)
            written += 1
        except OSError:
            pass
    return written
`;

describe('output that looks like protocol', () => {
  it('printing frames, headers included and with the real execution id, is just text', async () => {
    const s = await session();
    const execution = await s.execute(
      `${FORGERY_KIT}
import sys
forged = fake_reply(EXECUTION_ID)
sys.stdout.buffer.write(forged)
sys.stdout.flush()
os.write(1, forged)
os.write(2, forged + fake_reply(EXECUTION_ID, 'error'))
print(json.dumps({'type': 'execute_result', 'id': EXECUTION_ID, 'execution_count': 1, 'data': {'text/plain': 'forged'}, 'metadata': {}}))
raise ValueError('the real outcome')`,
    );
    expect(execution.status).toBe('error');
    expect(execution.error?.ename).toBe('ValueError');
    expect(execution.result).toBeNull();
    expect(execution.files).toEqual([]);
    expect(execution.executionCount).not.toBe(999);
    expect(execution.stdout).toContain('"type": "reply"');
    expect(execution.stdout).toContain('\u0000\u0000\u0000');
    expect(execution.stderr.split('"type": "reply"')).toHaveLength(3);
    expect(s.state).toBe('idle');
    expectOk(await s.execute('1'));
  });

  it('files named like results are just files', async () => {
    const s = await session();
    const execution = await s.execute(
      `${FORGERY_KIT}
for name in ('reply.json', 'result.json', 'execution.json', 'stdout'):
    with open(name, 'wb') as f:
        f.write(fake_reply(EXECUTION_ID))
os.makedirs('.vivarium', exist_ok=True)
open('.vivarium/reply', 'wb').write(fake_reply(EXECUTION_ID))
'real'`,
    );
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': "'real'" });
    expect(execution.executionCount).not.toBe(999);
    expect(execution.files.map((file) => file.path)).toEqual([
      'execution.json',
      'reply.json',
      'result.json',
      'stdout',
    ]);
  });

  it('replacing or closing sys.stdout / fd 1 does not cut the report', async () => {
    const s = await session();
    const replaced = await s.execute(
      "import io, sys\nsys.stdout = io.StringIO()\nsys.stderr = io.StringIO()\nprint('hidden')\n1/0",
    );
    expect(replaced.status).toBe('error');
    expect(replaced.error?.ename).toBe('ZeroDivisionError');
    expect(replaced.stdout).toBe('');
    const stillReplaced = await s.execute("print('still hidden')\n'result'");
    expectOk(stillReplaced);
    expect(stillReplaced.result).toEqual({ 'text/plain': "'result'" });
    const restored = await s.execute(
      "sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__\nprint('visible')",
    );
    expectOk(restored);
    expect(restored.stdout).toBe('visible\n');
  });

  it('closing fd 1 and 2 leaves the kernel working, without a spinning pump', async () => {
    const s = await engine.vv.createSession();
    try {
      const closed = await s.execute("import os\nos.close(1)\nos.close(2)\n'closed'");
      expectOk(closed);
      const idle = await s.execute('import time\ntime.sleep(1)');
      expectOk(idle);
      // A pump thread busy-looping on the closed pipe would burn a whole CPU second here.
      expect(idle.cpuMs).toBeLessThan(300);
      const after = await s.execute('2 + 2');
      expect(after.result).toEqual({ 'text/plain': '4' });
    } finally {
      await s.close();
    }
  });
});

describe('writing into the report channel', () => {
  const attacks: Array<[string, string]> = [
    ['an oversized length header', "write_channel(b'\\xff\\xff\\xff\\xff' + b'garbage')"],
    ['a bare length header', "write_channel(struct.pack('>I', 1000))"],
    ['a body that is not JSON', "write_channel(struct.pack('>I', 5) + b'hello')"],
    ['a frame of an unknown type', "write_channel(frame({'type': 'bogus'}))"],
    ['a valid reply of another execution', "write_channel(fake_reply('exe_forged'))"],
    // The hardest forgery: a well-formed reply with the running cell's real id, written before the
    // runtime's own. The host's post-reply nonce barrier makes the real reply arrive second.
    ['a valid ok reply with the real execution id', 'write_channel(fake_reply(EXECUTION_ID))'],
    [
      'a second ready frame',
      "write_channel(frame({'type': 'ready', 'pid': 1, 'python': '3', 'preloaded': [], 'preloadErrors': []}))",
    ],
  ];

  it.each(attacks)(
    '%s: never ok, the session dies with a protocol reason, others keep working',
    async (name, attack) => {
      const victim = await engine.vv.createSession();
      const bystander = await session();
      try {
        expectOk(await victim.execute('kept = 1'));
        const neighbour = bystander.execute("import time\ntime.sleep(0.5)\nprint('neighbour done')\n'ok'");
        const started = performance.now();
        const execution = await victim.execute(
          `${FORGERY_KIT}\nassert write_channel(b'') >= 1\n${attack}\nimport time\ntime.sleep(0.2)\n'forged'`,
          {
            timeoutMs: 20_000,
          },
        );
        expect(performance.now() - started).toBeLessThan(5_000);
        expect(execution.status).not.toBe('ok');
        expect(['killed', 'error']).toContain(execution.status);
        // With the real id, the runtime's genuine result may arrive before its real reply exposes the forgery.
        if (!name.includes('real execution id')) expect(execution.result).toBeNull();
        expect(execution.executionCount).not.toBe(999);
        expect(victim.state).toBe('dead');
        expect(victim.deathReason).toMatch(/protocol/);
        await expect(victim.execute('1')).rejects.toMatchObject({ code: 'SESSION_DEAD' });
        const other = await neighbour;
        expectOk(other);
        expect(other.stdout).toBe('neighbour done\n');
        // A fresh session works too, and the victim comes back through restart().
        expectOk(await engine.vv.run('1'));
        await victim.restart();
        expectOk(await victim.execute('1'));
      } finally {
        await victim.close();
      }
    },
  );
});
