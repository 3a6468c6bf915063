import { describe, expect, it } from 'vitest';
import { attachmentDisposition, contentTypeFor } from './content-types.js';

describe('contentTypeFor', () => {
  it('maps extensions case-insensitively and falls back to octet-stream', () => {
    expect(contentTypeFor('out/chart.PNG')).toBe('image/png');
    expect(contentTypeFor('data.csv')).toBe('text/csv; charset=utf-8');
    expect(contentTypeFor('archive.tar.gz')).toBe('application/gzip');
    expect(contentTypeFor('Makefile')).toBe('application/octet-stream');
    expect(contentTypeFor('.hidden')).toBe('application/octet-stream');
    expect(contentTypeFor('x.unknownext')).toBe('application/octet-stream');
  });
});

describe('attachmentDisposition', () => {
  it('quotes safely and carries the UTF-8 name', () => {
    expect(attachmentDisposition('dir/report.pdf')).toBe(
      `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
    );
    const tricky = attachmentDisposition('a"b;\r\nc-é.txt');
    expect(tricky).not.toMatch(/[\r\n]/);
    expect(tricky).toContain(`filename="a_b___c-_.txt"`);
    expect(tricky).toContain(`filename*=UTF-8''a%22b%3B%0D%0Ac-%C3%A9.txt`);
  });
});
