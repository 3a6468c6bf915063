import { describe, expect, it } from 'vitest';
import { analysisResultSchema, findingSchema, type Finding } from './analysis-types.js';
import {
  ALWAYS_APPROVAL_REASON,
  decide,
  DEFAULT_ANALYSIS_POLICY,
  evaluatePolicy,
  formatReason,
  matchingModulePrefix,
  MAX_DECISION_REASONS,
  mergePolicy,
  type AnalysisPolicy,
  type PolicyInput,
} from './policy.js';
import type { RawFinding, RawImport } from './raw-analysis.js';
import { ANALYSIS_RULES, RULE_IDS } from './rules.js';
import { codeHashOf, judge } from './judge.js';
import { createHash } from 'node:crypto';

function raw(ruleId: RawFinding['ruleId'], line = 1, extra: Partial<RawFinding> = {}): RawFinding {
  return { ruleId, line, column: 1, symbol: `sym.${line}`, path: null, message: `message ${line}`, ...extra };
}

function imported(module: string, line = 1, extra: Partial<RawImport> = {}): RawImport {
  return { module, alias: module, line, kind: 'stdlib', ...extra };
}

function input(parts: Partial<PolicyInput> = {}): PolicyInput {
  return { syntaxError: null, imports: [], findings: [], ...parts };
}

function policy(
  parts: { allow?: string[]; deny?: string[]; rules?: AnalysisPolicy['rules'] } = {},
): AnalysisPolicy {
  return { imports: { allow: parts.allow ?? [], deny: parts.deny ?? [] }, rules: parts.rules ?? {} };
}

const onRisk = { mode: 'workspace_write', approvalMode: 'on_risk' } as const;

describe('the rule catalog', () => {
  it('has a category matching each id prefix and a description', () => {
    for (const id of RULE_IDS) {
      const rule = ANALYSIS_RULES[id];
      expect(id.split('.')[0]).toBe(rule.category);
      expect(id).toMatch(/^[a-z_]+\.[a-z_]+$/);
      expect(rule.description.length).toBeGreaterThan(10);
    }
  });

  it('has the documented default severities', () => {
    const severities = Object.fromEntries(RULE_IDS.map((id) => [id, ANALYSIS_RULES[id].defaultSeverity]));
    expect(severities).toMatchObject({
      'syntax.error': 'critical',
      'import.denied': 'critical',
      'import.not_allowed': 'critical',
      'import.missing': 'info',
      'dynamic.eval': 'warning',
      'dynamic.getattr': 'warning',
      'process.subprocess': 'warning',
      'process.import': 'info',
      'network.http': 'warning',
      'network.import': 'info',
      'native.ctypes': 'warning',
      'file.write': 'info',
      'file.write_outside': 'warning',
      'file.delete': 'warning',
      'serialization.pickle': 'warning',
      'serialization.pickle_dump': 'info',
    });
  });
});

describe('evaluatePolicy: severities', () => {
  it('gives each finding its category and default severity, sorted by position', () => {
    const { findings } = evaluatePolicy(
      input({
        findings: [
          raw('file.write', 4),
          raw('process.system', 2, { column: 9 }),
          raw('dynamic.eval', 2, { column: 1 }),
        ],
      }),
      onRisk,
    );
    expect(findings.map((f) => [f.ruleId, f.category, f.severity, f.line, f.column])).toEqual([
      ['dynamic.eval', 'dynamic', 'warning', 2, 1],
      ['process.system', 'process', 'warning', 2, 9],
      ['file.write', 'file', 'info', 4, 1],
    ]);
    for (const finding of findings) expect(findingSchema.safeParse(finding).success).toBe(true);
  });

  it('applies config overrides and drops `off` rules', () => {
    const { findings, decision } = evaluatePolicy(
      input({ findings: [raw('dynamic.eval', 1), raw('process.subprocess', 2), raw('file.write', 3)] }),
      {
        ...onRisk,
        policy: policy({
          rules: { 'dynamic.eval': 'off', 'process.subprocess': 'critical', 'file.write': 'warning' },
        }),
      },
    );
    expect(findings.map((f) => [f.ruleId, f.severity])).toEqual([
      ['process.subprocess', 'critical'],
      ['file.write', 'warning'],
    ]);
    expect(decision.outcome).toBe('deny');
    expect(decision.reasons).toEqual(['process.subprocess at line 2 (`sym.2`): message 2']);
  });

  it('notes rule ids in the policy that the catalog does not have', () => {
    const { notes } = evaluatePolicy(input(), {
      ...onRisk,
      policy: policy({ rules: { 'process.subproces': 'off' } }),
    });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('`process.subproces`');
  });
});

describe('evaluatePolicy: imports', () => {
  it('matches module prefixes on dotted boundaries', () => {
    expect(matchingModulePrefix('os', ['os'])).toBe('os');
    expect(matchingModulePrefix('os.path', ['os'])).toBe('os');
    expect(matchingModulePrefix('osmosis', ['os'])).toBeUndefined();
    expect(matchingModulePrefix('os', ['os.path'])).toBeUndefined();
    expect(matchingModulePrefix('urllib.request', ['json', 'urllib.request'])).toBe('urllib.request');
  });

  it('denies imports on the deny list, prefix match, static, from and dynamic', () => {
    const { findings, decision } = evaluatePolicy(
      input({
        imports: [
          imported('os.path', 1, { alias: 'os' }),
          imported('osmosis', 2, { kind: 'missing' }),
          imported('shutil', 3, { alias: 'rmtree', imported: 'shutil.rmtree' }),
          imported('subprocess', 4, { alias: null, dynamic: true }),
          imported('json', 5),
        ],
      }),
      { ...onRisk, policy: policy({ deny: ['os', 'shutil.rmtree', 'subprocess'] }) },
    );
    expect(findings.map((f) => [f.ruleId, f.severity, f.line, f.symbol])).toEqual([
      ['import.denied', 'critical', 1, 'os.path'],
      ['import.missing', 'info', 2, 'osmosis'],
      ['import.denied', 'critical', 3, 'shutil.rmtree'],
      ['import.denied', 'critical', 4, 'subprocess'],
    ]);
    expect(findings[3]?.message).toContain('(dynamically)');
    expect(findings[0]?.message).toContain('`policy.imports.deny`');
    expect(decision.outcome).toBe('deny');
    expect(decision.reasons).toHaveLength(3);
  });

  it('with an allow list, refuses every other import (the module or the name it imports may match)', () => {
    const { findings } = evaluatePolicy(
      input({
        imports: [
          imported('pandas.io.json', 1),
          imported('numpy', 2, { alias: 'np' }),
          imported('json', 3),
          imported('os', 4, { alias: 'path', imported: 'os.path' }),
          imported('os', 5, { alias: 'system', imported: 'os.system' }),
        ],
      }),
      { ...onRisk, policy: policy({ allow: ['pandas', 'numpy', 'os.path'] }) },
    );
    expect(findings.map((f) => [f.ruleId, f.line, f.symbol])).toEqual([
      ['import.not_allowed', 3, 'json'],
      ['import.not_allowed', 5, 'os'],
    ]);
    expect(findings[0]?.message).toContain('`pandas`, `numpy`, `os.path`');
  });

  it('the deny list wins over the allow list', () => {
    const { findings } = evaluatePolicy(input({ imports: [imported('os.path')] }), {
      ...onRisk,
      policy: policy({ allow: ['os'], deny: ['os.path'] }),
    });
    expect(findings.map((f) => f.ruleId)).toEqual(['import.denied']);
  });

  it('notes a missing module once per statement at info, which allows', () => {
    const { findings, decision } = evaluatePolicy(
      input({
        imports: [
          imported('cv2', 1, { kind: 'missing', alias: 'imread', imported: 'cv2.imread' }),
          imported('cv2', 1, { kind: 'missing', alias: 'imwrite', imported: 'cv2.imwrite' }),
        ],
      }),
      onRisk,
    );
    expect(findings).toEqual([
      expect.objectContaining({
        ruleId: 'import.missing',
        severity: 'info',
        symbol: 'cv2',
        category: 'import',
      }),
    ]);
    expect(decision).toEqual({
      outcome: 'allow',
      reasons: [],
      mode: 'workspace_write',
      approvalMode: 'on_risk',
    });
  });
});

describe('evaluatePolicy: execution modes', () => {
  it('says network use fails without network and reaches it with it; severity unchanged', () => {
    const network = input({ findings: [raw('network.http', 1), raw('network.import', 1)] });
    const without = evaluatePolicy(network, onRisk).findings;
    expect(without.map((f) => f.severity)).toEqual(['warning', 'info']);
    expect(without[0]?.message).toContain('no network in `workspace_write` mode, so this will fail');
    const readOnly = evaluatePolicy(network, { ...onRisk, mode: 'read_only' }).findings;
    expect(readOnly[0]?.message).toContain('no network in `read_only` mode');
    const withNetwork = evaluatePolicy(network, { ...onRisk, mode: 'network' }).findings;
    expect(withNetwork[0]?.message).toContain("shares the host's network, so this reaches it");
    expect(withNetwork[0]?.severity).toBe('warning');
  });

  it('raises workspace writes to warning in read_only mode, saying they will fail; /tmp stays info', () => {
    const writes = input({
      findings: [
        raw('file.write', 1, { path: 'out.csv' }),
        raw('file.write', 2, { path: '/tmp/scratch.txt' }),
        raw('file.delete', 3, { path: null }),
      ],
    });
    const readOnly = evaluatePolicy(writes, { mode: 'read_only', approvalMode: 'on_risk' });
    expect(readOnly.findings.map((f) => [f.ruleId, f.severity])).toEqual([
      ['file.write', 'warning'],
      ['file.write', 'info'],
      ['file.delete', 'warning'],
    ]);
    expect(readOnly.findings[0]?.message).toContain('read-only in `read_only` mode, so this will fail');
    expect(readOnly.findings[1]?.message).toBe('message 2');
    expect(readOnly.decision.outcome).toBe('needs_approval');
    const writable = evaluatePolicy(writes, onRisk);
    expect(writable.findings.map((f) => f.severity)).toEqual(['info', 'info', 'warning']);
    expect(writable.findings[0]?.message).toBe('message 1');
  });

  it('says writes outside the workspace fail in every mode', () => {
    const { findings } = evaluatePolicy(
      input({ findings: [raw('file.write_outside', 1, { path: '/etc/x' })] }),
      {
        mode: 'network',
        approvalMode: 'on_risk',
      },
    );
    expect(findings[0]).toMatchObject({ severity: 'warning', path: '/etc/x' });
    expect(findings[0]?.message).toContain('read-only, so this will fail');
  });

  it('an explicit rule severity wins over what the mode makes of the default', () => {
    const { findings } = evaluatePolicy(input({ findings: [raw('file.write', 1, { path: 'out.csv' })] }), {
      mode: 'read_only',
      approvalMode: 'on_risk',
      policy: policy({ rules: { 'file.write': 'info' } }),
    });
    expect(findings[0]?.severity).toBe('info');
  });
});

describe('the decision', () => {
  const mixed = input({
    findings: [
      raw('file.write', 1),
      raw('process.system', 2, { symbol: 'os.system' }),
      raw('dynamic.eval', 3),
    ],
  });

  it('on_risk: needs approval with the warnings (not the infos) as reasons', () => {
    const { decision } = evaluatePolicy(mixed, onRisk);
    expect(decision).toEqual({
      outcome: 'needs_approval',
      reasons: [
        'process.system at line 2 (`os.system`): message 2',
        'dynamic.eval at line 3 (`sym.3`): message 3',
      ],
      mode: 'workspace_write',
      approvalMode: 'on_risk',
    });
  });

  it('on_risk: allows when there are only infos', () => {
    expect(evaluatePolicy(input({ findings: [raw('file.write', 1)] }), onRisk).decision.outcome).toBe(
      'allow',
    );
  });

  it('never: allows even with warnings', () => {
    const { decision } = evaluatePolicy(mixed, { ...onRisk, approvalMode: 'never' });
    expect(decision).toEqual({
      outcome: 'allow',
      reasons: [],
      mode: 'workspace_write',
      approvalMode: 'never',
    });
  });

  it('always: needs approval even for clean code, the warnings listed after the reason', () => {
    const clean = evaluatePolicy(input(), { ...onRisk, approvalMode: 'always' }).decision;
    expect(clean).toMatchObject({ outcome: 'needs_approval', reasons: [ALWAYS_APPROVAL_REASON] });
    const risky = evaluatePolicy(mixed, { ...onRisk, approvalMode: 'always' }).decision;
    expect(risky.reasons).toHaveLength(3);
    expect(risky.reasons[0]).toBe(ALWAYS_APPROVAL_REASON);
  });

  it('a critical finding denies under every approval mode', () => {
    const critical = input({ imports: [imported('ctypes', 7)] });
    for (const approvalMode of ['never', 'on_risk', 'always'] as const) {
      const { decision } = evaluatePolicy(critical, {
        mode: 'network',
        approvalMode,
        policy: policy({ deny: ['ctypes'] }),
      });
      expect(decision.outcome).toBe('deny');
      expect(decision.reasons[0]).toMatch(/^import\.denied at line 7 \(`ctypes`\): imports `ctypes`/);
      expect(decision.mode).toBe('network');
    }
  });

  it('a syntax error is a critical finding and denies, even with `syntax.error` off', () => {
    const broken = input({
      syntaxError: { message: "'(' was never closed", kind: 'SyntaxError', line: 2, column: 5 },
    });
    const { findings, decision } = evaluatePolicy(broken, { ...onRisk, approvalMode: 'never' });
    expect(findings).toEqual([
      expect.objectContaining({
        ruleId: 'syntax.error',
        category: 'syntax',
        severity: 'critical',
        line: 2,
        column: 5,
      }),
    ]);
    expect(decision.outcome).toBe('deny');
    expect(decision.reasons).toEqual([
      "syntax.error at line 2: the code does not parse: SyntaxError: '(' was never closed",
    ]);
    const off = evaluatePolicy(broken, { ...onRisk, policy: policy({ rules: { 'syntax.error': 'off' } }) });
    expect(off.findings).toEqual([]);
    expect(off.decision.outcome).toBe('deny');
    expect(off.decision.reasons[0]).toContain('line 2, column 5');
  });

  it('caps the reasons and counts the rest', () => {
    const many = input({
      findings: Array.from({ length: 45 }, (_, index) => raw('dynamic.exec', index + 1)),
    });
    const { decision } = evaluatePolicy(many, onRisk);
    expect(decision.reasons).toHaveLength(MAX_DECISION_REASONS);
    expect(decision.reasons.at(-1)).toBe(`… and ${45 - (MAX_DECISION_REASONS - 1)} more`);
  });

  it('decide() works on findings directly', () => {
    const finding: Finding = {
      ruleId: 'network.socket',
      category: 'network',
      severity: 'warning',
      line: 4,
      column: 2,
      symbol: null,
      path: null,
      message: 'opens a socket',
    };
    expect(formatReason(finding)).toBe('network.socket at line 4: opens a socket');
    expect(decide([finding], { mode: 'network', approvalMode: 'on_risk' }).outcome).toBe('needs_approval');
    expect(decide([finding], { mode: 'network', approvalMode: 'never' }).outcome).toBe('allow');
    expect(decide([], { mode: 'network', approvalMode: 'on_risk' }).outcome).toBe('allow');
  });
});

describe('mergePolicy and judge', () => {
  it('replaces the given import lists and merges rule severities', () => {
    const base = policy({
      allow: ['pandas'],
      deny: ['os'],
      rules: { 'file.write': 'warning', 'dynamic.eval': 'off' },
    });
    expect(
      mergePolicy(base, { imports: { deny: ['ctypes'] }, rules: { 'dynamic.eval': 'critical' } }),
    ).toEqual({
      imports: { allow: ['pandas'], deny: ['ctypes'] },
      rules: { 'file.write': 'warning', 'dynamic.eval': 'critical' },
    });
    expect(mergePolicy(DEFAULT_ANALYSIS_POLICY)).toEqual(DEFAULT_ANALYSIS_POLICY);
  });

  it('builds an AnalysisResult: code hash, syntax error text, imports without the internals', () => {
    const result = judge(
      'import os\n',
      {
        syntaxError: null,
        imports: [imported('os', 1, { column: 1, imported: 'os.system', alias: 'system' })],
        findings: [],
        notes: ['a note'],
      },
      { policy: DEFAULT_ANALYSIS_POLICY, mode: 'workspace_write', approvalMode: 'on_risk' },
    );
    expect(analysisResultSchema.parse(result)).toEqual(result);
    expect(result.codeHash).toBe(createHash('sha256').update('import os\n').digest('hex'));
    expect(codeHashOf('é')).toBe(createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'));
    expect(result.imports).toEqual([{ module: 'os', alias: 'system', line: 1, kind: 'stdlib' }]);
    expect(result.notes).toEqual(['a note']);
    const broken = judge(
      'x = (',
      {
        syntaxError: { message: 'bad', kind: 'SyntaxError', line: 1, column: 5, caret: 'x = (\n    ^' },
        imports: [],
        findings: [],
        notes: [],
      },
      { policy: DEFAULT_ANALYSIS_POLICY, mode: 'workspace_write', approvalMode: 'never' },
    );
    expect(broken.syntaxError).toEqual({ message: 'bad', line: 1, column: 5, text: 'x = (\n    ^' });
    expect(broken.decision.outcome).toBe('deny');
  });
});
