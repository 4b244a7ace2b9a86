import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadClientNode } from './client-node.ts';
import { KubeconfigError, loadOperatorKubeConfig } from './kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'operator-kubeconfig-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function kubeconfigFile(
  name: string,
  contexts: string[],
  current: string,
  server = 'https://east.example:6443',
): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: contexts.map((context) => ({ name: context, cluster: { server: `${server}/${context}` } })),
      users: contexts.map((context) => ({ name: context, user: { token: `token-${context}` } })),
      contexts: contexts.map((context) => ({
        name: context,
        context: { cluster: context, user: context, namespace: 'default' },
      })),
      'current-context': current,
    }),
  );
  return file;
}

const k8s = await loadClientNode();
const EAST_WEST = kubeconfigFile('east-west.yaml', ['east', 'west'], 'west');

describe('loadOperatorKubeConfig', () => {
  it('uses --context when given, else the current context', () => {
    expect(loadOperatorKubeConfig(k8s, { path: EAST_WEST, context: 'east' }).server).toBe(
      'https://east.example:6443/east',
    );
    expect(loadOperatorKubeConfig(k8s, { path: EAST_WEST }).context).toBe('west');
  });

  it.each([
    {
      name: 'an unknown context',
      source: { path: EAST_WEST, context: 'north' },
      code: 'unknown-context',
      message: /context "north" is not in .*east-west\.yaml/,
      hint: /known contexts: east, west/,
    },
    {
      name: 'no current context',
      source: { path: kubeconfigFile('none.yaml', ['east'], '') },
      code: 'no-context',
      message: /no usable current-context/,
      hint: /--context NAME \(one of east\)/,
    },
    {
      name: 'a missing file',
      source: { path: join(dir, 'missing.yaml') },
      code: 'unreadable-kubeconfig',
      message: /cannot load kubeconfig/,
      hint: undefined,
    },
    {
      name: 'no kubeconfig at all',
      source: { home: join(dir, 'nohome') },
      code: 'no-kubeconfig',
      message: /no kubeconfig found/,
      hint: /--kubeconfig FILE/,
    },
  ])('$name is a KubeconfigError that says what to do', ({ source, code, message, hint }) => {
    let error: unknown;
    try {
      loadOperatorKubeConfig(k8s, source);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KubeconfigError);
    expect((error as KubeconfigError).code).toBe(code);
    expect((error as KubeconfigError).message).toMatch(message);
    if (hint !== undefined) expect((error as KubeconfigError).hint).toMatch(hint);
  });

  it('names --primary-context in hints for the primary', () => {
    expect(() => loadOperatorKubeConfig(k8s, { home: join(dir, 'nohome'), flagPrefix: 'primary-' })).toThrow(
      KubeconfigError,
    );
    try {
      loadOperatorKubeConfig(k8s, { home: join(dir, 'nohome'), flagPrefix: 'primary-' });
    } catch (error) {
      expect((error as KubeconfigError).hint).toContain('--primary-kubeconfig');
    }
  });

  it('merges $KUBECONFIG files as kubectl does: the first definition and current-context win', () => {
    const first = kubeconfigFile('first.yaml', ['east'], '', 'https://first');
    const second = kubeconfigFile('second.yaml', ['east', 'north'], 'north', 'https://second');
    const loaded = loadOperatorKubeConfig(k8s, {
      env: [first, join(dir, 'absent.yaml'), second].join(delimiter),
    });
    expect(loaded.context).toBe('north');
    expect(loaded.kubeConfig.getCluster('east')?.server).toBe('https://first/east');
    expect(loaded.files).toEqual([first, second]);
  });

  it('reads ~/.kube/config without $KUBECONFIG', () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(
      join(home, '.kube', 'config'),
      '{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://h"}}],"users":[{"name":"u","user":{}}],"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],"current-context":"x"}',
    );
    expect(loadOperatorKubeConfig(k8s, { home }).server).toBe('https://h');
  });
});
