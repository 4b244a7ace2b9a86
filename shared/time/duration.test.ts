import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    { text: '30s', ms: 30_000 },
    { text: '0', ms: 0 },
    { text: '1h30m', ms: 5_400_000 },
    { text: '720h', ms: 2_592_000_000 },
    { text: '1.5h', ms: 5_400_000 },
    { text: '250ms', ms: 250 },
    { text: '+10m', ms: 600_000 },
    { text: '.5s', ms: 500 },
  ])('reads $text as $ms ms', ({ text, ms }) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', '-5s', '5d', '1h 30m', 's', '1.2.3s', '10sec'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    { ms: 30_000, text: '30s' },
    { ms: 5_400_000, text: '1h30m' },
    { ms: 2_592_000_000, text: '720h' },
    { ms: 3_661_000, text: '1h1m1s' },
    { ms: 0, text: '0s' },
    { ms: 250, text: '250ms' },
  ])('writes $ms ms as $text', ({ ms, text }) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
