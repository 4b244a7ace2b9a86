import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.ts';
import { leaseNamespace } from './main.ts';

function kubeConfig(namespace?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'local', server: 'https://127.0.0.1:6443' }],
    users: [{ name: 'admin' }],
    contexts: [
      { name: 'local', cluster: 'local', user: 'admin', ...(namespace === undefined ? {} : { namespace }) },
    ],
    currentContext: 'local',
  });
  return config;
}

const noFile = (): string => {
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

describe("the leader election Lease's namespace", () => {
  it.each([
    {
      case: 'the flag first',
      flag: 'flagged',
      env: { POD_NAMESPACE: 'pod' },
      file: () => 'sa',
      context: 'ctx',
      expected: 'flagged',
    },
    {
      case: 'then POD_NAMESPACE',
      flag: undefined,
      env: { POD_NAMESPACE: 'pod' },
      file: () => 'sa',
      context: 'ctx',
      expected: 'pod',
    },
    {
      case: "then the service account's file",
      flag: undefined,
      env: { POD_NAMESPACE: '' },
      file: () => 'sa\n',
      context: 'ctx',
      expected: 'sa',
    },
    {
      case: "then the kubeconfig context's",
      flag: undefined,
      env: {},
      file: noFile,
      context: 'ctx',
      expected: 'ctx',
    },
    { case: 'then default', flag: undefined, env: {}, file: noFile, context: undefined, expected: 'default' },
  ])('$case', ({ flag, env, file, context, expected }) => {
    expect(leaseNamespace(flag, kubeConfig(context), env, file)).toBe(expected);
  });

  it('refuses a POD_NAMESPACE that is not a namespace name, in one line', () => {
    expect(() =>
      leaseNamespace(undefined, kubeConfig(), { POD_NAMESPACE: 'Not A Namespace' }, noFile),
    ).toThrow(
      new ConfigError(
        'POD_NAMESPACE "Not A Namespace": not a namespace name (or set --leader-elect-namespace)',
      ),
    );
  });
});
