import { describe, expect, it } from 'vitest';
import { emitYaml, sortKeysDeep } from './emit.ts';
import { readYaml, KUBECONFIG_LIMITS } from './parse.ts';

describe('emitYaml', () => {
  it('writes what go-yaml writes for a Secret with a kubeconfig under stringData', () => {
    const text = emitYaml({
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 'east', labels: { 'istio/multiCluster': 'true' } },
      stringData: { east: 'apiVersion: v1\nkind: Config\n' },
      list: [{ b: 1, a: 2 }],
    });
    expect(text).toBe(
      [
        'apiVersion: v1',
        'kind: Secret',
        'list:',
        '- a: 2',
        '  b: 1',
        'metadata:',
        '  labels:',
        '    istio/multiCluster: "true"',
        '  name: east',
        'stringData:',
        '  east: |',
        '    apiVersion: v1',
        '    kind: Config',
        '',
      ].join('\n'),
    );
  });

  // DNS-1123 labels such as these are valid cluster IDs; go-yaml v2 (YAML 1.1) would read them
  // unquoted as booleans, numbers or null.
  it.each([
    'no',
    'yes',
    'on',
    'off',
    'y',
    'n',
    'true',
    'null',
    '123',
    '0123',
    '1e3',
    '0x1f',
    '1_000',
    '2001-01-01',
  ])('quotes %j wherever it appears, so every YAML reader gets the string back', (word) => {
    const text = emitYaml({ [word]: word, list: [word] });
    expect(text).toContain(`"${word}"`);
    const parsed = readYaml(text, { limits: KUBECONFIG_LIMITS, strict: true });
    expect(parsed.ok && parsed.documents[0]).toEqual({ [word]: word, list: [word] });
  });

  it('never folds long values such as tokens and CA data', () => {
    const token = 'x'.repeat(2000);
    expect(emitYaml({ token })).toBe(`token: ${token}\n`);
  });
});

describe('sortKeysDeep', () => {
  it('sorts byte-wise like Go, drops undefined and keeps arrays in order', () => {
    expect(JSON.stringify(sortKeysDeep({ b: 1, B: 2, a: [{ z: 1, y: undefined, x: 2 }] }))).toBe(
      '{"B":2,"a":[{"x":2,"z":1}],"b":1}',
    );
  });
});
