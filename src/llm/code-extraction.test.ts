import { describe, expect, it } from 'vitest';
import { isVivariumError } from '../errors/index.js';
import { extractCode } from './code-extraction.js';

function failure(answer: string): { message: string; details: Record<string, unknown> } {
  try {
    extractCode(answer);
  } catch (error) {
    if (isVivariumError(error, 'GENERATION_FAILED'))
      return { message: error.message, details: error.details };
    throw error;
  }
  throw new Error('expected GENERATION_FAILED');
}

describe('extractCode', () => {
  it('takes a ```python block and keeps the prose around it as notes', () => {
    const answer = 'Here is the code:\n\n```python\nimport pandas as pd\nprint(1)\n```\n\nIt prints 1.';
    expect(extractCode(answer)).toEqual({
      code: 'import pandas as pd\nprint(1)',
      notes: 'Here is the code:\n\nIt prints 1.',
    });
  });

  it.each(['py', 'python3', 'Python', 'PY3', '{.python}', 'python title="x.py"'])(
    'reads a fence labelled %s as Python',
    (label) => {
      expect(extractCode(`\`\`\`${label}\nx = 1\n\`\`\``)).toEqual({ code: 'x = 1', notes: null });
    },
  );

  it('takes bare ``` and ~~~ fences', () => {
    expect(extractCode('```\nx = 1\n```').code).toBe('x = 1');
    expect(extractCode('~~~\nx = 2\n~~~').code).toBe('x = 2');
    expect(extractCode('~~~python\nx = "```"\n~~~').code).toBe('x = "```"');
  });

  it('prefers Python-labelled blocks and joins several in order', () => {
    const answer = [
      'First load:',
      '```python',
      'a = 1',
      '```',
      'Expected output:',
      '```',
      '1',
      '```',
      'Then print:',
      '```py',
      'print(a)',
      '```',
    ].join('\n');
    const { code, notes } = extractCode(answer);
    expect(code).toBe('a = 1\n\nprint(a)');
    expect(notes).toContain('First load:');
    expect(notes).toContain('Expected output:\n```\n1\n```');
    expect(notes).toContain('Then print:');
  });

  it('joins several unlabelled blocks when none is labelled', () => {
    expect(extractCode('```\na = 1\n```\nand\n```\nb = 2\n```').code).toBe('a = 1\n\nb = 2');
  });

  it('keeps an unterminated final fence (the answer ran out of tokens)', () => {
    expect(extractCode('Sure.\n```python\nfor i in range(3):\n    print(i)\n')).toEqual({
      code: 'for i in range(3):\n    print(i)',
      notes: 'Sure.',
    });
  });

  it('normalises CRLF', () => {
    expect(extractCode('Text\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n')).toEqual({
      code: 'x = 1\ny = 2',
      notes: 'Text',
    });
  });

  it('removes the indentation of a fence inside a list item, keeps the code’s own', () => {
    const answer = '1. Run this:\n   ```python\n   if True:\n       x = 1\n   ```';
    expect(extractCode(answer).code).toBe('if True:\n    x = 1');
  });

  it('takes an answer that is only code', () => {
    const code = 'import numpy as np\n\nresults = {"mean": float(np.mean([1, 2]))}\nprint(results)';
    expect(extractCode(code)).toEqual({ code, notes: null });
  });

  it('drops leading prose before unfenced code', () => {
    expect(extractCode("Here's a solution that works:\nimport math\nprint(math.pi)")).toEqual({
      code: 'import math\nprint(math.pi)',
      notes: "Here's a solution that works:",
    });
  });

  it('reads [PYTHON], <python> and <code> wrappers', () => {
    expect(extractCode('[PYTHON]\nx = 1\n[/PYTHON]').code).toBe('x = 1');
    expect(extractCode('Code: <python>\nx = 2\n</python> done').code).toBe('x = 2');
    expect(extractCode('<pre><code class="python">\nif a &lt; b:\n    pass\n</code></pre>').code).toBe(
      'if a < b:\n    pass',
    );
  });

  it('drops <think> blocks of reasoning models', () => {
    expect(extractCode('<think>\nMaybe ```python\nwrong()\n```\n</think>\n```python\nright()\n```')).toEqual({
      code: 'right()',
      notes: null,
    });
  });

  it('fails with GENERATION_FAILED on empty answers, empty blocks and prose only', () => {
    expect(failure('').message).toMatch(/no Python code: the answer is empty/);
    expect(failure('  \n\t ').message).toMatch(/empty/);
    expect(failure('```python\n\n   \n```').message).toMatch(/code blocks are empty/);
    expect(failure('I cannot help with that request.').message).toMatch(/no line of it reads as Python/);
    const shell = failure('```bash\npip install x\n```');
    expect(shell.message).toMatch(/labelled bash, not python/);
    expect(shell.details.answerPreview).toContain('pip install');
    expect(failure('<think>only thinking, cut off').message).toMatch(/empty/);
  });
});
