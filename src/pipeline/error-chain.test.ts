import { describe, expect, it } from 'vitest';
import {
  attemptError,
  ErrorChain,
  MAX_EVALUE_CHARS,
  TRACEBACK_HEAD_LINES,
  TRACEBACK_TAIL_LINES,
  trimTraceback,
} from './error-chain.js';

describe('trimTraceback', () => {
  it('keeps short tracebacks whole, without colours or blank lines', () => {
    expect(
      trimTraceback([
        '\u001b[31mTraceback\u001b[0m (most recent call last):',
        '',
        '  File "<cell>", line 1',
        'NameError: x',
      ]),
    ).toEqual(['Traceback (most recent call last):', '  File "<cell>", line 1', 'NameError: x']);
  });

  it('keeps the head and the tail of a long traceback with a marker between', () => {
    const lines = Array.from({ length: 100 }, (_, index) => `line ${index}`);
    const trimmed = trimTraceback(lines);
    expect(trimmed).toHaveLength(TRACEBACK_HEAD_LINES + TRACEBACK_TAIL_LINES + 1);
    expect(trimmed[0]).toBe('line 0');
    expect(trimmed[TRACEBACK_HEAD_LINES]).toBe(
      `… ${100 - TRACEBACK_HEAD_LINES - TRACEBACK_TAIL_LINES} lines omitted …`,
    );
    expect(trimmed.at(-1)).toBe('line 99');
  });

  it('splits multi-line entries and caps very long lines', () => {
    const trimmed = trimTraceback(['a\nb', 'x'.repeat(5_000)]);
    expect(trimmed.slice(0, 2)).toEqual(['a', 'b']);
    expect(trimmed[2]!.length).toBeLessThanOrEqual(500);
  });
});

describe('ErrorChain', () => {
  it('counts earlier entries with the same stage, ename and evalue as repeats', () => {
    const chain = new ErrorChain();
    chain.add(1, 'a', attemptError('execution', 'NameError', "name 'x' is not defined"));
    chain.add(2, 'b', attemptError('execution', 'NameError', "name 'x' is not defined"));
    chain.add(3, 'c', attemptError('execution', 'NameError', "name 'y' is not defined"));
    chain.add(4, 'd', attemptError('analysis', 'NameError', "name 'x' is not defined"));
    chain.add(5, 'e', attemptError('execution', 'NameError', "name 'x' is not defined"));
    expect(chain.list().map((entry) => entry.repeats)).toEqual([0, 1, 0, 0, 2]);
    expect(chain.length).toBe(5);
  });

  it('is rebuilt from stored attempts, skipping the ones without an error', () => {
    const chain = ErrorChain.from([
      { attempt: 1, code: 'a', error: attemptError('verification', 'MissingResults', 'no results') },
      { attempt: 2, code: 'b', error: null },
    ]);
    expect(chain.list()).toEqual([
      {
        attempt: 1,
        stage: 'verification',
        code: 'a',
        error: { ename: 'MissingResults', evalue: 'no results', traceback: [] },
        repeats: 0,
      },
    ]);
  });

  it('caps the error value', () => {
    expect(attemptError('execution', 'ValueError', 'v'.repeat(10_000)).evalue.length).toBe(MAX_EVALUE_CHARS);
  });

  it('hands out copies', () => {
    const chain = new ErrorChain();
    chain.add(1, 'a', attemptError('execution', 'E', 'v', ['t']));
    chain.list()[0]!.error.traceback.push('changed');
    expect(chain.list()[0]!.error.traceback).toEqual(['t']);
  });
});
