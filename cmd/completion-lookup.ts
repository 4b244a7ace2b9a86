import { KubeClient } from '../shared/kube/client.ts';
import { loadClientNode } from '../shared/kube/client-node.ts';
import { loadKubeconfigFiles, loadOperatorKubeConfig } from '../shared/kube/kubeconfig.ts';
import type { CompletionLookup } from './completion.ts';

/** A shell waits for <TAB>: a cluster that does not answer in this long offers nothing. */
const COMPLETION_REQUEST_TIMEOUT_MS = 3000;

/**
 * Contexts and namespaces from the operator's own kubeconfig and cluster, found as every command
 * finds them (--kubeconfig, else $KUBECONFIG, else ~/.kube/config).
 */
export function clusterLookup(env: {
  readonly kubeconfig: string | undefined;
  readonly home: string | undefined;
}): CompletionLookup {
  return {
    async contexts(kubeconfig) {
      const k8s = await loadClientNode();
      const { kubeConfig } = loadKubeconfigFiles(k8s, {
        path: kubeconfig,
        env: env.kubeconfig,
        home: env.home,
      });
      return kubeConfig.getContexts().map((context) => context.name);
    },
    async namespaces(kubeconfig, context) {
      const k8s = await loadClientNode();
      const operator = loadOperatorKubeConfig(k8s, {
        path: kubeconfig,
        context,
        env: env.kubeconfig,
        home: env.home,
      });
      const client = new KubeClient(k8s, operator.kubeConfig, {
        requestTimeoutMs: COMPLETION_REQUEST_TIMEOUT_MS,
      });
      const list = await client.call('list Namespaces', (options) => client.core.listNamespace({}, options));
      return list.items.map((namespace) => namespace.metadata?.name ?? '').filter((name) => name !== '');
    },
  };
}
