import { reviewKubeconfig } from '../kubeconfig/review.ts';
import { PLACEHOLDER_TOKEN, sanitizeKubeconfig, type AllowList } from '../kubeconfig/sanitize.ts';
import type { Violation } from '../violations.ts';
import { emitYaml, sortKeysDeep } from '../yaml/emit.ts';
import {
  ISTIO_READER_RULES,
  readerClusterRoleBindingName,
  readerClusterRoleName,
  type PolicyRule,
} from './istio-reader-rbac.ts';
import { CLUSTER_ANNOTATION, MULTICLUSTER_LABEL } from './model.ts';
import { tokenRenewerRoleName } from './renewal.ts';

/**
 * Kubernetes objects as plain wire data (what `kubectl get -o json` shows), not client-node's
 * model classes: they are printed as much as they are sent, and client-node serializes any
 * object with the right fields.
 */
export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  /** Set by the API server; read back to order the claimants of a cluster ID. */
  readonly creationTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface SecretManifest {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly metadata: ObjectMeta;
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>>;
  readonly stringData?: Readonly<Record<string, string>>;
}

export interface NamespaceManifest {
  readonly apiVersion: 'v1';
  readonly kind: 'Namespace';
  readonly metadata: ObjectMeta;
}

export interface ServiceAccountManifest {
  readonly apiVersion: 'v1';
  readonly kind: 'ServiceAccount';
  readonly metadata: ObjectMeta;
}

export interface ClusterRoleManifest {
  readonly apiVersion: 'rbac.authorization.k8s.io/v1';
  readonly kind: 'ClusterRole';
  readonly metadata: ObjectMeta;
  readonly rules: readonly PolicyRule[];
}

export interface ClusterRoleBindingManifest {
  readonly apiVersion: 'rbac.authorization.k8s.io/v1';
  readonly kind: 'ClusterRoleBinding';
  readonly metadata: ObjectMeta;
  readonly roleRef: { readonly apiGroup: string; readonly kind: 'ClusterRole'; readonly name: string };
  readonly subjects: readonly {
    readonly kind: 'ServiceAccount';
    readonly name: string;
    readonly namespace: string;
  }[];
}

/** A rule of a namespaced Role, which can name the objects it grants (`resourceNames`). */
export interface NamedPolicyRule extends PolicyRule {
  readonly resourceNames: readonly string[];
}

export interface RoleManifest {
  readonly apiVersion: 'rbac.authorization.k8s.io/v1';
  readonly kind: 'Role';
  readonly metadata: ObjectMeta;
  readonly rules: readonly NamedPolicyRule[];
}

export interface RoleBindingManifest {
  readonly apiVersion: 'rbac.authorization.k8s.io/v1';
  readonly kind: 'RoleBinding';
  readonly metadata: ObjectMeta;
  readonly roleRef: { readonly apiGroup: string; readonly kind: 'Role'; readonly name: string };
  readonly subjects: readonly {
    readonly kind: 'ServiceAccount';
    readonly name: string;
    readonly namespace: string;
  }[];
}

/** `remote`: a remote cluster for a primary; `config`: the config cluster of an external istiod. */
export type SecretType = 'remote' | 'config';

/**
 * How istiod authenticates to the remote: a ServiceAccount token, or an auth provider (oidc).
 * `placeholder` is a dry run's: a token that everything refuses (`placeholder-token`).
 */
export type RemoteAuth =
  | { readonly kind: 'bearer-token'; readonly token: string }
  | { readonly kind: 'placeholder' }
  | { readonly kind: 'plugin'; readonly name: string; readonly config: Readonly<Record<string, string>> };

export interface RemoteKubeconfigInput {
  readonly clusterId: string;
  readonly server: string;
  readonly tlsServerName?: string | undefined;
  /** Base64 of the PEM CA bundle; absent when the server has a publicly trusted certificate. */
  readonly caData?: string | undefined;
  readonly auth: RemoteAuth;
}

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kubectl-remote-secret';
export const SERVICE_ACCOUNT_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';
/**
 * When we created a token Secret, to the millisecond: creationTimestamp has whole seconds, and
 * a rotation within the same second must still count as the newer token.
 */
export const ISSUED_AT_ANNOTATION = 'kubectl-remote-secret/issued-at';

const REMOTE_SECRET_PREFIX = 'istio-remote-secret-';
const CONFIG_SECRET_NAME = 'istio-kubeconfig';
const CONFIG_SECRET_KEY = 'config';

/** istioctl's names: `istio-remote-secret-<id>` keyed by the ID, or `istio-kubeconfig` keyed `config`. */
export function remoteSecretName(type: SecretType, clusterId: string): string {
  return type === 'config' ? CONFIG_SECRET_NAME : `${REMOTE_SECRET_PREFIX}${clusterId}`;
}

export function remoteSecretKey(type: SecretType, clusterId: string): string {
  return type === 'config' ? CONFIG_SECRET_KEY : clusterId;
}

/** istioctl's token Secret name for a ServiceAccount (istio/istio#38246). */
export function tokenSecretName(serviceAccount: string): string {
  return `${serviceAccount}-istio-remote-secret-token`;
}

/**
 * The kubeconfig istiod gets, as istioctl builds it: cluster, context and user all named after
 * the cluster ID, the CA, the server, an optional TLS server name, one way to authenticate, and
 * the current context. Plain data in client-go's v1 field names.
 */
export function buildRemoteKubeconfig(input: RemoteKubeconfigInput): Record<string, unknown> {
  const name = input.clusterId;
  const cluster: Record<string, string> = { server: input.server };
  if (input.caData !== undefined && input.caData !== '') cluster['certificate-authority-data'] = input.caData;
  if (input.tlsServerName !== undefined && input.tlsServerName !== '') {
    cluster['tls-server-name'] = input.tlsServerName;
  }
  const { auth } = input;
  const user =
    auth.kind === 'plugin'
      ? { 'auth-provider': { name: auth.name, config: { ...auth.config } } }
      : { token: auth.kind === 'placeholder' ? PLACEHOLDER_TOKEN : auth.token };
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
    users: [{ name, user }],
  };
}

export type KubeconfigRender =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly violations: readonly Violation[] };

/**
 * Build the kubeconfig, run it through the shared sanitizer, write the config the sanitizer
 * rebuilt (never our own object), and read the text back the way `check` and the webhook do. So
 * what is printed is exactly what passed review: it cannot hold exec, token files or key files.
 * `allow` lets a non-oidc auth provider through when the operator asked for one. A placeholder
 * is rendered with a stand-in that passes, swapped for the placeholder in the text, and read
 * back: it must then fail review for the placeholder and nothing else.
 */
export function renderRemoteKubeconfig(
  input: RemoteKubeconfigInput,
  allow: AllowList = new Set(),
): KubeconfigRender {
  const placeholder = input.auth.kind === 'placeholder';
  const auth: RemoteAuth = placeholder ? { kind: 'bearer-token', token: STAND_IN } : input.auth;
  const sanitized = sanitizeKubeconfig(buildRemoteKubeconfig({ ...input, auth }), allow);
  if (!sanitized.allowed) return { ok: false, violations: sanitized.violations };
  let text = emitYaml(sanitized.config);
  if (placeholder) text = text.replace(`token: ${STAND_IN}\n`, `token: ${PLACEHOLDER_TOKEN}\n`);
  const reviewed = reviewKubeconfig(text, { allow });
  const expected = placeholder ? ['placeholder-token'] : [];
  if (reviewed.violations.map((found) => found.code).join() !== expected.join()) {
    return {
      ok: false,
      violations: reviewed.violations.filter((found) => !expected.includes(found.code)),
    };
  }
  return { ok: true, text };
}

// A plain YAML scalar nothing else in a kubeconfig spells, so the swap above is exact.
const STAND_IN = 'DRY-RUN-STAND-IN-TOKEN';

export interface RemoteSecretInput {
  readonly type: SecretType;
  readonly clusterId: string;
  readonly namespace: string;
  readonly kubeconfig: string;
  /** More annotations, such as a renewable secret's `renewalAnnotations`; the cluster's wins. */
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/**
 * The Secret for the primary, as istioctl writes it: the label istiod selects on, the cluster
 * annotation (informational), and the kubeconfig under `stringData` so a reviewer can read it;
 * the API server stores it as `data`. No `type`, as istioctl (the API server defaults Opaque).
 */
export function buildRemoteSecret(input: RemoteSecretInput): SecretManifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: remoteSecretName(input.type, input.clusterId),
      namespace: input.namespace,
      annotations: { ...input.annotations, [CLUSTER_ANNOTATION]: input.clusterId },
      labels: { [MULTICLUSTER_LABEL]: 'true' },
    },
    stringData: { [remoteSecretKey(input.type, input.clusterId)]: input.kubeconfig },
  };
}

const OUTPUT_HEADER = '# This file is autogenerated, do not edit.\n';
const OUTPUT_TRAILER = '---\n';

/** istioctl's output: the header comment, the object (keys sorted), and a trailing `---`. */
export function renderManifestYaml(object: object): string {
  return `${OUTPUT_HEADER}${emitYaml(object)}${OUTPUT_TRAILER}`;
}

/** `-o json`: indented as `kubectl get -o json`, keys in the same order as the YAML. */
export function renderManifestJson(object: object): string {
  return `${JSON.stringify(sortKeysDeep(object), null, 4)}\n`;
}

// Istio's chart labels its reader objects so; ours add who created them, for audits.
const READER_LABELS = {
  app: 'istio-reader',
  'app.kubernetes.io/name': 'istio-reader',
  [MANAGED_BY_LABEL]: MANAGED_BY,
};

export function buildNamespace(name: string): NamespaceManifest {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function buildServiceAccount(namespace: string, name: string): ServiceAccountManifest {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace, labels: { ...READER_LABELS } },
  };
}

export function buildReaderClusterRole(namespace: string): ClusterRoleManifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: readerClusterRoleName(namespace), labels: { ...READER_LABELS } },
    rules: ISTIO_READER_RULES,
  };
}

export function buildReaderClusterRoleBinding(
  namespace: string,
  serviceAccount: string,
): ClusterRoleBindingManifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: readerClusterRoleBindingName(namespace, serviceAccount), labels: { ...READER_LABELS } },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: readerClusterRoleName(namespace),
    },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
  };
}

/**
 * The rule that lets the reader ServiceAccount renew its own token, and nothing else: a
 * TokenRequest (`create` on `serviceaccounts/token`) for that one ServiceAccount. Without
 * `resourceNames` it could mint tokens for every account of the namespace, istiod's included.
 */
export function tokenRenewerRules(serviceAccount: string): NamedPolicyRule[] {
  return [
    {
      apiGroups: [''],
      resources: ['serviceaccounts/token'],
      verbs: ['create'],
      resourceNames: [serviceAccount],
    },
  ];
}

export function buildTokenRenewerRole(namespace: string, serviceAccount: string): RoleManifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: tokenRenewerRoleName(serviceAccount), namespace, labels: { ...READER_LABELS } },
    rules: tokenRenewerRules(serviceAccount),
  };
}

export function buildTokenRenewerRoleBinding(namespace: string, serviceAccount: string): RoleBindingManifest {
  const name = tokenRenewerRoleName(serviceAccount);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace, labels: { ...READER_LABELS } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
  };
}

/**
 * A Secret the token controller fills with a token for `serviceAccount` (and `ca.crt`). With
 * `rotate`, a fresh name is generated so the previous token stays valid until it is retired.
 */
export function buildTokenSecret(
  namespace: string,
  serviceAccount: string,
  options: { readonly rotate: boolean; readonly issuedAt: Date },
): SecretManifest {
  const base = tokenSecretName(serviceAccount);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...(options.rotate ? { generateName: `${base}-` } : { name: base }),
      namespace,
      annotations: {
        [SERVICE_ACCOUNT_NAME_ANNOTATION]: serviceAccount,
        [ISSUED_AT_ANNOTATION]: options.issuedAt.toISOString(),
      },
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
    },
    type: SERVICE_ACCOUNT_TOKEN_TYPE,
  };
}
