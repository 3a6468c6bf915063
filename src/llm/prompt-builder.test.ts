import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isVivariumError } from '../errors/index.js';
import type { ErrorChainEntry, GenerationRequest, PromptFile } from './generator-types.js';
import { DEFAULT_MAX_PROMPT_BYTES, PromptBuilder } from './prompt-builder.js';
import { DEFAULT_PROMPTS_DIR, PROMPT_TEMPLATE_FILES, renderTemplate } from './prompt-templates.js';

const csvFile: PromptFile = {
  path: 'data/sales.csv',
  sizeBytes: 123_456,
  description: {
    kind: 'csv',
    path: 'data/sales.csv',
    sizeBytes: 123_456,
    partial: false,
    warnings: [],
    format: 'csv',
    encoding: 'utf-8',
    encodingConfidence: 1,
    delimiter: ',',
    quoteChar: '"',
    hasHeader: true,
    columnCount: 3,
    columns: [
      { name: 'region', dtype: 'object' },
      { name: 'price', dtype: 'float64' },
      { name: 'qty', dtype: 'int64' },
    ],
    firstRows: [
      ['north', '9.5', '3'],
      ['south', '12.25', '1'],
      ['east', '7', '10'],
      ['west', '1', '1'],
    ],
    rowCount: 4200,
    rowCountExact: true,
  },
};
const excelFile: PromptFile = {
  path: 'book.xlsx',
  sizeBytes: 40_000,
  description: {
    kind: 'excel',
    format: 'xlsx',
    partial: false,
    sheetCount: 1,
    sheets: [
      {
        name: 'Budget',
        rowCount: 12,
        columnCount: 2,
        columns: ['month', 'amount'],
        firstRows: [['jan', '10']],
      },
    ],
  },
};
const jsonFile: PromptFile = {
  path: 'orders.json',
  sizeBytes: 900,
  description: {
    kind: 'json',
    format: 'json',
    topLevelType: 'array',
    keys: ['id', 'items', 'total'],
    keyCount: 3,
    length: 20,
    lengthExact: true,
    arrays: [{ path: '$', length: 20, complete: true }],
    leaves: [{ path: '$[0].total', type: 'number' }],
  },
};
const textFile: PromptFile = {
  path: 'notes.md',
  sizeBytes: 300,
  description: {
    kind: 'text',
    format: 'markdown',
    encoding: 'utf-8',
    head: ['# Notes', 'prices are in EUR'],
    lineCount: 2,
    lineCountExact: true,
    headings: [{ level: 1, text: 'Notes', line: 1 }],
  },
};
const imageFile: PromptFile = {
  path: 'logo.png',
  sizeBytes: 2048,
  description: { kind: 'image', format: 'PNG', width: 640, height: 480, mode: 'RGB', frameCount: 1 },
};

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    objective: 'Compute the mean price per region.',
    expectedResults: ['mean_price', 'regions'],
    context: 'Prices exclude VAT.',
    variables: [{ name: 'df', type: 'DataFrame', summary: '4200 rows × 3 columns' }],
    files: [
      csvFile,
      excelFile,
      jsonFile,
      textFile,
      imageFile,
      { path: 'raw.bin', sizeBytes: 5, description: null },
    ],
    packages: ['numpy', 'pandas', 'matplotlib'],
    mode: 'workspace_write',
    attempt: 1,
    ...overrides,
  };
}

function entry(overrides: Partial<ErrorChainEntry> = {}): ErrorChainEntry {
  return {
    attempt: 1,
    stage: 'execution',
    code: 'print(df["prise"].mean())',
    error: {
      ename: 'KeyError',
      evalue: "'prise'",
      traceback: ['Traceback (most recent call last):', '  File "<cell-1>", line 1', "KeyError: 'prise'"],
    },
    repeats: 0,
    ...overrides,
  };
}

const builder = new PromptBuilder();

describe('PromptBuilder.buildGeneration', () => {
  it('composes a system message with the rules and a user message with the whole task', () => {
    const messages = builder.buildGeneration(request());
    expect(messages.map((message) => message.role)).toEqual(['system', 'user']);
    const [system, user] = messages.map((message) => message.content) as [string, string];
    expect(system).toContain('/workspace');
    expect(system).toContain('input()');
    expect(system).toMatch(/Do not install packages/);
    expect(system).toMatch(/one ```python block/);
    expect(system).toContain('There is no network');
    expect(system).toContain('plt.savefig');
    expect(system).not.toContain('{{');

    expect(user).toContain('Compute the mean price per region.');
    expect(user).toContain('results = {\n    "mean_price": ...,\n    "regions": ...,\n}');
    expect(user).toContain('JSON-serializable');
    expect(user).toContain('Prices exclude VAT.');
    expect(user).toContain('- `df`: DataFrame — 4200 rows × 3 columns');
    expect(user).toContain('numpy, pandas, matplotlib');
    expect(user).not.toContain('{{');
    expect(user).not.toContain('Previous attempts');
  });

  it('renders file metadata compactly: columns, dtypes, rows, sheets, JSON shape, preview, image size', () => {
    const user = builder.buildGeneration(request())[1]!.content;
    expect(user).toContain('- `data/sales.csv` (121 KB): CSV, 4,200 rows, 3 columns, delimiter ","');
    expect(user).toContain('columns: region (object), price (float64), qty (int64)');
    expect(user).toContain('    north,9.5,3');
    expect(user).toContain('    east,7,10');
    expect(user).not.toContain('west,1,1'); // three sample rows at most
    expect(user).toContain('sheet "Budget" (12 rows, 2 columns)');
    expect(user).toContain('columns: month, amount');
    expect(user).toContain('top level array, 20 elements');
    expect(user).toContain('keys: id, items, total');
    expect(user).toContain('$[0].total: number');
    expect(user).toContain('markdown, 2 lines');
    expect(user).toContain('prices are in EUR');
    expect(user).toContain('image PNG, 640×480 px, RGB');
    expect(user).toContain('- `raw.bin` (5 B)');
  });

  it('states the execution mode', () => {
    const readOnly = builder.buildGeneration(request({ mode: 'read_only' }))[0]!.content;
    expect(readOnly).toMatch(/workspace is read-only: write no files/);
    expect(readOnly).toMatch(/There is no network/);
    const network = builder.buildGeneration(request({ mode: 'network' }))[0]!.content;
    expect(network).toMatch(/Network access is available/);
    expect(network).not.toMatch(/read-only/);
  });

  it('leaves out empty sections and renders a conversation as context', () => {
    const user = builder.buildGeneration(
      request({
        expectedResults: [],
        variables: [],
        files: [],
        packages: [],
        context: [
          { role: 'user', content: 'Load the sales file.' },
          { role: 'assistant', content: 'Loaded 4200 rows.' },
        ],
      }),
    )[1]!.content;
    expect(user).not.toContain('Expected results');
    expect(user).not.toContain('Variables already defined');
    expect(user).not.toContain('Input files');
    expect(user).not.toContain('Packages you can import');
    expect(user).toContain('**user:** Load the sales file.\n\n**assistant:** Loaded 4200 rows.');
  });

  it('bounds the files section and says which files were left out', () => {
    const files = Array.from({ length: 200 }, (_, index) => ({
      ...csvFile,
      path: `part-${String(index)}.csv`,
    }));
    const user = builder.buildGeneration(request({ files }))[1]!.content;
    expect(user).toMatch(/- … \d+ more files: `part-\d+\.csv`/);
    expect(Buffer.byteLength(user)).toBeLessThan(DEFAULT_MAX_PROMPT_BYTES);
  });

  it('keeps a conversation’s latest messages within the context budget', () => {
    const context = Array.from({ length: 100 }, (_, index) => ({
      role: 'user' as const,
      content: `message ${String(index)} ${'x'.repeat(300)}`,
    }));
    const user = builder.buildGeneration(request({ context }))[1]!.content;
    expect(user).toContain('message 99');
    expect(user).not.toContain('message 0 ');
    expect(user).toMatch(/\(\d+ earlier messages left out\)/);
  });

  it('keeps the whole prompt within maxPromptBytes', () => {
    const small = new PromptBuilder({ maxPromptBytes: 4000 });
    const messages = small.buildGeneration(request({ objective: 'y'.repeat(20_000) }));
    const total = messages.reduce((sum, message) => sum + Buffer.byteLength(message.content), 0);
    expect(total).toBeLessThanOrEqual(4000);
    expect(messages[1]!.content).toMatch(/the middle left out/);
  });
});

describe('PromptBuilder.buildGeneration for a repair', () => {
  it('shows each failed attempt with its stage, code and error', () => {
    const user = builder.buildGeneration(request({ attempt: 3 }), [
      entry({
        attempt: 1,
        stage: 'analysis',
        code: 'import socket',
        error: { ename: 'PolicyDenied', evalue: 'import of `socket` is denied', traceback: [] },
      }),
      entry({ attempt: 2 }),
    ])[1]!.content;
    expect(user).toContain('## Previous attempts');
    expect(user).toContain('This is attempt 3; the earlier ones failed.');
    expect(user).toContain('### Attempt 1: refused by the static analysis before it ran');
    expect(user).toContain('```python\nimport socket\n```');
    expect(user).toContain('Error: PolicyDenied: import of `socket` is denied');
    expect(user).toContain('### Attempt 2: raised an error when it ran');
    expect(user).toContain('print(df["prise"].mean())');
    expect(user).toContain("Error: KeyError: 'prise'");
    expect(user).toContain('Traceback (most recent call last):');
    expect(user.indexOf('Attempt 1:')).toBeLessThan(user.indexOf('Attempt 2:'));
    expect(user).not.toContain('The same error happened');
    expect(user).toContain('corrected, complete Python code');
  });

  it('escalates when the last error repeats', () => {
    const once = builder.buildGeneration(request({ attempt: 3 }), [
      entry({ attempt: 1 }),
      entry({ attempt: 2, repeats: 1 }),
    ])[1]!.content;
    expect(once).toContain('The same error happened 2 times: take a different approach, do not repeat the');
    expect(once).toContain('(the same error as 1 earlier attempt(s))');
    expect(once).not.toContain('Start over with the simplest approach');
    const thrice = builder.buildGeneration(request({ attempt: 4 }), [
      entry({ attempt: 1 }),
      entry({ attempt: 2, repeats: 1 }),
      entry({ attempt: 3, repeats: 2 }),
    ])[1]!.content;
    expect(thrice).toContain('The same error happened 3 times');
    expect(thrice).toContain('Start over with the simplest approach');
  });

  it('trims long tracebacks head and tail, strips ANSI colours, and bounds the chain', () => {
    const traceback = [
      '\u001b[31mTraceback (most recent call last):\u001b[0m',
      ...Array.from({ length: 200 }, (_, index) => `  frame ${String(index)}`),
      'RecursionError: maximum recursion depth exceeded',
    ];
    const chain = Array.from({ length: 12 }, (_, index) =>
      entry({
        attempt: index + 1,
        code: `# attempt ${String(index + 1)}\n${'x = 1\n'.repeat(2000)}`,
        error: { ename: 'RecursionError', evalue: 'maximum recursion depth exceeded', traceback },
      }),
    );
    const user = builder.buildGeneration(request({ attempt: 13 }), chain)[1]!.content;
    expect(user).toContain('Traceback (most recent call last):');
    expect(user).not.toContain('\u001b[');
    expect(user).toContain('  frame 0');
    expect(user).toContain('  frame 199');
    expect(user).not.toContain('  frame 100\n');
    expect(user).toMatch(/… \[\d+ lines left out\] …/);
    expect(user).toMatch(/bytes, the middle left out/);
    expect(user).toContain('### Attempt 12');
    expect(user).toContain('(code and traceback left out for space)');
    expect(Buffer.byteLength(user)).toBeLessThan(DEFAULT_MAX_PROMPT_BYTES);
  });
});

describe('PromptBuilder.buildVerification', () => {
  it('shows the objective, code, output and results, and asks for the JSON verdict', () => {
    const [system, user] = builder.buildVerification({
      objective: 'Mean price',
      code: 'results = {"mean_price": 9.5}',
      stdout: '9.5\n',
      results: { mean_price: 9.5 },
    });
    expect(system!.role).toBe('system');
    expect(system!.content).toMatch(/JSON object/);
    expect(user!.content).toContain('Mean price');
    expect(user!.content).toContain('results = {"mean_price": 9.5}');
    expect(user!.content).toContain('```text\n9.5\n```');
    expect(user!.content).toContain('"mean_price": 9.5');
    expect(user!.content).toContain('"adequate"');
    expect(user!.content).toContain('"suggestion"');
  });
});

describe('prompt templates', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('are found from the source tree in the repository’s prompts/ folder', () => {
    expect(DEFAULT_PROMPTS_DIR).toMatch(/\/prompts\/$/);
    for (const spec of Object.values(PROMPT_TEMPLATE_FILES)) {
      expect(readFileSync(join(DEFAULT_PROMPTS_DIR, spec.file), 'utf8').length).toBeGreaterThan(0);
    }
  });

  it('render sections only when set and never re-scan inserted values', () => {
    expect(renderTemplate('a\n{{#x}}\nX={{x}}\n{{/x}}\nb', { x: '' })).toBe('a\nb');
    expect(renderTemplate('a\n{{#x}}\nX={{x}}\n{{/x}}\nb', { x: '{{y}}', y: 'no' })).toBe('a\nX={{y}}\nb');
  });

  it('refuse a custom folder with a missing file or an unknown placeholder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vivarium-prompts-'));
    dirs.push(dir);
    for (const spec of Object.values(PROMPT_TEMPLATE_FILES)) {
      writeFileSync(join(dir, spec.file), readFileSync(join(DEFAULT_PROMPTS_DIR, spec.file)));
    }
    writeFileSync(join(dir, 'generate.md'), '{{task}}\n{{objectiv}}');
    let error: unknown;
    try {
      new PromptBuilder({ promptsDir: dir });
    } catch (caught) {
      error = caught;
    }
    expect(isVivariumError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(/generate\.md uses unknown placeholder\(s\) `\{\{objectiv\}\}`/);

    const empty = mkdtempSync(join(tmpdir(), 'vivarium-prompts-'));
    dirs.push(empty);
    expect(() => new PromptBuilder({ promptsDir: empty })).toThrow(
      /Cannot read the prompt template .*system\.md/,
    );
  });
});
