import { Deadline, KubeClient, operatorClient } from '../shared/kube/client.ts';
import { createGuardedProbe } from '../shared/kube/guarded-probe.ts';
import { KubeconfigError } from '../shared/kube/kubeconfig.ts';
import { loadClientNode, type ClientNodeModule } from '../shared/kube/client-node.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import { listRemoteSecrets } from '../shared/kube/primary.ts';
import { createClusterProbe } from '../shared/kube/probe.ts';
import { readRemoteSecretObject, type ManifestError } from '../shared/remote-secret/manifests.ts';
import type { RemoteSecret } from '../shared/remote-secret/model.ts';
import { verifySecrets, type ClusterVerification } from '../shared/remote-secret/verify.ts';
import {
  fetchIstiodClusters,
  istiodAgrees,
  istiodOpinion,
  IstiodViewError,
  type IstiodOpinion,
} from '../shared/kube/istiod.ts';
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, writeError, writeErrorWithHint } from './cli-io.ts';
import { readManifestInputs } from './inputs.ts';
import { renderVerifyJson, renderVerifyTable } from './render-verify.ts';

export interface VerifyOptions {
  /** Manifests to read instead of the primary cluster (-f). */
  readonly files: readonly string[];
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly namespace: string;
  /** --timeout: the whole command. */
  readonly timeoutMs: number;
  /** --request-timeout: each call. */
  readonly requestTimeoutMs: number;
  /** --expiring-within: a token that expires sooner is a warning. */
  readonly expiringWithinMs: number;
  readonly output: 'table' | 'json';
  /** istiod's HTTP port (a local istiod or a port-forward), for its own view of each cluster. */
  readonly istiod?: string | undefined;
  /**
   * --in-cluster: check as a pod in the primary would (guarded probes: no loopback, no
   * link-local, no redirects, no proxy), and read the secrets with the pod's service account
   * unless a kubeconfig or context is named.
   */
  readonly inCluster?: boolean;
}

export interface VerifyIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly env: { readonly kubeconfig: string | undefined; readonly home: string | undefined };
  readonly now: () => Date;
}

/**
 * `kubectl remote-secret verify`: read the remote secrets (from the primary, or files), and for
 * every cluster prove that its kubeconfig works: sanitized first, then reachable, authenticated,
 * authorized for Istio's reader rules, and not expired. Exit status 0 all ok, 1 a cluster failed
 * or a secret could not be read, 2 usage error or the secrets could not be fetched at all.
 */
export async function runVerify(options: VerifyOptions, io: VerifyIo): Promise<number> {
  if (options.files.filter((file) => file === '-').length > 1) {
    throw new UsageError('standard input (-) can be read only once');
  }
  const k8s = await loadClientNode();
  const deadline = new Deadline(options.timeoutMs);
  const secrets: RemoteSecret[] = [];
  const errors: ManifestError[] = [];
  let unreadable = false;
  if (options.files.length > 0) {
    const read = await readManifestInputs(options.files, io.stdin);
    secrets.push(...read.secrets);
    errors.push(...read.errors);
    unreadable = read.unreadable;
  } else {
    try {
      const client = primaryClient(k8s, options, io.env, deadline);
      for (const item of await listRemoteSecrets(client, options.namespace)) {
        const read = readRemoteSecretObject(item, `${options.namespace}/${item.metadata.name ?? ''}`);
        secrets.push(...read.secrets);
        errors.push(...read.errors);
      }
    } catch (error) {
      // The secrets could not be fetched at all (kubeconfig, API): exit status 2.
      if (!(error instanceof RemoteSecretError)) throw error;
      writeErrorWithHint(error);
      return EXIT_USAGE;
    }
  }

  const results = await verifySecrets(
    secrets,
    {
      timeoutMs: options.timeoutMs,
      signal: deadline.signal,
      now: io.now(),
      expiringWithinMs: options.expiringWithinMs,
    },
    options.inCluster === true
      ? (config, signal) =>
          createGuardedProbe(config, AbortSignal.any([signal, deadline.signal]), {
            requestTimeoutMs: options.requestTimeoutMs,
            allowLoopback: false,
          })
      : (config, signal) => createClusterProbe(k8s, config, signal, options.requestTimeoutMs, deadline),
  );
  let istiod: Map<ClusterVerification, IstiodOpinion> | undefined;
  if (options.istiod !== undefined) {
    try {
      const clusters = await fetchIstiodClusters(options.istiod, options.timeoutMs);
      istiod = new Map(
        results.map((result) => [result, istiodOpinion(clusters, result.cluster, result.secret)]),
      );
    } catch (error) {
      if (!(error instanceof IstiodViewError)) throw error;
      writeErrorWithHint(error);
      return EXIT_USAGE;
    }
  }
  const report = { results, errors, ...(istiod === undefined ? {} : { istiod }) };
  io.stdout.write(options.output === 'json' ? renderVerifyJson(report) : renderVerifyTable(report));
  if (options.output === 'table' || unreadable) {
    for (const error of errors) writeError(`${error.source}: ${error.message}`);
  }
  if (unreadable) return EXIT_USAGE;
  if (results.length === 0 && errors.length === 0) {
    // Nothing verified is not a pass: a wrong -n or a file of something else must not look green.
    writeErrorWithHint(
      options.files.length > 0
        ? {
            message:
              'no remote secrets (Secrets labelled istio/multiCluster: "true") in the files; nothing was verified',
            hint: 'pass the secrets `kubectl remote-secret create` wrote, or read them from the primary (no -f)',
          }
        : {
            message: `no remote secrets (Secrets labelled istio/multiCluster: "true") in namespace ${options.namespace}; nothing was verified`,
            hint: "istiod reads them from its own namespace: pass -n with istiod's namespace, or check the context (--context)",
          },
    );
    return EXIT_FINDINGS;
  }
  const istiodDisagrees = [...(istiod?.values() ?? [])].some((opinion) => !istiodAgrees(opinion));
  return results.some((result) => result.status !== 'ok') || errors.length > 0 || istiodDisagrees
    ? EXIT_FINDINGS
    : EXIT_OK;
}

/**
 * The client that reads the secrets: the operator's kubeconfig, or with --in-cluster and no
 * --kubeconfig, --context or $KUBECONFIG, the pod's service account (as client-go's in-cluster
 * config: KUBERNETES_SERVICE_HOST and PORT, the mounted token and CA).
 */
function primaryClient(
  k8s: ClientNodeModule,
  options: VerifyOptions,
  env: VerifyIo['env'],
  deadline: Deadline,
): KubeClient {
  const named =
    options.kubeconfig !== undefined || options.context !== undefined || (env.kubeconfig ?? '') !== '';
  if (options.inCluster !== true || named) return operatorClient(k8s, options, env).client;
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  if (host === undefined || host === '') {
    throw new KubeconfigError(
      'no-context',
      '--in-cluster: not in a pod (KUBERNETES_SERVICE_HOST is not set), so there is no service account to read the secrets with',
      {
        hint: 'run it in a pod in the primary (a Job with its ServiceAccount and Role: docs/examples/verify-in-cluster.yaml), or pass --kubeconfig for the primary and keep --in-cluster for the probe rules',
      },
    );
  }
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromCluster();
  return new KubeClient(k8s, kubeConfig, { requestTimeoutMs: options.requestTimeoutMs, deadline });
}
