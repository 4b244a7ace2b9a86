import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1Secret,
} from '@kubernetes/client-node';
import {
  ISSUED_AT_ANNOTATION,
  SERVICE_ACCOUNT_NAME_ANNOTATION,
  SERVICE_ACCOUNT_TOKEN_TYPE,
  tokenRenewerRules,
} from '../remote-secret/build.ts';
import {
  coversRules,
  ISTIO_READER_RULES,
  readerClusterRoleBindingName,
  readerClusterRoleName,
  type PolicyRule,
} from '../remote-secret/istio-reader-rbac.ts';
import { mapLimited } from '../concurrency.ts';
import type { NeededPermission } from '../remote-secret/permissions.ts';
import type { PlannedObject, RemoteFacts, TokenSecretFact } from '../remote-secret/plan.ts';
import { tokenRenewerRoleName } from '../remote-secret/renewal.ts';
import { isRecord, stringOrUndefined } from '../json.ts';
import { asModel, type KubeClient } from './client.ts';
import { KubeError } from './errors.ts';
import { formatDuration } from '../time/duration.ts';
import { waitForObject } from './wait.ts';

/** The remote's cluster ID when --name is not given: the kube-system Namespace UID, as Istio. */
export async function kubeSystemUid(client: KubeClient): Promise<string> {
  const namespace = await client.call(
    'get Namespace kube-system (its UID is the default cluster ID)',
    (options) => client.core.readNamespace({ name: 'kube-system' }, options),
  );
  const uid = namespace.metadata?.uid;
  if (uid === undefined || uid === '') {
    throw new KubeError('server-error', `Namespace kube-system on ${client.server} has no UID`, {
      hint: 'pass --name with the remote cluster ID',
    });
  }
  return uid;
}

export interface FactsQuery {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Whether create may make the namespace, the ServiceAccount and the cluster-scoped RBAC. */
  readonly createServiceAccount: boolean;
  /** --secret-name: that Secret is read, and no other. */
  readonly secretName?: string | undefined;
  /** List the namespace's token Secrets (to pick the newest, or to retire the old ones). */
  readonly listTokenSecrets: boolean;
  /** --renew: read the token renewer's Role and RoleBinding too. */
  readonly renew?: boolean;
}

/**
 * Read what the plan needs, in parallel; nothing is written. Only what the flags touch is read
 * (`permissionsToRead` says the same): with --create-service-account=false nothing
 * cluster-scoped, with --secret-name one Secret rather than a list.
 */
export async function readRemoteFacts(client: KubeClient, query: FactsQuery): Promise<RemoteFacts> {
  const { namespace, serviceAccount } = query;
  const roleName = readerClusterRoleName(namespace);
  const bindingName = readerClusterRoleBindingName(namespace, serviceAccount);
  const skipped = Promise.resolve(undefined);
  const cluster = query.createServiceAccount;
  const named = query.secretName;
  const renewer = tokenRenewerRoleName(serviceAccount);
  const renew = query.renew === true;
  const [ns, account, role, binding, secrets, namedSecret, renewerRole, renewerBinding] = await Promise.all([
    cluster
      ? client.read(`get Namespace ${namespace}`, (options) =>
          client.core.readNamespace({ name: namespace }, options),
        )
      : skipped,
    client.read(`get ServiceAccount ${namespace}/${serviceAccount}`, (options) =>
      client.core.readNamespacedServiceAccount({ name: serviceAccount, namespace }, options),
    ),
    cluster
      ? client.read(`get ClusterRole ${roleName}`, (options) =>
          client.rbac.readClusterRole({ name: roleName }, options),
        )
      : skipped,
    cluster
      ? client.read(`get ClusterRoleBinding ${bindingName}`, (options) =>
          client.rbac.readClusterRoleBinding({ name: bindingName }, options),
        )
      : skipped,
    query.listTokenSecrets
      ? client.read(
          `list Secrets of type ${SERVICE_ACCOUNT_TOKEN_TYPE} in namespace ${namespace}`,
          (options) =>
            client.core.listNamespacedSecret(
              { namespace, fieldSelector: `type=${SERVICE_ACCOUNT_TOKEN_TYPE}` },
              options,
            ),
        )
      : skipped,
    // --secret-name may name a Secret of another type; it is read to say so.
    named === undefined
      ? skipped
      : client.read(`get Secret ${namespace}/${named}`, (options) =>
          client.core.readNamespacedSecret({ name: named, namespace }, options),
        ),
    renew
      ? client.read(`get Role ${namespace}/${renewer}`, (options) =>
          client.rbac.readNamespacedRole({ name: renewer, namespace }, options),
        )
      : skipped,
    renew
      ? client.read(`get RoleBinding ${namespace}/${renewer}`, (options) =>
          client.rbac.readNamespacedRoleBinding({ name: renewer, namespace }, options),
        )
      : skipped,
  ]);
  const tokenSecrets = (secrets?.items ?? []).map(tokenSecretFact);
  if (namedSecret !== undefined && !tokenSecrets.some((secret) => secret.name === named)) {
    tokenSecrets.push(tokenSecretFact(namedSecret));
  }
  return {
    // Not read without --create-service-account: it is only consulted to create it.
    namespaceExists: !cluster || ns !== undefined,
    serviceAccountExists: account !== undefined,
    clusterRole:
      role === undefined ? undefined : { coversReaderRules: coversRules(rulesOf(role), ISTIO_READER_RULES) },
    clusterRoleBinding:
      binding === undefined
        ? undefined
        : { bindsServiceAccount: binds(binding, roleName, namespace, serviceAccount) },
    tokenSecrets,
    ...(renew
      ? {
          renewerRole:
            renewerRole === undefined
              ? undefined
              : { grantsOwnToken: grantsOwnToken(renewerRole, serviceAccount) },
          renewerRoleBinding:
            renewerBinding === undefined
              ? undefined
              : { bindsServiceAccount: bindsToRole(renewerBinding, renewer, namespace, serviceAccount) },
        }
      : {}),
  };
}

/** Whether some rule of the Role allows exactly our TokenRequest (a wider rule counts too). */
function grantsOwnToken(role: V1Role, serviceAccount: string): boolean {
  return tokenRenewerRules(serviceAccount).every((wanted) =>
    (role.rules ?? []).some((rule) => {
      const has = (list: readonly string[] | undefined, items: readonly string[]) =>
        list !== undefined && (list.includes('*') || items.every((item) => list.includes(item)));
      const names = rule.resourceNames ?? [];
      return (
        has(rule.apiGroups, wanted.apiGroups) &&
        has(rule.resources, wanted.resources) &&
        has(rule.verbs, wanted.verbs) &&
        (names.length === 0 || wanted.resourceNames.every((name) => names.includes(name)))
      );
    }),
  );
}

function bindsToRole(
  binding: V1RoleBinding,
  role: string,
  namespace: string,
  serviceAccount: string,
): boolean {
  return (
    binding.roleRef.kind === 'Role' &&
    binding.roleRef.name === role &&
    (binding.subjects ?? []).some(
      (subject) =>
        subject.kind === 'ServiceAccount' &&
        subject.name === serviceAccount &&
        (subject.namespace ?? namespace) === namespace,
    )
  );
}

function tokenSecretFact(secret: V1Secret): TokenSecretFact {
  const annotations = secret.metadata?.annotations ?? {};
  const issued = Date.parse(annotations[ISSUED_AT_ANNOTATION] ?? '');
  const created = Number.isNaN(issued) ? secret.metadata?.creationTimestamp : new Date(issued);
  return {
    name: secret.metadata?.name ?? '',
    serviceAccount: annotations[SERVICE_ACCOUNT_NAME_ANNOTATION] ?? '',
    type: secret.type ?? '',
    created: created === undefined ? undefined : new Date(created),
    deleting: secret.metadata?.deletionTimestamp !== undefined,
  };
}

function rulesOf(role: V1ClusterRole): PolicyRule[] {
  return (role.rules ?? []).map((rule) => ({
    apiGroups: rule.apiGroups ?? [],
    resources: rule.resources ?? [],
    verbs: rule.verbs,
  }));
}

function binds(
  binding: V1ClusterRoleBinding,
  role: string,
  namespace: string,
  serviceAccount: string,
): boolean {
  return (
    binding.roleRef.kind === 'ClusterRole' &&
    binding.roleRef.name === role &&
    (binding.subjects ?? []).some(
      (subject) =>
        subject.kind === 'ServiceAccount' &&
        subject.name === serviceAccount &&
        subject.namespace === namespace,
    )
  );
}

/**
 * The permissions the current user lacks, of `needs`, asked with one SelfSubjectAccessReview
 * each (in parallel, a few at a time), in the order given.
 */
export async function missingPermissions(
  client: KubeClient,
  needs: readonly NeededPermission[],
): Promise<NeededPermission[]> {
  const allowed = await mapLimited(needs, 8, (need) =>
    client
      .call(`create a SelfSubjectAccessReview (${need.verb} ${need.resource})`, (options) =>
        client.authorization.createSelfSubjectAccessReview(
          {
            body: asModel(client.k8s.V1SelfSubjectAccessReview, {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  verb: need.verb,
                  group: need.group,
                  resource: need.resource,
                  ...(need.subresource === undefined ? {} : { subresource: need.subresource }),
                  ...(need.namespace === undefined ? {} : { namespace: need.namespace }),
                  ...(need.name === undefined ? {} : { name: need.name }),
                },
              },
            }),
          },
          options,
        ),
      )
      .then((review) => review.status?.allowed === true),
  );
  return needs.filter((_, index) => allowed[index] !== true);
}

export interface CreatedObject {
  readonly kind: PlannedObject['kind'];
  readonly name: string;
  readonly namespace?: string | undefined;
}

/**
 * Create the planned objects in order (the namespace before the account, the account before its
 * token Secret, which the token controller would otherwise delete). An object that appeared
 * since the facts were read is fine: the end state is the same.
 */
export async function createObjects(
  client: KubeClient,
  objects: readonly PlannedObject[],
  onCreate: (created: CreatedObject) => void = () => undefined,
): Promise<CreatedObject[]> {
  const created: CreatedObject[] = [];
  for (const planned of objects) {
    const result = await createObject(client, planned);
    if (result !== undefined) {
      created.push(result);
      onCreate(result);
    }
  }
  return created;
}

async function createObject(client: KubeClient, planned: PlannedObject): Promise<CreatedObject | undefined> {
  const object = planned.object;
  const name = object.metadata.name ?? '';
  const namespace = object.metadata.namespace ?? '';
  try {
    switch (object.kind) {
      case 'Namespace':
        await client.call(`create Namespace ${name}`, (options) =>
          client.core.createNamespace({ body: asModel(client.k8s.V1Namespace, object) }, options),
        );
        return { kind: object.kind, name };
      case 'ServiceAccount':
        await client.call(`create ServiceAccount ${namespace}/${name}`, (options) =>
          client.core.createNamespacedServiceAccount(
            { namespace, body: asModel(client.k8s.V1ServiceAccount, object) },
            options,
          ),
        );
        return { kind: object.kind, name, namespace };
      case 'ClusterRole':
        await client.call(`create ClusterRole ${name}`, (options) =>
          client.rbac.createClusterRole({ body: asModel(client.k8s.V1ClusterRole, object) }, options),
        );
        return { kind: object.kind, name };
      case 'ClusterRoleBinding':
        await client.call(`create ClusterRoleBinding ${name}`, (options) =>
          client.rbac.createClusterRoleBinding(
            { body: asModel(client.k8s.V1ClusterRoleBinding, object) },
            options,
          ),
        );
        return { kind: object.kind, name };
      case 'Role':
        await client.call(`create Role ${namespace}/${name}`, (options) =>
          client.rbac.createNamespacedRole({ namespace, body: asModel(client.k8s.V1Role, object) }, options),
        );
        return { kind: object.kind, name, namespace };
      case 'RoleBinding':
        await client.call(`create RoleBinding ${namespace}/${name}`, (options) =>
          client.rbac.createNamespacedRoleBinding(
            { namespace, body: asModel(client.k8s.V1RoleBinding, object) },
            options,
          ),
        );
        return { kind: object.kind, name, namespace };
      case 'Secret': {
        const secret = await client.call(
          `create Secret ${namespace}/${name || `${object.metadata.generateName ?? ''}<generated>`}`,
          (options) =>
            client.core.createNamespacedSecret(
              { namespace, body: asModel(client.k8s.V1Secret, object) },
              options,
            ),
        );
        return { kind: object.kind, name: secret.metadata?.name ?? name, namespace };
      }
    }
  } catch (error) {
    if (error instanceof KubeError && error.code === 'already-exists' && object.kind !== 'Secret')
      return undefined;
    throw error;
  }
}

export interface ServiceAccountToken {
  readonly token: string;
  /** Base64 of the cluster CA (PEM), as the token controller writes `ca.crt`. */
  readonly caData: string;
}

/**
 * Wait, with a watch, until the token controller has filled `token` and `ca.crt` of a
 * ServiceAccount token Secret (at once if it already has).
 */
export async function waitForTokenSecret(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<ServiceAccountToken> {
  const ref = `${namespace}/${name}`;
  const filled = (object: unknown): ServiceAccountToken | undefined => {
    const data = dataOf(object);
    const token = data['token'];
    const caData = data['ca.crt'];
    if (token === undefined || token === '' || caData === undefined || caData === '') return undefined;
    return { token: Buffer.from(token, 'base64').toString('utf8'), caData };
  };
  // A token Secret that is filled already (--secret-name, a re-run) needs a get, not a watch.
  const now = filled(
    await client.read(`get Secret ${ref}`, (options) =>
      client.core.readNamespacedSecret({ name, namespace }, options),
    ),
  );
  if (now !== undefined) return now;
  return waitForObject(
    client.k8s,
    client.kubeConfig,
    {
      collectionPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
      name,
      ...waitLimit(client),
      what: `the token controller did not fill token Secret ${ref} with a token`,
      hint:
        `kube-controller-manager's token controller fills it. Check that kube-controller-manager runs with ` +
        `--service-account-private-key-file and --root-ca-file, that the Secret's annotation ` +
        `${SERVICE_ACCOUNT_NAME_ANNOTATION} names an existing ServiceAccount, and what ` +
        `\`kubectl get secret -n ${namespace} ${name} -o yaml\` shows; on a slow cluster raise --timeout`,
    },
    (object, phase) => {
      if (phase === 'DELETED') {
        throw new KubeError('not-found', `token Secret ${ref} was deleted while waiting for its token`, {
          hint: `the token controller deletes token Secrets whose ServiceAccount is missing; check ${SERVICE_ACCOUNT_NAME_ANNOTATION}`,
        });
      }
      return filled(object);
    },
  );
}

/** A bounded token from the TokenRequest API, and when the API server says it expires. */
export async function requestServiceAccountToken(
  client: KubeClient,
  namespace: string,
  serviceAccount: string,
  seconds: number,
): Promise<{ token: string; expires: Date }> {
  const request = await client.call(
    `create a token for ServiceAccount ${namespace}/${serviceAccount} (TokenRequest)`,
    (options) =>
      client.core.createNamespacedServiceAccountToken(
        {
          name: serviceAccount,
          namespace,
          body: asModel(client.k8s.AuthenticationV1TokenRequest, {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            // No audiences: the API server's own, so the token authenticates to it.
            spec: { audiences: [], expirationSeconds: seconds },
          }),
        },
        options,
      ),
  );
  const token = request.status?.token ?? '';
  if (token === '') {
    throw new KubeError(
      'server-error',
      `the TokenRequest for ${namespace}/${serviceAccount} returned no token`,
    );
  }
  return { token, expires: new Date(request.status?.expirationTimestamp ?? Date.now() + seconds * 1000) };
}

/**
 * The cluster CA as the root-ca publisher puts it in every namespace (`kube-root-ca.crt`): the
 * same bundle the token controller writes as `ca.crt`, for tokens that come without a Secret.
 */
export async function clusterRootCa(client: KubeClient, namespace: string): Promise<string> {
  const published = (object: unknown): string | undefined => {
    const pem = dataOf(object)['ca.crt'];
    return pem === undefined || pem === '' ? undefined : Buffer.from(pem, 'utf8').toString('base64');
  };
  // Published long ago in every namespace but a new one: a get, and a watch only if need be.
  const now = published(
    await client.read(`get ConfigMap ${namespace}/kube-root-ca.crt`, (options) =>
      client.core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace }, options),
    ),
  );
  if (now !== undefined) return now;
  return waitForObject(
    client.k8s,
    client.kubeConfig,
    {
      collectionPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
      name: 'kube-root-ca.crt',
      ...waitLimit(client),
      what: `the cluster CA was not published in ConfigMap ${namespace}/kube-root-ca.crt`,
      hint: "kube-controller-manager's root-ca-cert-publisher writes it; or pass --ca-from kubeconfig",
    },
    published,
  );
}

/** Delete token Secrets that are being retired; one already gone is fine. */
export async function deleteSecrets(
  client: KubeClient,
  namespace: string,
  names: readonly string[],
): Promise<void> {
  for (const name of names) {
    await client.read(`delete Secret ${namespace}/${name}`, (options) =>
      client.core.deleteNamespacedSecret({ name, namespace }, options),
    );
  }
}

/** A wait ends with the command's deadline (--timeout), else after one request timeout. */
function waitLimit(client: KubeClient): { timeoutMs: number; limit?: string } {
  const { deadline } = client;
  if (deadline === undefined) return { timeoutMs: client.requestTimeoutMs };
  return { timeoutMs: deadline.remainingMs, limit: `${deadline.flag} ${formatDuration(deadline.ms)}` };
}

function dataOf(object: unknown): Record<string, string | undefined> {
  const data = isRecord(object) ? object['data'] : undefined;
  if (!isRecord(data)) return {};
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, stringOrUndefined(value)]));
}
