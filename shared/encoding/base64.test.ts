import { describe, expect, it } from 'vitest';
import { isStandardBase64, withoutLineBreaks } from './base64.ts';

describe('isStandardBase64 (Go StdEncoding rules)', () => {
  it.each([
    ['', true],
    ['YQ==', true],
    ['YWI=', true],
    ['YWJj', true],
    ['AA==', true],
    ['YQ', false], // padding is required
    ['YQ=', false],
    ['Y===', false],
    ['====', false],
    ['YQ==YQ==', false], // padding only at the end
    ['YW-j', false], // URL-safe alphabet
    ['YW_j', false],
    ['YW j', false],
    ['YW*j', false],
    ['YWJé', false],
  ])('%j -> %s', (value, expected) => {
    expect(isStandardBase64(value)).toBe(expected);
  });

  it('lets callers drop the line breaks Go skips', () => {
    expect(isStandardBase64(withoutLineBreaks('YWJj\nYWJj\r\n'))).toBe(true);
  });
});
