import { describe, expect, it } from 'vitest';
import type { DisplayDataOutput, Execution, Session } from '../../src/index.js';
import { pngSize, recordEvents, useEngine, expectOk } from '../helpers/engine.js';

/** Rich outputs (the IPython display protocol, figures, pandas) and streaming of stdout/stderr. */

const engine = useEngine({ preload: ['numpy', 'pandas', 'matplotlib.pyplot'] });

let shared: Session | null = null;
async function session(): Promise<Session> {
  shared ??= await engine.vv.createSession();
  return shared;
}

function displays(execution: Execution): DisplayDataOutput[] {
  return execution.outputs.filter(
    (output): output is DisplayDataOutput => output.output_type === 'display_data',
  );
}

/** A tiny valid 1x1 PNG, built in Python with zlib so the test does not trust our own encoder. */
const PNG_MAKER = `
import struct, zlib
def _chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
PNG_BYTES = (b'\\x89PNG\\r\\n\\x1a\\n' + _chunk(b'IHDR', struct.pack('>IIBBBBB', 3, 2, 8, 2, 0, 0, 0))
             + _chunk(b'IDAT', zlib.compress(b'\\x00' + b'\\xff\\x00\\x00' * 3 + b'\\x00' + b'\\x00\\xff\\x00' * 3))
             + _chunk(b'IEND', b''))
`;

describe('matplotlib', () => {
  it('turns an open figure into a valid PNG and closes it after the cell', async () => {
    const s = await session();
    const plot = await s.execute('import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title("t");');
    expectOk(plot);
    const images = displays(plot).filter((output) => typeof output.data['image/png'] === 'string');
    expect(images).toHaveLength(1);
    const size = pngSize(images[0]!.data['image/png'] as string);
    expect(size.width).toBeGreaterThan(0);
    expect(size.height).toBeGreaterThan(0);
    expect(images[0]!.data['text/plain']).toMatch(/Figure size/);
    const next = await s.execute('import matplotlib.pyplot as plt\nlen(plt.get_fignums())');
    expectOk(next);
    expect(next.result).toEqual({ 'text/plain': '0' });
    expect(displays(next)).toEqual([]);
  });

  it('shows one image per figure, with the stream output before it kept in order', async () => {
    const s = await session();
    const execution = await s.execute(
      'import matplotlib.pyplot as plt\nprint("before")\nfig1 = plt.figure(); plt.plot([1, 2])\nfig2 = plt.figure(); plt.bar([1, 2], [3, 4])\nprint("after");',
    );
    expectOk(execution);
    expect(displays(execution)).toHaveLength(2);
    expect(execution.outputs[0]).toEqual({ output_type: 'stream', name: 'stdout', text: 'before\nafter\n' });
  });
});

describe('pandas', () => {
  it('shows a DataFrame as HTML and text, and a Series as HTML too', async () => {
    const s = await session();
    await s.execute('import pandas as pd\ndf = pd.DataFrame({"city": ["Oslo", "Rome"], "temp": [4, 19]})');
    const frame = await s.execute('df');
    expectOk(frame);
    expect(frame.result?.['text/html']).toMatch(/<table[\s\S]*Oslo[\s\S]*<\/table>/);
    expect(frame.result?.['text/plain']).toMatch(/city\s+temp[\s\S]*Rome\s+19/);
    const series = await s.execute('df["temp"]');
    expectOk(series);
    expect(series.result?.['text/html']).toMatch(/<table[\s\S]*19[\s\S]*<\/table>/);
    expect(series.result?.['text/plain']).toMatch(/Name: temp/);
  });
});

describe('the display protocol', () => {
  it('uses every _repr_*_ method', async () => {
    const s = await session();
    expectOk(await s.execute(PNG_MAKER));
    const execution = await s.execute(`
class Rich:
    def _repr_html_(self): return '<b>html</b>'
    def _repr_svg_(self): return '<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    def _repr_markdown_(self): return '# md'
    def _repr_json_(self): return {'k': [1, 2]}
    def _repr_latex_(self): return r'$\\alpha$'
    def _repr_png_(self): return PNG_BYTES
    def __repr__(self): return 'Rich()'
Rich()`);
    expectOk(execution);
    const data = execution.result!;
    expect(data['text/html']).toBe('<b>html</b>');
    expect(data['image/svg+xml']).toBe('<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    expect(data['text/markdown']).toBe('# md');
    expect(data['application/json']).toEqual({ k: [1, 2] });
    expect(data['text/latex']).toBe('$\\alpha$');
    expect(data['text/plain']).toBe('Rich()');
    expect(pngSize(data['image/png'] as string)).toEqual({ width: 3, height: 2 });
  });

  it('uses _repr_mimebundle_ (with metadata), falling back to the other methods for missing types', async () => {
    const s = await session();
    const execution = await s.execute(`
class Bundle:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {'text/html': '<i>b</i>', 'application/vnd.custom+json': {'n': 1}}, {'text/html': {'isolated': True}}
    def _repr_markdown_(self): return 'md too'
Bundle()`);
    expectOk(execution);
    expect(execution.result).toMatchObject({
      'text/html': '<i>b</i>',
      'application/vnd.custom+json': { n: 1 },
      'text/markdown': 'md too',
    });
    expect(execution.result!['text/plain']).toMatch(/Bundle object/);
    expect(execution.outputs[0]).toMatchObject({
      output_type: 'execute_result',
      metadata: { 'text/html': { isolated: true } },
    });
  });

  it('survives a broken _repr_html_ and __repr__', async () => {
    const s = await session();
    const execution = await s.execute(`
class Broken:
    def _repr_html_(self): raise RuntimeError('no html')
    def __repr__(self): raise RuntimeError('no repr')
Broken()`);
    expectOk(execution);
    expect(execution.result!['text/html']).toBeUndefined();
    expect(execution.result!['text/plain']).toMatch(/repr failed/);
  });

  it('has display() as a builtin, in order with prints', async () => {
    const s = await session();
    const execution = await s.execute('print("one")\ndisplay({"a": 1}, "two")\nprint("three")');
    expectOk(execution);
    expect(execution.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'one\n' },
      { output_type: 'display_data', data: { 'text/plain': "{'a': 1}" }, metadata: {} },
      { output_type: 'display_data', data: { 'text/plain': "'two'" }, metadata: {} },
      { output_type: 'stream', name: 'stdout', text: 'three\n' },
    ]);
    expect(execution.result).toBeNull();
  });

  it('updates an output in place through its display_id', async () => {
    const s = await session();
    const recorder = recordEvents();
    const execution = await s.execute("h = display('a', display_id=True)\nh.update('b')", {
      onEvent: recorder.onEvent,
    });
    expectOk(execution);
    const shown = displays(execution);
    expect(shown).toHaveLength(1);
    expect(shown[0]!.data).toEqual({ 'text/plain': "'b'" });
    const displayEvents = recorder.events.flatMap(({ event }) =>
      event.type === 'display-data' ? [event] : [],
    );
    expect(displayEvents.map((event) => event.update)).toEqual([false, true]);
    expect(displayEvents[0]!.displayId).toBeTruthy();
    expect(displayEvents[1]!.displayId).toBe(displayEvents[0]!.displayId);
    // update_display() by id, as a builtin as well.
    const byId = await s.execute("display('x', display_id='fixed')\nupdate_display('y', display_id='fixed')");
    expectOk(byId);
    expect(displays(byId).map((output) => output.data)).toEqual([{ 'text/plain': "'y'" }]);
  });

  it('keeps only the last frame of a clear_output(wait=True) progress loop', async () => {
    const s = await session();
    for (const prefix of ['', 'from vivarium_display import clear_output\n']) {
      const execution = await s.execute(
        `${prefix}import time\nfor i in range(5):\n    clear_output(wait=True)\n    print(f"step {i}/4")\n    time.sleep(0.01)`,
      );
      expectOk(execution);
      expect(execution.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'step 4/4\n' }]);
    }
    const immediate = await s.execute("print('gone')\nclear_output()\ndisplay('kept')");
    expectOk(immediate);
    expect(immediate.outputs).toEqual([
      { output_type: 'display_data', data: { 'text/plain': "'kept'" }, metadata: {} },
    ]);
  });

  it('routes IPython.display to the kernel', async () => {
    const s = await session();
    const execution = await s.execute(
      [
        'from IPython.display import display, clear_output, update_display, HTML, Markdown',
        "print('old')",
        'clear_output(wait=True)',
        "display(HTML('<b>bold</b>'), Markdown('*it*'))",
        "h = display('v1', display_id=True)",
        "h.update('v2')",
      ].join('\n'),
    );
    expectOk(execution);
    expect(execution.stdout).toBe('old\n');
    const shown = displays(execution);
    expect(shown).toHaveLength(3);
    expect(shown[0]!.data['text/html']).toBe('<b>bold</b>');
    expect(shown[1]!.data['text/markdown']).toBe('*it*');
    expect(shown[2]!.data).toEqual({ 'text/plain': "'v2'" });
    expect(execution.outputs.some((output) => output.output_type === 'stream')).toBe(false);
    // The module-level functions of IPython itself are ours too.
    const core = await s.execute(
      'import IPython.core.display_functions as f, IPython.display as d\n(f.display is d.display is display, f.clear_output is d.clear_output)',
    );
    expectOk(core);
    expect(core.result).toEqual({ 'text/plain': '(True, True)' });
  });

  it('offers an IPython.display shim where IPython is not installed', async () => {
    // A session of its own: IPython must not be imported yet, and its path is hidden from imports.
    const s = await engine.vv.createSession({ preload: [] });
    try {
      const execution = await s.execute(
        [
          'import sys',
          "sys.path[:] = [p for p in sys.path if 'packages' not in p]",
          'from IPython.display import display, clear_output, HTML, Markdown',
          'import IPython',
          "print(getattr(IPython, '__vivarium_shim__', False))",
          "display(HTML('<p>x</p>'))",
          "display(Markdown('**y**'))",
        ].join('\n'),
      );
      expectOk(execution);
      expect(execution.stdout).toBe('True\n');
      expect(
        displays(execution).map((output) => output.data['text/html'] ?? output.data['text/markdown']),
      ).toEqual(['<p>x</p>', '**y**']);
    } finally {
      await s.close();
    }
  });
});

describe('streaming', () => {
  it('delivers output while the cell still runs', async () => {
    const s = await session();
    const recorder = recordEvents();
    const execution = await s.execute("import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b')", {
      onEvent: recorder.onEvent,
    });
    expectOk(execution);
    expect(execution.stdout).toBe('a\nb\n');
    const firstDelta = recorder.events.find(({ event }) => event.type === 'stream-delta');
    const end = recorder.events.find(({ event }) => event.type === 'execution-end');
    expect(firstDelta?.event).toMatchObject({ name: 'stdout', text: 'a\n' });
    expect(end!.atMs - firstDelta!.atMs).toBeGreaterThanOrEqual(1_000);
    expect(recorder.events[0]!.event.type).toBe('execution-start');
    expect(recorder.events.at(-1)!.event.type).toBe('execution-end');
  });

  it('captures output of C code and child processes, and stderr separately', async () => {
    const s = await session();
    const execution = await s.execute(
      "import os, sys, subprocess\nos.system('echo hi')\nos.write(1, b'raw\\n')\nsubprocess.run(['sh', '-c', 'echo err >&2'])\nsys.stderr.write('py-err\\n');",
    );
    expectOk(execution);
    expect(execution.stdout).toBe('hi\nraw\n');
    expect(execution.stderr).toBe('err\npy-err\n');
  });

  it('decodes invalid UTF-8 with replacement characters', async () => {
    const s = await session();
    const execution = await s.execute("import os\nos.write(1, b'ok \\xff\\xfe end \\xe2\\x82\\xac\\n')");
    expectOk(execution);
    expect(execution.stdout).toBe('ok \uFFFD\uFFFD end €\n');
  });

  it('caps output, says so, and the session keeps working', async () => {
    const s = await session();
    const execution = await s.execute(
      "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 100_000 + '\\n')\nprint('done')",
      {
        maxOutputBytes: 100_000,
      },
    );
    expectOk(execution);
    expect(execution.truncated.output).toBe(true);
    expect(Buffer.byteLength(execution.stdout, 'utf8')).toBeLessThanOrEqual(100_000);
    expect(execution.stdout.length).toBeGreaterThan(50_000);
    const after = await s.execute("print('still here')");
    expectOk(after);
    expect(after.stdout).toBe('still here\n');
    expect(after.truncated.output).toBe(false);
  });
});
