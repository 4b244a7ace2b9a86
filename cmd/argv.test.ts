import { describe, expect, it } from 'vitest';
import { normalizeShortFlags } from './argv.ts';

describe('normalizeShortFlags (kubectl/pflag short options)', () => {
  it.each([
    { argv: ['version', '-ojson'], expected: ['version', '-o=json'] },
    { argv: ['audit', '-oyaml'], expected: ['audit', '-o=yaml'] },
    { argv: ['audit', '-nistio-system'], expected: ['audit', '-n=istio-system'] },
    { argv: ['audit', '-n=istio-system'], expected: ['audit', '-n=istio-system'] },
    { argv: ['audit', '-Aojson'], expected: ['audit', '-A', '-o=json'] },
    { argv: ['audit', '-Ao', 'json'], expected: ['audit', '-A', '-o', 'json'] },
    { argv: ['verify', '-f-'], expected: ['verify', '-f=-'] },
    {
      argv: ['audit', '--rejections', '--audit-log', '-', '--audit-log', 'a.log'],
      expected: ['audit', '--rejections', '--audit-log=-', '--audit-log', 'a.log'],
    },
    // Left alone: yargs reads them as they are, or says what is wrong.
    {
      argv: ['audit', '-o', 'json', '--output=json', '-A'],
      expected: ['audit', '-o', 'json', '--output=json', '-A'],
    },
    { argv: ['check', '-'], expected: ['check', '-'] },
    { argv: ['check', '-xyz'], expected: ['check', '-xyz'] },
    // The value of the option before it, even if it looks like a group: a file named -ojson.
    { argv: ['verify', '-f', '-ojson'], expected: ['verify', '-f', '-ojson'] },
    { argv: ['check', '--', '-ojson'], expected: ['check', '--', '-ojson'] },
  ])('$argv -> $expected', ({ argv, expected }) => {
    expect(normalizeShortFlags(argv)).toEqual(expected);
  });
});
