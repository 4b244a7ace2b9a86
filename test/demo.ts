// `npm run demo`: two real local Kubernetes control planes, a primary and a remote, to try the
// plugin against. Later issues add the guided walk-through; until then it prints how to use them.
import { startCluster, stopAllClusters, type TestCluster } from './harness/cluster.ts';
import { formatDuration } from './harness/format.ts';
import { isMissingToolchain } from './harness/errors.ts';
import { ensureTestenvBinary } from './harness/testenv-binary.ts';

function describeCluster(cluster: TestCluster): string {
  return [
    `  ${cluster.name.padEnd(8)} ${cluster.server}`,
    `           kubeconfig: ${cluster.kubeconfigPath}`,
    `           logs:       ${cluster.dir}/logs`,
  ].join('\n');
}

async function main(): Promise<number> {
  let binaryPath: string;
  let kubernetesVersion: string;
  try {
    const binary = await ensureTestenvBinary();
    binaryPath = binary.path;
    kubernetesVersion = binary.kubernetesVersion;
  } catch (error) {
    if (isMissingToolchain(error)) {
      console.error(`demo: ${error.message}`);
      return 2;
    }
    throw error;
  }

  // Ctrl-C during start-up still stops whatever has started.
  const interrupt = new AbortController();
  const stopOnSignal = (): void => {
    interrupt.abort();
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const started = Date.now();
  const [primaryResult, remoteResult] = await Promise.allSettled([
    startCluster('primary', { binaryPath }),
    startCluster('remote', { binaryPath }),
  ]);
  if (primaryResult.status === 'rejected' || remoteResult.status === 'rejected' || interrupt.signal.aborted) {
    await stopAllClusters();
    if (interrupt.signal.aborted) return 130;
    const failed = primaryResult.status === 'rejected' ? primaryResult : remoteResult;
    throw failed.status === 'rejected' ? failed.reason : new Error('unreachable');
  }
  const primary = primaryResult.value;
  const remote = remoteResult.value;
  process.off('SIGINT', stopOnSignal);
  process.off('SIGTERM', stopOnSignal);

  console.log(`
Two Kubernetes ${kubernetesVersion} control planes are running on this machine (started in ${formatDuration(Date.now() - started)}):

${describeCluster(primary)}
${describeCluster(remote)}

Each is etcd + kube-apiserver (RBAC, default admission plugins) + the token controllers of
kube-controller-manager, on 127.0.0.1 only. There are no nodes, so pods stay Pending.

Try, in another terminal:
  kubectl --kubeconfig ${primary.kubeconfigPath} get namespaces
  kubectl --kubeconfig ${remote.kubeconfigPath} -n kube-system create serviceaccount istio-reader
  kubectl --kubeconfig ${remote.kubeconfigPath} -n kube-system create token istio-reader
  export KUBECONFIG=${primary.kubeconfigPath}:${remote.kubeconfigPath}   # contexts "primary" and "remote"
  kubectl config get-contexts

Press Ctrl-C to stop both clusters and remove their files.`);

  // Signal listeners do not keep Node alive, and the clusters are detached: hold the loop open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  console.log(`\n${signal}: stopping the clusters...`);
  await stopAllClusters();
  console.log('stopped.');
  return 0;
}

process.exitCode = await main();
