import { RemoteSecretError } from '../shared/errors.ts';
import { KubeClient, operatorClient } from '../shared/kube/client.ts';
import { loadClientNode, type ClientNodeModule } from '../shared/kube/client-node.ts';
import { primaryRenewStore, storedRemoteSecret } from '../shared/kube/primary.ts';
import { kubeConfigFromSanitized } from '../shared/kube/probe.ts';
import { requestServiceAccountToken } from '../shared/kube/remote.ts';
import { MULTICLUSTER_LABEL } from '../shared/remote-secret/model.ts';
import {
  renewSecret,
  type ClusterRenewal,
  type RenewIo,
  type StoredRemoteSecret,
} from '../shared/remote-secret/renew.ts';
import { RENEW_SERVICE_ACCOUNT_ANNOTATION } from '../shared/remote-secret/renewal.ts';
import { plural } from '../shared/text.ts';
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, writeErrorWithHint } from './cli-io.ts';
import { tableLines } from './table.ts';

export interface RenewOptions {
  /** Secrets by name; empty with --all. */
  readonly names: readonly string[];
  readonly all: boolean;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly namespace: string;
  readonly timeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly output: 'table' | 'json';
}

export interface RenewCommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly env: { readonly kubeconfig: string | undefined; readonly home: string | undefined };
  readonly now: () => Date;
}

/**
 * `kubectl remote-secret renew`: renew the tokens of renewable remote secrets (`create --renew`)
 * in the primary that are due, or all with --force: a TokenRequest to each remote with its current
 * token, then one conditional update of the secret. Exit status 0 renewed or not due, 1 a cluster
 * failed, 2 usage error or the secrets could not be read.
 */
export async function runRenew(options: RenewOptions, io: RenewCommandIo): Promise<number> {
  if (options.all === options.names.length > 0) {
    throw new UsageError(
      options.all
        ? 'name secrets or pass --all, not both'
        : 'name the secrets to renew (kubectl remote-secret renew istio-remote-secret-east), or pass --all',
    );
  }
  const k8s = await loadClientNode();
  let client: KubeClient;
  let stored: StoredRemoteSecret[];
  try {
    client = operatorClient(k8s, options, io.env).client;
    stored = await readTargets(client, options);
  } catch (error) {
    if (!(error instanceof RemoteSecretError)) throw error;
    writeErrorWithHint(error);
    return EXIT_USAGE;
  }
  const renewIo = clusterIo(k8s, client, options);
  const results: ClusterRenewal[] = [];
  for (const secret of stored) {
    results.push(
      ...(await renewSecret(
        secret,
        { now: io.now(), force: options.force, dryRun: options.dryRun },
        renewIo,
      )),
    );
  }
  io.stdout.write(options.output === 'json' ? renderJson(results, options.dryRun) : renderTable(results));
  if (results.length === 0) {
    writeErrorWithHint({
      message: `no renewable remote secrets in namespace ${options.namespace}; nothing was renewed`,
      hint: 'create them with `kubectl remote-secret create --token-duration 24h --renew`, or pass -n with the namespace that holds them',
    });
    return EXIT_FINDINGS;
  }
  return results.some((result) => result.status === 'failed') ? EXIT_FINDINGS : EXIT_OK;
}

/** The named secrets (each must exist), or every renewable remote secret of the namespace. */
async function readTargets(client: KubeClient, options: RenewOptions): Promise<StoredRemoteSecret[]> {
  const { namespace } = options;
  if (options.all) {
    const list = await client.call(
      `list Secrets labelled ${MULTICLUSTER_LABEL}=true in namespace ${namespace}`,
      (call) =>
        client.core.listNamespacedSecret({ namespace, labelSelector: `${MULTICLUSTER_LABEL}=true` }, call),
    );
    return list.items
      .filter((item) => item.metadata?.annotations?.[RENEW_SERVICE_ACCOUNT_ANNOTATION] !== undefined)
      .map(storedRemoteSecret);
  }
  const found: StoredRemoteSecret[] = [];
  for (const name of options.names) {
    const item = await client.read(`get Secret ${namespace}/${name}`, (call) =>
      client.core.readNamespacedSecret({ namespace, name }, call),
    );
    if (item === undefined) {
      throw new UsageError(`secret ${namespace}/${name} not found`);
    }
    found.push(storedRemoteSecret(item));
  }
  return found;
}

/** The remote through each secret's sanitized kubeconfig; the primary through the operator's. */
function clusterIo(k8s: ClientNodeModule, primary: KubeClient, options: RenewOptions): RenewIo {
  return {
    async requestToken(config, policy) {
      const remote = new KubeClient(k8s, kubeConfigFromSanitized(k8s, config), {
        requestTimeoutMs: options.requestTimeoutMs,
        deadline: primary.deadline,
      });
      return requestServiceAccountToken(
        remote,
        policy.namespace,
        policy.serviceAccount,
        policy.durationSeconds,
      );
    },
    ...primaryRenewStore(primary),
  };
}

const STATUS: Readonly<Record<ClusterRenewal['status'], string>> = {
  renewed: 'RENEWED',
  'would-renew': 'DUE (dry run)',
  'not-due': 'NOT DUE',
  failed: 'FAILED',
};

function renderTable(results: readonly ClusterRenewal[]): string {
  if (results.length === 0) return '';
  const rows = [
    ['CLUSTER', 'SECRET', 'EXPIRES', 'RENEW AT', 'NEW EXPIRY', 'STATUS'],
    ...results.map((result) => [
      result.cluster || '-',
      result.secret,
      result.expires ?? 'never',
      result.renewAt ?? '-',
      result.newExpires ?? '-',
      STATUS[result.status],
    ]),
  ];
  const lines = tableLines(rows);
  for (const result of results) {
    if (result.message === undefined) continue;
    lines.push(`${result.cluster || '-'} (${result.secret}): ${result.message}`);
    if (result.hint !== undefined && result.hint !== '') lines.push(`  fix: ${result.hint}`);
  }
  const count = (status: ClusterRenewal['status']) =>
    results.filter((result) => result.status === status).length;
  lines.push(
    `${plural(results.length, 'cluster')}: ${count('renewed')} renewed, ${count('would-renew')} due, ${count('not-due')} not due, ${count('failed')} failed`,
  );
  return `${lines.join('\n')}\n`;
}

function renderJson(results: readonly ClusterRenewal[], dryRun: boolean): string {
  return `${JSON.stringify({ kind: 'RemoteSecretRenewal', dryRun, clusters: results }, null, 2)}\n`;
}
