import { describe, expect, it } from 'vitest';
import { configFromEnv, loadConfig } from '../config/index.js';
import { parseVerdict } from './verification-verdict.js';

describe('the llm config section', () => {
  it('takes VIVARIUM_LLM_* variables', () => {
    const env = {
      VIVARIUM_LLM_PROVIDER: 'openai',
      VIVARIUM_LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      VIVARIUM_LLM_MODEL: 'qwen2.5-coder:7b',
      VIVARIUM_LLM_API_KEY: 'sk-from-env',
      VIVARIUM_LLM_MAX_RETRIES: '0',
      VIVARIUM_LLM_STREAM: 'false',
    };
    expect(configFromEnv(env).llm).toEqual({
      provider: 'openai',
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'qwen2.5-coder:7b',
      apiKey: 'sk-from-env',
      maxRetries: 0,
      stream: false,
    });
    const config = loadConfig({ env, cwd: '/nonexistent-vivarium-cwd', overrides: { dataDir: '/tmp/x' } });
    expect(config.llm).toMatchObject({
      provider: 'openai',
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'qwen2.5-coder:7b',
      apiKey: 'sk-from-env',
      maxRetries: 0,
      stream: false,
      verify: false,
    });
  });

  it('has defaults: openai-compatible, streaming, two retries, no generator', () => {
    const { llm } = loadConfig({
      env: {},
      cwd: '/nonexistent-vivarium-cwd',
      overrides: { dataDir: '/tmp/x' },
    });
    expect(llm).toMatchObject({
      provider: 'openai-compatible',
      stream: true,
      maxRetries: 2,
      scripted: [],
      plugins: [],
    });
    expect(llm.generator).toBeUndefined();
    expect(llm.model).toBeUndefined();
  });
});

describe('parseVerdict', () => {
  it('reads bare, fenced and embedded JSON', () => {
    expect(parseVerdict('{"adequate": true, "reason": "ok", "suggestion": null}')).toEqual({
      adequate: true,
      reason: 'ok',
      suggestion: null,
    });
    expect(parseVerdict('```json\n{"adequate": false, "reason": "r", "suggestion": "s"}\n```')).toEqual({
      adequate: false,
      reason: 'r',
      suggestion: 's',
    });
    expect(parseVerdict('Verdict: {"adequate": "no", "reason": "wrong column"} — done')).toEqual({
      adequate: false,
      reason: 'wrong column',
      suggestion: null,
    });
    expect(
      parseVerdict('<think>{"adequate": false}</think>{"adequate": true, "suggestion": "null"}'),
    ).toEqual({
      adequate: true,
      reason: '',
      suggestion: null,
    });
  });

  it('gives null for what is not a verdict', () => {
    expect(parseVerdict('Looks right.')).toBeNull();
    expect(parseVerdict('{"adequate": "maybe"}')).toBeNull();
    expect(parseVerdict('{"reason": "x"}')).toBeNull();
    expect(parseVerdict('{adequate: true}')).toBeNull();
  });
});
