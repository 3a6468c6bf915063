import { describe, expect, it } from 'vitest';
import { bytesToBase64, createTaskBody } from './remote-tasks.js';

describe('bytesToBase64', () => {
  it('encodes like Buffer, also past one chunk', () => {
    for (const size of [0, 1, 2, 3, 100, 0x8000, 0x8000 * 2 + 7]) {
      const bytes = Uint8Array.from({ length: size }, (_, index) => (index * 131 + 7) % 256);
      expect(bytesToBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    }
  });
});

describe('createTaskBody', () => {
  it('keeps the task fields, sends bytes as base64 and text as is, leaves callbacks out', () => {
    const body = createTaskBody({
      objective: 'Sum',
      files: [
        'data.csv',
        { path: 'a.txt', content: 'hi' },
        { path: 'b.bin', content: new Uint8Array([0, 255]) },
      ],
      expectedResults: ['total'],
      approvalMode: 'always',
      maxAttempts: 2,
      wait: false,
      signal: new AbortController().signal,
    });
    expect(body).toEqual({
      objective: 'Sum',
      files: ['data.csv', { path: 'a.txt', content: 'hi' }, { path: 'b.bin', contentBase64: 'AP8=' }],
      expectedResults: ['total'],
      approvalMode: 'always',
      maxAttempts: 2,
      wait: false,
    });
  });

  it('drops `wait` when the call streams (a stream follows the task to its end)', () => {
    expect(createTaskBody({ objective: 'x', wait: false, onEvent: () => undefined })).toEqual({
      objective: 'x',
    });
  });
});
