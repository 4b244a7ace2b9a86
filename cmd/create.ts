import { readFileSync } from 'node:fs';
import { Deadline, KubeClient } from '../shared/kube/client.ts';
import { loadClientNode, type ClientNodeModule } from '../shared/kube/client-node.ts';
import { RemoteSecretError, type ErrorDetails } from '../shared/errors.ts';
import { KubeError } from '../shared/kube/errors.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import { loadOperatorKubeConfig, type OperatorKubeConfig } from '../shared/kube/kubeconfig.ts';
import { applySecret, asSent, listRemoteSecrets } from '../shared/kube/primary.ts';
import {
  clusterRootCa,
  createObjects,
  deleteSecrets,
  kubeSystemUid,
  missingPermissions,
  readRemoteFacts,
  requestServiceAccountToken,
  waitForTokenSecret,
} from '../shared/kube/remote.ts';
import {
  buildRemoteSecret,
  renderRemoteKubeconfig,
  type RemoteAuth,
  type SecretManifest,
} from '../shared/remote-secret/build.ts';
import { decideAgainstStored, type ClusterDecision } from '../shared/remote-secret/decide.ts';
import { readerClusterRoleName } from '../shared/remote-secret/istio-reader-rbac.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import {
  MissingPermissionsError,
  permissionsToRead,
  permissionsToWrite,
  type CreateRequest,
  type NeededPermission,
} from '../shared/remote-secret/permissions.ts';
import { planRemote, type RemoteFacts, type RemotePlan } from '../shared/remote-secret/plan.ts';
import { renewalAnnotations } from '../shared/remote-secret/renewal.ts';
import { checkServerUrl } from '../shared/remote-secret/server.ts';
import { formatDuration } from '../shared/time/duration.ts';
import { emptyToUndefined, EXIT_OK, exitStatusOf } from './cli-io.ts';
import type { CreateOptions } from './create-options.ts';
import { renderDryRun, renderSecret } from './render-create.ts';

export interface CreateIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** $KUBECONFIG and the home directory, read once by main. */
  readonly env: { readonly kubeconfig: string | undefined; readonly home: string | undefined };
  readonly now: () => Date;
}

/**
 * `kubectl remote-secret create`: read the remote, plan, create what is missing, get a token,
 * build and review the kubeconfig, and print (or apply) the remote secret. Returns the exit
 * status: 0 done, 1 the cluster refused or failed, 2 the command could not start (flags,
 * kubeconfig, context).
 */
export async function runCreate(options: CreateOptions, io: CreateIo): Promise<number> {
  const say = new Reporter(io.stderr);
  for (const warning of options.warnings) say.warning(warning);
  try {
    return await create(options, io, say);
  } catch (error) {
    if (!(error instanceof RemoteSecretError)) throw error;
    say.error(error.message, error.hint);
    return exitStatusOf(error);
  }
}

/**
 * The operator's remote context cannot give what the secret needs (a usage problem, exit status
 * 2), or the kubeconfig we generated failed our own review (a bug).
 */
type CreateErrorCode = 'unusable-server' | 'unreadable-ca-file' | 'no-ca' | 'generated-kubeconfig-refused';

class CreateError extends RemoteSecretError {
  override readonly name = 'CreateError';
  declare readonly code: CreateErrorCode;

  constructor(code: CreateErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

async function create(options: CreateOptions, io: CreateIo, say: Reporter): Promise<number> {
  const k8s = await loadClientNode();
  const remote = loadOperatorKubeConfig(k8s, {
    path: options.remote.kubeconfig,
    context: options.remote.context,
    env: io.env.kubeconfig,
    home: io.env.home,
  });
  // --timeout bounds the whole command, waits included; --request-timeout each call.
  const deadline = new Deadline(options.timeoutMs);
  const client = new KubeClient(k8s, remote.kubeConfig, {
    requestTimeoutMs: options.requestTimeoutMs,
    deadline,
  });
  const { server, tlsServerName } = resolveServer(options, remote, say);
  // The primary's client is loaded up front so a wrong --primary-context fails before any change.
  const primary =
    options.apply === undefined
      ? undefined
      : loadOperatorKubeConfig(k8s, {
          path: options.apply.kubeconfig,
          context: options.apply.context,
          env: io.env.kubeconfig,
          home: io.env.home,
          flagPrefix: 'primary-',
        });

  say.progress(`Checking permissions on the remote (context "${remote.context}", ${remote.server})`);
  const request: CreateRequest = {
    namespace: options.namespace,
    serviceAccount: options.serviceAccount,
    createServiceAccount: options.createServiceAccount,
    token: options.token,
    retireOld: options.retireOld,
    renew: options.renew !== undefined,
    clusterIdGiven: options.clusterId !== undefined,
    caFromCluster: options.caFrom === 'token-secret',
  };
  // Every read, and every write a remote without any of the objects would need, in one round of
  // SelfSubjectAccessReviews: all that is missing is reported at once, before anything is read
  // or created.
  const reads = permissionsToRead(request);
  const worstCase = permissionsToWrite(request);
  const refused = await missingPermissions(client, [...reads, ...worstCase]);
  const refusedReads = refused.filter((need) => reads.includes(need));
  if (refusedReads.length > 0) throw permissionsError(remote.context, refused, options);

  say.progress(`Reading the remote cluster (context "${remote.context}", ${remote.server})`);
  const usesServiceAccount = options.token.from !== 'none';
  const [clusterId, facts] = await Promise.all([
    options.clusterId ?? kubeSystemUid(client),
    usesServiceAccount
      ? readRemoteFacts(client, {
          namespace: options.namespace,
          serviceAccount: options.serviceAccount,
          createServiceAccount: options.createServiceAccount,
          secretName: options.token.from === 'named-secret' ? options.token.name : undefined,
          listTokenSecrets: reads.some((need) => need.verb === 'list' && need.resource === 'secrets'),
          renew: request.renew === true,
        })
      : undefined,
  ]);
  const plan = planRemote({ ...request, now: io.now() }, facts ?? NO_FACTS);
  for (const warning of plan.warnings) say.warning(warning);
  // What this plan writes, of what was asked above (and anything new, such as a named Secret).
  const writes = permissionsToWrite(request, plan);
  const missing = await missingPermissions(
    client,
    writes.filter((need) => !worstCase.some((asked) => sameNeed(asked, need))),
  );
  missing.unshift(...refused.filter((need) => writes.some((write) => sameNeed(write, need))));
  if (missing.length > 0) {
    const error = permissionsError(remote.context, missing, options);
    // A dry run changes nothing: it shows the plan, and says what a real run would be refused.
    if (!options.dryRun) throw error;
    say.warning(`a real run would fail: ${error.message}`);
  }
  if (!usesServiceAccount) {
    say.note(
      `the remote secret authenticates as the auth provider's user: grant it ClusterRole ${readerClusterRoleName(options.namespace)} (Istio's reader rules) on the remote`,
    );
  }

  if (options.dryRun)
    return dryRun({ options, io, say, k8s, client, remote, primary, plan, clusterId, server, tlsServerName });

  const created = await createObjects(client, plan.create, (object) => {
    say.progress(
      `Created ${object.kind} ${object.namespace === undefined ? '' : `${object.namespace}/`}${object.name}`,
    );
  });

  let token: string | undefined;
  let caData: string | undefined;
  let expires: Date | undefined;
  let tokenSecret: string | undefined;
  switch (plan.token.from) {
    case 'secret': {
      // A rotated Secret's name comes from the API server (generateName).
      tokenSecret = plan.token.created
        ? (created.find((object) => object.kind === 'Secret')?.name ?? plan.token.name)
        : plan.token.name;
      say.progress(`Waiting for the token in Secret ${options.namespace}/${tokenSecret}`);
      const filled = await waitForTokenSecret(client, options.namespace, tokenSecret);
      token = filled.token;
      caData = filled.caData;
      break;
    }
    case 'token-request': {
      say.progress(`Requesting a ${formatDuration(plan.token.seconds * 1000)} token (TokenRequest)`);
      const minted = await requestServiceAccountToken(
        client,
        options.namespace,
        options.serviceAccount,
        plan.token.seconds,
      );
      token = minted.token;
      expires = minted.expires;
      if (options.caFrom === 'token-secret') caData = await clusterRootCa(client, options.namespace);
      break;
    }
    case 'none':
      if (options.caFrom === 'token-secret') caData = await rootCaAnywhere(client, options.namespace);
      break;
  }
  if (options.caFrom === 'kubeconfig') caData = caFromKubeconfig(remote, say);

  const secret = buildSecret(options, clusterId, server, tlsServerName, caData, authOf(options, token));
  if (expires !== undefined) {
    // To the minute: the API server's expiry has whole seconds and some time has passed.
    const left = Math.round((expires.getTime() - io.now().getTime()) / 60_000) * 60_000;
    say.notice(
      `the token expires at ${expires.toISOString()} (in ${formatDuration(left)}); ${
        options.renew === undefined
          ? 'run create again before then and apply the new secret'
          : "the webhook's renewer (--renew-tokens) or kubectl remote-secret renew renews it before then"
      }`,
    );
    if (options.token.from === 'token-request' && Math.abs(left / 1000 - options.token.seconds) > 60) {
      say.warning(
        `the API server set the token's lifetime to ${formatDuration(left)}, not ${formatDuration(options.token.seconds * 1000)} (see its --service-account-max-token-expiration)`,
      );
    }
  }

  if (primary !== undefined) {
    await applyToPrimary(k8s, primary, secret, options, say, deadline, false);
    // As kubectl apply reports it; the manifest (with its token) only when -o asks for it.
    const applied = `secret/${secret.metadata.name ?? ''} serverside-applied`;
    if (options.output === undefined) io.stdout.write(`${applied}\n`);
    else say.notice(`${applied} to context "${primary.context}"`);
  }
  if (options.output !== undefined || primary === undefined)
    io.stdout.write(renderSecret(secret, options.output ?? 'yaml'));

  if (plan.retire.length > 0) {
    say.progress(`Deleting the old token Secrets: ${plan.retire.join(', ')}`);
    await deleteSecrets(client, options.namespace, plan.retire);
    say.notice(
      `retired ${plan.retire.length} old token Secret(s) of ${options.namespace}/${options.serviceAccount}: ${plan.retire.join(', ')}`,
    );
  } else if (options.token.from === 'new-secret') {
    say.notice(
      `a new token Secret ${options.namespace}/${tokenSecret ?? ''} was created; the old token keeps working until you run create again with --retire-old, once the primary has this secret`,
    );
  }
  return EXIT_OK;
}

interface DryRunContext {
  readonly options: CreateOptions;
  readonly io: CreateIo;
  readonly say: Reporter;
  readonly k8s: ClientNodeModule;
  readonly client: KubeClient;
  readonly remote: OperatorKubeConfig;
  readonly primary: OperatorKubeConfig | undefined;
  readonly plan: RemotePlan;
  readonly clusterId: string;
  readonly server: string;
  readonly tlsServerName: string | undefined;
}

/** Read-only: the plan, the secret with a placeholder token, and a server-side dry run on the primary. */
async function dryRun(context: DryRunContext): Promise<number> {
  const { options, io, say, client, remote, plan, clusterId } = context;
  let caData: string | undefined;
  if (options.caFrom === 'kubeconfig') {
    caData = caFromKubeconfig(remote, say);
  } else {
    // The CA a real run would embed, if the cluster has published it; nothing is waited for.
    const namespace = plan.create.some((planned) => planned.kind === 'Namespace')
      ? 'kube-system'
      : options.namespace;
    const configMap = await client.read(`get ConfigMap ${namespace}/kube-root-ca.crt`, (requestOptions) =>
      client.core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace }, requestOptions),
    );
    const pem = configMap?.data?.['ca.crt'];
    caData = pem === undefined ? undefined : Buffer.from(pem, 'utf8').toString('base64');
  }
  const auth: RemoteAuth = options.auth.kind === 'plugin' ? options.auth : { kind: 'placeholder' };
  const secret = buildSecret(options, clusterId, context.server, context.tlsServerName, caData, auth);
  if (context.primary !== undefined) {
    await applyToPrimary(context.k8s, context.primary, secret, options, say, client.deadline, true);
    say.notice(
      `server-side dry run on the primary (context "${context.primary.context}"): secret/${secret.metadata.name ?? ''} would be accepted`,
    );
  }
  io.stdout.write(
    renderDryRun(
      {
        context: remote.context,
        server: remote.server,
        create: plan.create,
        retire: plan.retire,
        namespace: options.namespace,
        secret,
      },
      options.output ?? 'yaml',
    ),
  );
  return EXIT_OK;
}

function sameNeed(a: NeededPermission, b: NeededPermission): boolean {
  return (
    a.verb === b.verb &&
    a.group === b.group &&
    a.resource === b.resource &&
    a.subresource === b.subresource &&
    a.namespace === b.namespace &&
    a.name === b.name
  );
}

/** All the permissions the remote context lacks, and the least-privilege way out when there is one. */
function permissionsError(
  context: string,
  missing: readonly NeededPermission[],
  options: CreateOptions,
): MissingPermissionsError {
  const clusterScoped = missing.some((need) => need.namespace === undefined && need.name !== 'kube-system');
  const hint =
    options.createServiceAccount && clusterScoped && options.renew === undefined
      ? `ask a cluster admin to grant them, or let them create the reader account once and run with --create-service-account=false (and --name): then create needs only the ServiceAccount and its token Secret in namespace ${options.namespace}`
      : 'ask a cluster admin to grant them, or use a context that has them';
  return new MissingPermissionsError(context, missing, hint);
}

const NO_FACTS: RemoteFacts = {
  namespaceExists: true,
  serviceAccountExists: true,
  clusterRole: undefined,
  clusterRoleBinding: undefined,
  tokenSecrets: [],
};

function resolveServer(
  options: CreateOptions,
  remote: OperatorKubeConfig,
  say: Reporter,
): { server: string; tlsServerName: string | undefined } {
  if (options.server !== undefined) return { server: options.server, tlsServerName: options.tlsServerName };
  const checked = checkServerUrl(remote.server);
  if (!checked.ok) {
    throw new CreateError(
      'unusable-server',
      `the server of context "${remote.context}" cannot go into a remote secret: ${checked.message}`,
      { hint: checked.hint },
    );
  }
  if (checked.warning !== undefined) say.warning(checked.warning);
  // The same server, so the same name to verify its certificate against.
  const fromKubeconfig = remote.kubeConfig.getCurrentCluster()?.tlsServerName;
  return { server: checked.server, tlsServerName: options.tlsServerName ?? emptyToUndefined(fromKubeconfig) };
}

/**
 * --ca-from kubeconfig: the CA the operator's own kubeconfig trusts for this server, for API
 * servers behind an auth proxy whose certificate the cluster CA did not sign (istio/istio#51376).
 */
function caFromKubeconfig(remote: OperatorKubeConfig, say: Reporter): string | undefined {
  const cluster = remote.kubeConfig.getCurrentCluster();
  if (cluster?.caData !== undefined && cluster.caData !== '') return cluster.caData;
  if (cluster?.caFile !== undefined && cluster.caFile !== '') {
    try {
      return readFileSync(cluster.caFile).toString('base64');
    } catch (error) {
      throw new CreateError(
        'unreadable-ca-file',
        `cannot read the CA file ${cluster.caFile} of context "${remote.context}": ${error instanceof Error ? error.message : String(error)}`,
        { hint: 'fix the path in the kubeconfig, or use --ca-from token-secret', cause: error },
      );
    }
  }
  if (cluster?.skipTLSVerify === true) {
    throw new CreateError(
      'no-ca',
      `context "${remote.context}" skips TLS verification and names no CA, so there is no CA to give istiod`,
      { hint: 'use --ca-from token-secret, or add certificate-authority-data to the kubeconfig' },
    );
  }
  say.warning(
    `context "${remote.context}" names no CA; the remote secret will have none, so istiod trusts only public CAs for ${cluster?.server ?? 'the server'}`,
  );
  return undefined;
}

async function rootCaAnywhere(client: KubeClient, namespace: string): Promise<string> {
  const exists = await client.read(`get Namespace ${namespace}`, (options) =>
    client.core.readNamespace({ name: namespace }, options),
  );
  return clusterRootCa(client, exists === undefined ? 'kube-system' : namespace);
}

function authOf(options: CreateOptions, token: string | undefined): RemoteAuth {
  if (options.auth.kind === 'plugin') return options.auth;
  return { kind: 'bearer-token', token: token ?? '' };
}

/**
 * What the review of our own secret allows: an auth provider the operator chose (the warning
 * already said that istiod and the webhook refuse it unless allowed there too).
 */
function allowFor(auth: RemoteAuth): AllowList {
  return new Set(auth.kind === 'plugin' && auth.name !== 'oidc' ? [auth.name] : []);
}

function buildSecret(
  options: CreateOptions,
  clusterId: string,
  server: string,
  tlsServerName: string | undefined,
  caData: string | undefined,
  auth: RemoteAuth,
): SecretManifest {
  const kubeconfig = renderRemoteKubeconfig(
    { clusterId, server, tlsServerName, caData, auth },
    allowFor(auth),
  );
  if (!kubeconfig.ok) {
    const reasons = kubeconfig.violations.map((found) => `${found.path}: ${found.message}`).join('; ');
    throw new CreateError(
      'generated-kubeconfig-refused',
      `the generated kubeconfig failed review: ${reasons}`,
      { hint: 'this is a bug; please report it' },
    );
  }
  return buildRemoteSecret({
    type: options.type,
    clusterId,
    namespace: options.namespace,
    kubeconfig: kubeconfig.text,
    // Read by the renewer only; istiod reads the kubeconfig as before.
    annotations:
      options.renew === undefined || options.token.from !== 'token-request'
        ? undefined
        : renewalAnnotations({
            serviceAccount: options.serviceAccount,
            namespace: options.namespace,
            durationSeconds: options.token.seconds,
            renewAfter: options.renew.renewAfter,
          }),
  });
}

/**
 * What `--apply` checks before it writes: the secret create built, as it is sent (and as the
 * webhook sees it), decided against the multicluster secrets listed from its namespace in the
 * primary, with the webhook's decision.
 */
export function decideForPrimary(
  secret: SecretManifest,
  stored: readonly SecretManifest[],
  allow: AllowList,
): ClusterDecision[] {
  const claimants = stored.flatMap((item) => readRemoteSecretObject(item, 'primary').secrets);
  return readRemoteSecretObject(asSent(secret), 'create').secrets.flatMap((candidate) =>
    decideAgainstStored(candidate, claimants, { allow }),
  );
}

/**
 * Decide the secret against those stored in the primary's namespace with the webhook's own
 * decision (a cluster ID another secret holds there, above all) and warn about what it finds,
 * then server-side apply it, where the webhook, if installed, has the last word. A dry run's
 * placeholder token is refused by the webhook by design, so its server-side dry run carries the
 * Secret's metadata only: it tries the write path (namespace, RBAC, other admission), and the
 * content is the decision's to judge, the placeholder aside.
 */
async function applyToPrimary(
  k8s: ClientNodeModule,
  primary: OperatorKubeConfig,
  secret: SecretManifest,
  options: CreateOptions,
  say: Reporter,
  deadline: Deadline | undefined,
  dryRun: boolean,
): Promise<void> {
  const client = new KubeClient(k8s, primary.kubeConfig, {
    requestTimeoutMs: options.requestTimeoutMs,
    deadline,
  });
  const name = secret.metadata.name ?? '';
  say.progress(`Applying Secret ${options.namespace}/${name} to the primary (context "${primary.context}")`);
  const stored = await listRemoteSecrets(client, options.namespace);
  const allow = options.auth.kind === 'plugin' ? allowFor(options.auth) : new Set<string>();
  for (const decision of decideForPrimary(secret, stored, allow)) {
    for (const found of decision.violations) {
      if (dryRun && found.code === 'placeholder-token') continue;
      say.warning(`${found.code} at ${found.path}: ${found.message}`);
      if (found.hint !== undefined) say.notice(`hint: ${found.hint}`);
    }
  }
  const sent = dryRun
    ? { apiVersion: secret.apiVersion, kind: secret.kind, metadata: secret.metadata }
    : secret;
  try {
    await applySecret(client, sent, dryRun);
  } catch (error) {
    if (error instanceof RemoteSecretError && error.code === 'not-found') {
      throw new KubeError('not-found', error.message, {
        hint: `create namespace ${options.namespace} in the primary first (it is istiod's namespace there), or pass -n with istiod's namespace`,
        cause: error,
      });
    }
    throw error;
  }
}

/** stderr: errors and warnings always; progress only on a terminal, so pipes stay quiet. */
class Reporter {
  constructor(private readonly stderr: NodeJS.WritableStream & { isTTY?: boolean }) {}

  error(message: string, hint?: string): void {
    this.stderr.write(`error: ${message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`);
  }

  warning(message: string): void {
    this.stderr.write(`warning: ${message}\n`);
  }

  /** Facts the user needs even in a script (an expiry, a retired token). */
  notice(message: string): void {
    this.stderr.write(`${message}\n`);
  }

  note(message: string): void {
    this.stderr.write(`note: ${message}\n`);
  }

  progress(message: string): void {
    if (this.stderr.isTTY === true) this.stderr.write(`${message}...\n`);
  }
}
