import { describe, expect, it } from 'vitest';
import type { ExecutionEvent } from '../kernel/index.js';
import {
  bundleText,
  imageFromBundle,
  neutralizeControls,
  OutputPrinter,
  renderTable,
  tracebackText,
} from './render.js';

function sink(): { text: string; write: (chunk: string) => void } {
  const buffer = {
    text: '',
    write(chunk: string) {
      buffer.text += chunk;
    },
  };
  return buffer;
}

describe('neutralizeControls', () => {
  it('escapes ESC, NUL, BEL, backspace, DEL and C1 controls; keeps tab, newline, CR and text', () => {
    expect(neutralizeControls('\x1b[31mred\x1b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(neutralizeControls('a\x00b\x07c\x08d\x7fe\x9bf')).toBe('a\\x00b\\x07c\\x08d\\x7fe\\x9bf');
    expect(neutralizeControls('tab\tline\nprogress\r100%')).toBe('tab\tline\nprogress\r100%');
    expect(neutralizeControls('héllo → 世界 \\x1b')).toBe('héllo → 世界 \\x1b');
  });
});

describe('bundles and tracebacks', () => {
  it('prefers text/plain, else names the type and size', () => {
    expect(bundleText({ 'text/plain': '42', 'text/html': '<b>42</b>' })).toBe('42');
    expect(bundleText({ 'text/plain': ['a', 'b'] })).toBe('ab');
    expect(bundleText({ 'text/html': '<b>hi</b>' })).toBe('[text/html output: 9 bytes]');
  });

  it('decodes the preferred image', () => {
    const png = Buffer.from('\x89PNG fake', 'latin1');
    const image = imageFromBundle({
      'text/plain': '<Figure>',
      'image/svg+xml': '<svg/>',
      'image/png': png.toString('base64'),
    });
    expect(image).toMatchObject({ mime: 'image/png', extension: 'png' });
    expect(image?.bytes.equals(png)).toBe(true);
    expect(imageFromBundle({ 'image/svg+xml': '<svg/>' })).toMatchObject({ extension: 'svg' });
    expect(imageFromBundle({ 'text/plain': 'x' })).toBeNull();
  });

  it('renders a traceback, or ename: evalue when it is empty', () => {
    expect(
      tracebackText({
        ename: 'E',
        evalue: 'v',
        traceback: ['Traceback:', '  File "x"\n    1/0', 'E: v\x1b[2J'],
      }),
    ).toBe('Traceback:\n  File "x"\n    1/0\nE: v\\x1b[2J');
    expect(tracebackText({ ename: 'TimeoutError', evalue: 'too slow', traceback: [] })).toBe(
      'TimeoutError: too slow',
    );
  });
});

describe('OutputPrinter', () => {
  const id = 'exe_1';
  it('streams to the matching stream, results and images on stdout, errors on stderr, on fresh lines', () => {
    const stdout = sink();
    const stderr = sink();
    const printer = new OutputPrinter({ stdout, stderr, onImage: (image) => `[${image.mime} saved]` });
    const events: ExecutionEvent[] = [
      { type: 'execution-start', executionId: id, sessionId: 's', executionCount: 1 },
      { type: 'stream-delta', executionId: id, name: 'stdout', text: 'partial' },
      { type: 'stream-delta', executionId: id, name: 'stderr', text: 'warn\n' },
      {
        type: 'display-data',
        executionId: id,
        data: { 'image/png': 'AAAA', 'text/plain': '<Figure>' },
        metadata: {},
        displayId: null,
        update: false,
      },
      {
        type: 'execute-result',
        executionId: id,
        executionCount: 1,
        data: { 'text/plain': '2' },
        metadata: {},
      },
      { type: 'execution-error', executionId: id, ename: 'E', evalue: 'v', traceback: ['E: v'] },
    ];
    for (const event of events) printer.handle(event);
    printer.endLines();
    expect(stdout.text).toBe('partial\n[image/png saved]\n2\n');
    expect(stderr.text).toBe('warn\nE: v\n');
    expect(printer.printedError?.ename).toBe('E');
  });
});

describe('renderTable', () => {
  it('aligns columns, flattens newlines and cuts long cells', () => {
    const table = renderTable(
      ['name', 'type'],
      [
        ['x', 'int'],
        ['long_name', 'a\nb'],
        ['y', 'z'.repeat(100)],
      ],
    );
    const lines = table.split('\n');
    expect(lines[0]).toBe('name       type');
    expect(lines[1]).toBe('x          int');
    expect(lines[2]).toBe('long_name  a b');
    expect(lines[3]?.endsWith('...')).toBe(true);
    expect(lines[3]?.length).toBe('long_name  '.length + 60);
  });
});
