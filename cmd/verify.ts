import { KubeClient } from '../shared/kube/client.ts';
import { loadClientNode } from '../shared/kube/client-node.ts';
import { KubeError } from '../shared/kube/errors.ts';
import { KubeconfigError, loadOperatorKubeConfig } from '../shared/kube/kubeconfig.ts';
import { listRemoteSecrets } from '../shared/kube/primary.ts';
import { createClusterProbe } from '../shared/kube/probe.ts';
import {
  MANIFEST_LIMITS,
  readRemoteSecretObject,
  readSecretManifests,
  type ManifestError,
} from '../shared/remote-secret/manifests.ts';
import type { RemoteSecret } from '../shared/remote-secret/model.ts';
import { verifySecrets, type ClusterVerification } from '../shared/remote-secret/verify.ts';
import {
  fetchIstiodClusters,
  istiodAgrees,
  istiodOpinion,
  IstiodViewError,
  type IstiodOpinion,
} from '../shared/kube/istiod.ts';
import {
  EXIT_FINDINGS,
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
  writeError,
  writeErrorWithHint,
  writeWarning,
} from './cli-io.ts';
import { readInput } from './inputs.ts';
import { renderVerifyJson, renderVerifyTable } from './render-verify.ts';

export interface VerifyOptions {
  /** Manifests to read instead of the primary cluster (-f). */
  readonly files: readonly string[];
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly namespace: string;
  readonly timeoutMs: number;
  readonly output: 'table' | 'json';
  /** istiod's HTTP port (a local istiod or a port-forward), for its own view of each cluster. */
  readonly istiod?: string | undefined;
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
  const secrets: RemoteSecret[] = [];
  const errors: ManifestError[] = [];
  let unreadable = false;
  if (options.files.length > 0) {
    for (const file of options.files) {
      const source = file === '-' ? 'stdin' : file;
      const input = await readInput(file, MANIFEST_LIMITS.maxLength, io.stdin);
      if (!input.ok) {
        errors.push({ source, message: input.message });
        unreadable ||= input.unreadable;
        continue;
      }
      const read = readSecretManifests(input.text, source);
      secrets.push(...read.secrets);
      errors.push(...read.errors);
    }
  } else {
    try {
      const primary = loadOperatorKubeConfig(k8s, {
        path: options.kubeconfig,
        context: options.context,
        env: io.env.kubeconfig,
        home: io.env.home,
      });
      const client = new KubeClient(k8s, primary.kubeConfig, { requestTimeoutMs: options.timeoutMs });
      for (const item of await listRemoteSecrets(client, options.namespace)) {
        const read = readRemoteSecretObject(item, `${options.namespace}/${item.metadata.name ?? ''}`);
        secrets.push(...read.secrets);
        errors.push(...read.errors);
      }
    } catch (error) {
      if (error instanceof KubeconfigError || error instanceof KubeError) {
        writeErrorWithHint(error);
        return EXIT_USAGE;
      }
      throw error;
    }
  }

  const results = await verifySecrets(
    secrets,
    { timeoutMs: options.timeoutMs, now: io.now() },
    (config, signal) => createClusterProbe(k8s, config, signal, options.timeoutMs),
  );
  let istiod: Map<ClusterVerification, IstiodOpinion> | undefined;
  if (options.istiod !== undefined) {
    try {
      const clusters = await fetchIstiodClusters(options.istiod, options.timeoutMs);
      istiod = new Map(
        results.map((result) => [result, istiodOpinion(clusters, result.cluster, result.secret)]),
      );
    } catch (error) {
      if (error instanceof IstiodViewError) {
        writeError(error.message);
        return EXIT_USAGE;
      }
      throw error;
    }
  }
  const report = { results, errors, ...(istiod === undefined ? {} : { istiod }) };
  io.stdout.write(options.output === 'json' ? renderVerifyJson(report) : renderVerifyTable(report));
  if (options.output === 'table' || unreadable) {
    for (const error of errors) writeError(`${error.source}: ${error.message}`);
  }
  if (unreadable) return EXIT_USAGE;
  if (results.length === 0 && errors.length === 0) {
    writeWarning(
      options.files.length > 0
        ? 'no remote secrets (Secrets labelled istio/multiCluster: "true") in the files; nothing was verified'
        : `no remote secrets (Secrets labelled istio/multiCluster: "true") in namespace ${options.namespace}; nothing was verified`,
    );
  }
  const istiodDisagrees = [...(istiod?.values() ?? [])].some((opinion) => !istiodAgrees(opinion));
  return results.some((result) => result.status !== 'ok') || errors.length > 0 || istiodDisagrees
    ? EXIT_FINDINGS
    : EXIT_OK;
}
