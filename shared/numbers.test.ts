import { describe, expect, it } from 'vitest';
import { parseNumber } from './numbers.ts';

describe('parseNumber', () => {
  it.each([
    { text: '500', rule: { min: 1, max: 10_000, whole: true }, value: 500 },
    { text: ' 2.5 ', rule: { min: 0.1, max: 29 }, value: 2.5 },
    { text: 8443, rule: { min: 0, max: 65_535, whole: true }, value: 8443 },
  ])('reads $text', ({ text, rule, value }) => {
    expect(parseNumber(text, '--x', rule)).toEqual({ ok: true, value });
  });

  it.each([
    {
      text: 'abc',
      rule: { min: 1, max: 10_000, whole: true },
      message: '--limit "abc" is not a whole number; use a whole number from 1 to 10000',
    },
    {
      text: '2s',
      rule: { min: 0.1, max: 29, unit: 'seconds' },
      message: '--limit "2s" is not a number; use a number of seconds from 0.1 to 29',
    },
    {
      text: '',
      rule: { min: 1, max: 2, whole: true },
      message: '--limit "" is not a whole number; use a whole number from 1 to 2',
    },
    {
      text: '1.5',
      rule: { min: 1, max: 2, whole: true },
      message: '--limit "1.5" is not a whole number; use a whole number from 1 to 2',
    },
    {
      text: '0x10',
      rule: { min: 1, max: 2, whole: true },
      message: '--limit "0x10" is not a whole number; use a whole number from 1 to 2',
    },
    {
      text: '0',
      rule: { min: 1, max: 86_400, unit: 'seconds', or: ' (or 0 to turn it off)' },
      message: '--limit 0 is out of range; use a number of seconds from 1 to 86400 (or 0 to turn it off)',
    },
  ])('refuses $text, naming the flag and what to write', ({ text, rule, message }) => {
    expect(parseNumber(text, '--limit', rule)).toEqual({ ok: false, message });
  });
});
