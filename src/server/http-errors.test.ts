import { describe, expect, it } from 'vitest';
import { ERROR_CODES, VivariumError } from '../errors/index.js';
import { HTTP_STATUS_BY_CODE, toHttpError } from './http-errors.js';

describe('toHttpError', () => {
  it('maps every engine code to a status, in the one body shape', () => {
    for (const code of ERROR_CODES) {
      expect(HTTP_STATUS_BY_CODE[code], code).toBeGreaterThanOrEqual(400);
      const answer = toHttpError(new VivariumError(code, 'why', { details: { a: 1 } }), 'req-1');
      expect(answer.statusCode).toBe(HTTP_STATUS_BY_CODE[code]);
      expect(answer.body).toEqual({ error: { code, message: 'why', details: { a: 1 } } });
    }
    expect(toHttpError(new VivariumError('SESSION_NOT_FOUND', 'x'), 'r').statusCode).toBe(404);
    expect(toHttpError(new VivariumError('SESSION_CLOSED', 'x'), 'r').statusCode).toBe(410);
    expect(toHttpError(new VivariumError('SESSION_DEAD', 'x'), 'r').statusCode).toBe(409);
    expect(toHttpError(new VivariumError('FILE_TOO_LARGE', 'x'), 'r').statusCode).toBe(413);
    expect(toHttpError(new VivariumError('SANDBOX_UNAVAILABLE', 'x'), 'r').statusCode).toBe(503);
  });

  it('adds Retry-After to RATE_LIMITED and WWW-Authenticate to UNAUTHENTICATED', () => {
    const limited = toHttpError(
      new VivariumError('RATE_LIMITED', 'slow down', { details: { retryAfterSec: 12.2 } }),
      'r',
    );
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('13');
    expect(
      toHttpError(new VivariumError('UNAUTHENTICATED', 'who'), 'r').headers['www-authenticate'],
    ).toContain('Bearer');
  });

  it("maps the framework's caller errors to 4xx and hides everything else behind a 500", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    expect(toHttpError(tooLarge, 'r')).toMatchObject({
      statusCode: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
    const syntax = Object.assign(new SyntaxError('Unexpected end of JSON input'), { statusCode: 400 });
    expect(toHttpError(syntax, 'r')).toMatchObject({
      statusCode: 400,
      body: { error: { code: 'INVALID_ARGUMENT' } },
    });
    const bug = toHttpError(new TypeError('secret internals at /srv/x.js'), 'req-9');
    expect(bug).toMatchObject({
      statusCode: 500,
      serverFault: true,
      body: { error: { code: 'INTERNAL', details: { requestId: 'req-9' } } },
    });
    expect(bug.body.error.message).not.toContain('secret');
  });
});
