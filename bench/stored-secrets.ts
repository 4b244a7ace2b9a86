// Remote secrets stored in a test cluster for the benchmarks that list them.
import { asModel } from '../shared/kube/client.ts';
import type { TestCluster } from '../test/harness/cluster.ts';
import { EXEC_USER, realisticKubeconfig } from './fixtures.ts';

/**
 * The fixture's token is random bytes in three parts; the audit decodes a token's claims, so
 * give it a bound ServiceAccount token's shape (JSON claims with exp, about 1 KB) instead.
 */
function withBoundToken(kubeconfig: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const token = [
    part({ alg: 'RS256', kid: 'x'.repeat(43) }),
    part({
      aud: ['https://kubernetes.default.svc.cluster.local'],
      exp: now + 365 * 86_400,
      iat: now,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': {
        namespace: 'istio-system',
        serviceaccount: { name: 'istio-reader-service-account', uid: crypto.randomUUID() },
      },
      nbf: now,
      sub: 'system:serviceaccount:istio-system:istio-reader-service-account',
    }),
    Buffer.alloc(256, 7).toString('base64url'),
  ].join('.');
  return kubeconfig.replace(/token: \S+/, `token: ${token}`);
}

/** Store `count` remote secrets, one in 100 with exec, 32 requests in flight. */
export async function store(cluster: TestCluster, namespace: string, count: number): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: asModel(k8s.V1Namespace, { metadata: { name: namespace } }) });
  const clean = Buffer.from(withBoundToken(realisticKubeconfig())).toString('base64');
  const exec = Buffer.from(withBoundToken(realisticKubeconfig(EXEC_USER))).toString('base64');
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < count; index = next++) {
      await core.createNamespacedSecret({
        namespace,
        body: asModel(k8s.V1Secret, {
          metadata: { name: `remote-${String(index)}`, labels: { 'istio/multiCluster': 'true' } },
          data: { [`cluster-${String(index)}`]: index % 100 === 0 ? exec : clean },
        }),
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}
