import type * as ClientNode from '@kubernetes/client-node';

export type ClientNodeModule = typeof ClientNode;

/**
 * @kubernetes/client-node, loaded when a command first talks to a cluster. Its import alone
 * costs several times kubectl's whole start-up, and the bundler hoists a static import of an
 * external package to the top of the bundle, where `--help` and `check` would pay for it. So
 * every module under shared/kube imports client-node's types only, and its code through here.
 */
export function loadClientNode(): Promise<ClientNodeModule> {
  return import('@kubernetes/client-node');
}
