import { describe, expect, it } from 'vitest';
import { completeWords, type CompletionLookup } from './completion.ts';

const asked: string[] = [];
const lookup: CompletionLookup = {
  contexts: (kubeconfig) => {
    asked.push(`contexts ${kubeconfig ?? '-'}`);
    return Promise.resolve(['east', 'west', 'arn:aws:eks:eu-west-1:1:cluster/x']);
  },
  namespaces: (kubeconfig, context) => {
    asked.push(`namespaces ${kubeconfig ?? '-'} ${context ?? '-'}`);
    return Promise.resolve(['default', 'istio-system', 'kube-system']);
  },
};
const YARGS = ['--help', '--context', '--namespace', '--n', '-n', '--c:kubeconfig', '--o\tOutput format'];

describe('completeWords', () => {
  it.each([
    {
      words: ['p', 'audit', '--context', ''],
      expected: ['east', 'west', 'arn:aws:eks:eu-west-1:1:cluster/x'],
      asks: 'contexts -',
    },
    { words: ['p', 'create', '-c', 'k.yaml', '--context', 'w'], expected: ['west'], asks: 'contexts k.yaml' },
    {
      words: [
        'p',
        'create',
        '--kubeconfig=r.yaml',
        '--primary-kubeconfig',
        'p.yaml',
        '--primary-context',
        '',
      ],
      expected: ['east', 'west', 'arn:aws:eks:eu-west-1:1:cluster/x'],
      asks: 'contexts p.yaml',
    },
    {
      words: ['p', 'audit', '--context', 'west', '-n', 'is'],
      expected: ['istio-system'],
      asks: 'namespaces - west',
    },
    {
      words: ['p', 'create', '--kubeconfig', 'r.yaml', '--context=east', '--istio-namespace', ''],
      expected: ['default', 'istio-system', 'kube-system'],
      asks: 'namespaces r.yaml east',
    },
    { words: ['p', 'audit', '--'], expected: ['--help', '--context', '--namespace', '-n'], asks: undefined },
  ])('$words', async ({ words, expected, asks }) => {
    asked.length = 0;
    expect(await completeWords(words, YARGS, lookup)).toEqual(expected);
    expect(asked).toEqual(asks === undefined ? [] : [asks]);
  });

  it('escapes colons for zsh, which reads "word:description"', async () => {
    expect(await completeWords(['p', 'audit', '--context', 'arn'], [], lookup, { zsh: true })).toEqual([
      'arn\\:aws\\:eks\\:eu-west-1\\:1\\:cluster/x',
    ]);
  });

  it('offers nothing, and says nothing, when the cluster cannot be asked', async () => {
    const failing: CompletionLookup = {
      contexts: () => Promise.reject(new Error('no kubeconfig')),
      namespaces: () => Promise.reject(new Error('connection refused')),
    };
    expect(await completeWords(['p', 'audit', '-n', ''], YARGS, failing)).toEqual([]);
    expect(await completeWords(['p', 'audit', '--context', ''], YARGS, failing)).toEqual([]);
  });
});
