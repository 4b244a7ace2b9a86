// `npm run demo`: two real local Kubernetes control planes, a primary and a remote, a real istiod
// for the primary, and a guided walk through the product on them: create a remote secret from the
// remote, apply it to the primary where the admission webhook accepts it, verify it (with istiod's
// own view), then watch a malicious one be refused.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeTlsFixture } from '../webhook/testdata/tls.ts';
import { PLUGIN, REPO_ROOT } from './cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from './harness/cluster.ts';
import { formatDuration } from './harness/format.ts';
import { isMissingToolchain } from './harness/errors.ts';
import { ensureIstioBinary } from './harness/istio-binary.ts';
import { prepareIstioPrimary, startIstiod, type Istiod } from './harness/istiod.ts';
import { ensureTestenvBinary } from './harness/testenv-binary.ts';
import {
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from './harness/webhook.ts';

const NAMESPACE = 'istio-system';

/** Run a command as the user would type it, with the plugin on PATH, and show it with its output. */
function show(
  title: string,
  command: string,
  env: NodeJS.ProcessEnv,
): { status: number | null; output: string } {
  console.log(`\n== ${title}\n$ ${command}`);
  const result = spawnSync('sh', ['-c', command], { cwd: REPO_ROOT, encoding: 'utf8', env });
  const output = `${result.stdout}${result.stderr}`;
  process.stdout.write(output.replace(/^/gm, '  '));
  return { status: result.status, output };
}

/** The guided tour; istiod is already running against the primary. */
async function walkThrough(
  primary: TestCluster,
  remote: TestCluster,
  istiod: Istiod,
  work: string,
): Promise<WebhookProcess> {
  const env = {
    ...process.env,
    PATH: `${dirname(PLUGIN)}:${process.env['PATH'] ?? ''}`,
    KUBECONFIG: `${primary.kubeconfigPath}:${remote.kubeconfigPath}`,
  };
  const onPrimary = `kubectl --context primary`;
  console.log('\nStarting the admission webhook for the primary (enforce mode) and registering it...');
  spawnSync('kubectl', ['--kubeconfig', primary.kubeconfigPath, 'create', 'namespace', NAMESPACE], {
    encoding: 'utf8',
  });
  const tls = writeTlsFixture(mkdtempSync(join(work, 'webhook-tls-')));
  const webhook = await startWebhookProcess({
    tls,
    kubeconfigPath: primary.kubeconfigPath,
    mode: 'enforce',
    localClusterId: 'primary',
    namespace: NAMESPACE,
    // One process, so no Lease to hold; it renews the tokens of renewable secrets (step 8).
    extraArgs: ['--no-leader-elect', '--renew-tokens', '--renew-interval', '2', '--renew-allow-loopback'],
  });
  await registerShippedWebhook(primary.kubeconfigPath, webhook, tls, NAMESPACE);
  console.log(
    `The webhook listens on https://127.0.0.1:${String(webhook.port)}; the primary calls it for every remote secret.`,
  );

  const secret = join(work, 'remote-secret.yaml');
  show(
    '1. Create a least-privilege, exec-free remote secret from the remote cluster',
    `kubectl remote-secret create --context remote --name remote > ${secret} && cat ${secret} | sed 's/token: .*/token: <redacted>/; s/certificate-authority-data: .*/certificate-authority-data: <redacted>/'`,
    env,
  );
  show("2. Check it offline, with the webhook's own decision", `kubectl remote-secret check ${secret}`, env);
  show('3. Apply it to the primary: the webhook accepts it', `${onPrimary} apply -f ${secret}`, env);
  await istiod.waitForCluster('remote', (entry) => entry?.syncStatus === 'synced').catch(() => undefined);
  show(
    "4. Prove it works: reachable, authenticated, authorized, not expired, and istiod's own view",
    `kubectl remote-secret verify --context primary --istiod ${istiod.httpUrl}`,
    env,
  );
  show(
    '5. Try a malicious remote secret (its second user runs a program inside istiod): refused',
    `${onPrimary} apply -f test/testdata/secrets/second-user-exec.yaml`,
    env,
  );
  show(
    '6. The audit trail: a Warning Event for the rejection',
    `${onPrimary} get events -n ${NAMESPACE} --field-selector reason=RemoteSecretRejected -o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message`,
    env,
  );
  show(
    "7. istiod's own view of the remotes: its debug endpoint lists every cluster, the secret it came from, and its sync status",
    `curl -s ${istiod.httpUrl}/debug/clusterz; echo`,
    env,
  );
  show(
    '8. A token that renews itself: 10 minutes long, renewed by the webhook once 1% of its life has passed (the default is 67%)',
    `kubectl remote-secret create --context remote --name east --token-duration 10m --renew --renew-after 0.01 --apply --primary-context primary`,
    env,
  );
  const renewed = await waitFor(
    () => webhook.output().includes('renewed the token of a remote cluster'),
    30_000,
  );
  const line = webhook
    .output()
    .split('\n')
    .find((entry) => entry.includes('renewed the token of a remote cluster'));
  console.log(
    renewed && line !== undefined
      ? `  the webhook's log: ${line}`
      : '  (the webhook did not renew the token within 30 s; see its log)',
  );
  await istiod.waitForCluster('east', (entry) => entry?.syncStatus === 'synced').catch(() => undefined);
  show(
    '9. The renewed secret: when it is due next, and istiod synced with the new token',
    `kubectl remote-secret renew --all --dry-run --context primary && kubectl remote-secret verify --context primary --istiod ${istiod.httpUrl}`,
    env,
  );
  return webhook;
}

/** Polls `done` every 200 ms; false if it has not held within `timeoutMs`. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return true;
}

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
  let istioBinary: string;
  try {
    const binary = await ensureTestenvBinary();
    binaryPath = binary.path;
    kubernetesVersion = binary.kubernetesVersion;
    istioBinary = (await ensureIstioBinary()).path;
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
  const work = mkdtempSync(join(tmpdir(), 'remote-secret-demo-'));
  let webhook: WebhookProcess | undefined;
  let istiod: Istiod | undefined;
  try {
    console.log(
      "\nStarting istiod (pilot-discovery from istio.io/istio) for the primary, with Istio's CRDs...",
    );
    await prepareIstioPrimary(primary.kubeconfigPath, { binaryPath: istioBinary, namespace: NAMESPACE });
    istiod = await startIstiod({
      binaryPath: istioBinary,
      kubeconfigPath: primary.kubeconfigPath,
      clusterId: 'primary',
      namespace: NAMESPACE,
    });
    webhook = await walkThrough(primary, remote, istiod, work);
  } catch (error) {
    await istiod?.stop();
    await stopWebhookProcess(webhook);
    await stopAllClusters();
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
  process.off('SIGINT', stopOnSignal);
  process.off('SIGTERM', stopOnSignal);

  console.log(`
Two Kubernetes ${kubernetesVersion} control planes are running on this machine (started in ${formatDuration(Date.now() - started)}):

${describeCluster(primary)}
${describeCluster(remote)}

Each is etcd + kube-apiserver (RBAC, default admission plugins) + the token controllers of
kube-controller-manager, on 127.0.0.1 only. There are no nodes, so pods stay Pending.

istiod runs against the primary (CLUSTER_ID primary), every listener on 127.0.0.1, no data plane:
  ${istiod.httpUrl}/debug/clusterz    its remote clusters
  ${istiod.metricsUrl}   istiod_managed_clusters and the sync-state gauge

The webhook keeps running against the primary. Try more, in another terminal:
  export KUBECONFIG=${primary.kubeconfigPath}:${remote.kubeconfigPath}   # contexts "primary" and "remote"
  export PATH=${dirname(PLUGIN)}:$PATH                                      # kubectl remote-secret ...
  kubectl --context primary apply -f test/testdata/secrets/token-file.yaml    # refused: tokenFile
  kubectl remote-secret create --context remote --name remote --dry-run       # what create would do
  kubectl remote-secret check test/testdata/secrets/*.yaml                    # every rule, offline

Press Ctrl-C to stop both clusters and remove their files.`);

  // Signal listeners do not keep Node alive, and the clusters are detached: hold the loop open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  console.log(`\n${signal}: stopping istiod, the webhook and the clusters...`);
  await istiod.stop();
  await stopWebhookProcess(webhook);
  await stopAllClusters();
  rmSync(work, { recursive: true, force: true });
  console.log('stopped.');
  return 0;
}

process.exitCode = await main();
