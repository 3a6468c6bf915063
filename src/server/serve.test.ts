import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from './serve.js';
import { redactUrl } from './service-logger.js';

describe('isLoopbackHost', () => {
  it('accepts loopback addresses only', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.2',
      'example.com',
      '128.0.0.1',
      'localhost.evil.com',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe('redactUrl', () => {
  it('blanks the WebSocket token and keeps the rest', () => {
    expect(redactUrl('/v1/sessions/s/ws?token=vk_secret&x=1')).toBe('/v1/sessions/s/ws?token=[redacted]&x=1');
    expect(redactUrl('/v1/sessions?a=1&TOKEN=abc')).toBe('/v1/sessions?a=1&TOKEN=[redacted]');
    expect(redactUrl('/healthz')).toBe('/healthz');
  });
});
