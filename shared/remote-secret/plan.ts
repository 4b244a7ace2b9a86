import { RemoteSecretError, type ErrorDetails } from '../errors.ts';
import {
  buildNamespace,
  buildReaderClusterRole,
  buildReaderClusterRoleBinding,
  buildServiceAccount,
  buildTokenRenewerRole,
  buildTokenRenewerRoleBinding,
  buildTokenSecret,
  SERVICE_ACCOUNT_NAME_ANNOTATION,
  SERVICE_ACCOUNT_TOKEN_TYPE,
  tokenSecretName,
  type ClusterRoleBindingManifest,
  type ClusterRoleManifest,
  type NamespaceManifest,
  type RoleBindingManifest,
  type RoleManifest,
  type SecretManifest,
  type ServiceAccountManifest,
} from './build.ts';
import { readerClusterRoleBindingName, readerClusterRoleName } from './istio-reader-rbac.ts';
import { tokenRenewerRoleName } from './renewal.ts';

/** What `create` wants on the remote, decided from the flags. */
export interface RemotePlanOptions {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly createServiceAccount: boolean;
  /** How the token is obtained; `none` for auth-provider (plugin) secrets, which carry no token. */
  readonly token:
    | { readonly from: 'existing-or-new-secret' }
    | { readonly from: 'named-secret'; readonly name: string }
    | { readonly from: 'new-secret' }
    | { readonly from: 'token-request'; readonly seconds: number }
    | { readonly from: 'none' };
  readonly retireOld: boolean;
  /**
   * --renew: also the Role and RoleBinding that let the ServiceAccount request tokens for itself
   * (`tokenRenewerRoleName`), so the renewer can replace its token before it expires.
   */
  readonly renew?: boolean;
  /** Now, for the issued-at annotation of a created token Secret. */
  readonly now: Date;
}

/** A `kubernetes.io/service-account-token` Secret found in the namespace. */
export interface TokenSecretFact {
  readonly name: string;
  readonly serviceAccount: string;
  readonly type: string;
  /** Our issued-at annotation when present (milliseconds), else creationTimestamp. */
  readonly created: Date | undefined;
  readonly deleting: boolean;
}

/** What the remote holds now, read (never written) before anything is decided. */
export interface RemoteFacts {
  readonly namespaceExists: boolean;
  readonly serviceAccountExists: boolean;
  /** undefined: no such ClusterRole; else whether it grants at least Istio's reader rules. */
  readonly clusterRole: { readonly coversReaderRules: boolean } | undefined;
  /** undefined: no such binding; else whether it binds our ServiceAccount to the reader role. */
  readonly clusterRoleBinding: { readonly bindsServiceAccount: boolean } | undefined;
  /** Token Secrets of the namespace (any ServiceAccount), plus the one named by --secret-name. */
  readonly tokenSecrets: readonly TokenSecretFact[];
  /** Read with --renew only. undefined: no such Role; else whether it grants the token rule. */
  readonly renewerRole?: { readonly grantsOwnToken: boolean } | undefined;
  /** Read with --renew only. undefined: no such RoleBinding; else whether it binds our account to it. */
  readonly renewerRoleBinding?: { readonly bindsServiceAccount: boolean } | undefined;
}

export type RemoteManifest =
  | NamespaceManifest
  | ServiceAccountManifest
  | ClusterRoleManifest
  | ClusterRoleBindingManifest
  | RoleManifest
  | RoleBindingManifest
  | SecretManifest;

/** An object to create on the remote, in order. */
export interface PlannedObject {
  readonly kind: RemoteManifest['kind'];
  readonly object: RemoteManifest;
}

export type TokenSource =
  | { readonly from: 'secret'; readonly name: string; readonly created: boolean }
  | { readonly from: 'token-request'; readonly seconds: number }
  | { readonly from: 'none' };

export interface RemotePlan {
  readonly create: readonly PlannedObject[];
  /** Where the token comes from; a created Secret is the last entry of `create`. */
  readonly token: TokenSource;
  /** Token Secrets of the ServiceAccount to delete once the new secret is out. */
  readonly retire: readonly string[];
  readonly warnings: readonly string[];
}

/** The plan cannot work on this cluster as it is: a message and what to do. */
export type PlanErrorCode = 'service-account-missing' | 'secret-missing' | 'secret-not-for-service-account';

export class PlanError extends RemoteSecretError {
  override readonly name = 'PlanError';
  declare readonly code: PlanErrorCode;

  constructor(code: PlanErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/**
 * Decide what to create on the remote: the ServiceAccount, Istio's reader ClusterRole and its
 * binding, with --renew the token renewer's Role and RoleBinding, each only when missing, and
 * where the token comes from. Pure, so `--dry-run` prints
 * exactly what a real run would do.
 */
export function planRemote(options: RemotePlanOptions, facts: RemoteFacts): RemotePlan {
  const { namespace, serviceAccount } = options;
  const create: PlannedObject[] = [];
  const warnings: string[] = [];
  const ref = `${namespace}/${serviceAccount}`;

  if (options.token.from !== 'none') {
    if (!facts.serviceAccountExists && !options.createServiceAccount) {
      throw new PlanError(
        'service-account-missing',
        `service account ${ref} does not exist, and --create-service-account=false`,
        {
          hint: 'install Istio (its base chart creates the reader account) on the remote first, or run with --create-service-account=true',
        },
      );
    }
    if (options.createServiceAccount) {
      if (!facts.namespaceExists) create.push({ kind: 'Namespace', object: buildNamespace(namespace) });
      if (!facts.serviceAccountExists) {
        create.push({ kind: 'ServiceAccount', object: buildServiceAccount(namespace, serviceAccount) });
      }
      const role = readerClusterRoleName(namespace);
      if (facts.clusterRole === undefined) {
        create.push({ kind: 'ClusterRole', object: buildReaderClusterRole(namespace) });
      } else if (!facts.clusterRole.coversReaderRules) {
        warnings.push(
          `ClusterRole ${role} exists but lacks some of Istio's reader rules; it was left as it is, so istiod may be refused some reads (run \`kubectl remote-secret verify\` to see which)`,
        );
      }
      const binding = readerClusterRoleBindingName(namespace, serviceAccount);
      if (facts.clusterRoleBinding === undefined) {
        create.push({
          kind: 'ClusterRoleBinding',
          object: buildReaderClusterRoleBinding(namespace, serviceAccount),
        });
      } else if (!facts.clusterRoleBinding.bindsServiceAccount) {
        warnings.push(
          `ClusterRoleBinding ${binding} exists but does not bind ${ref} to ClusterRole ${role}; it was left as it is`,
        );
      }
    }
    if (options.renew === true) {
      const renewer = tokenRenewerRoleName(serviceAccount);
      if (facts.renewerRole === undefined) {
        create.push({ kind: 'Role', object: buildTokenRenewerRole(namespace, serviceAccount) });
      } else if (!facts.renewerRole.grantsOwnToken) {
        warnings.push(
          `Role ${namespace}/${renewer} exists but does not grant create on serviceaccounts/token for ${serviceAccount}; it was left as it is, so renewing the token will be refused`,
        );
      }
      if (facts.renewerRoleBinding === undefined) {
        create.push({ kind: 'RoleBinding', object: buildTokenRenewerRoleBinding(namespace, serviceAccount) });
      } else if (!facts.renewerRoleBinding.bindsServiceAccount) {
        warnings.push(
          `RoleBinding ${namespace}/${renewer} exists but does not bind ${ref} to Role ${renewer}; it was left as it is, so renewing the token will be refused`,
        );
      }
    }
  }

  const ours = facts.tokenSecrets
    .filter(
      (secret) => secret.type === SERVICE_ACCOUNT_TOKEN_TYPE && secret.serviceAccount === serviceAccount,
    )
    .filter((secret) => !secret.deleting)
    .sort(newestFirst);
  let token: TokenSource;
  let newSecret: SecretManifest | undefined;
  switch (options.token.from) {
    case 'none':
      token = { from: 'none' };
      break;
    case 'token-request':
      token = { from: 'token-request', seconds: options.token.seconds };
      break;
    case 'named-secret': {
      const name = options.token.name;
      const found = facts.tokenSecrets.find((secret) => secret.name === name);
      if (found === undefined) {
        throw new PlanError('secret-missing', `secret ${namespace}/${name} (--secret-name) does not exist`, {
          hint: `list the service account's token secrets: kubectl get secrets -n ${namespace} --field-selector type=${SERVICE_ACCOUNT_TOKEN_TYPE}`,
        });
      }
      if (found.type !== SERVICE_ACCOUNT_TOKEN_TYPE || found.serviceAccount !== serviceAccount) {
        throw new PlanError(
          'secret-not-for-service-account',
          `secret ${namespace}/${name} does not reference ServiceAccount ${serviceAccount}: it needs type ${SERVICE_ACCOUNT_TOKEN_TYPE} and the annotation ${SERVICE_ACCOUNT_NAME_ANNOTATION}: ${serviceAccount}`,
          { hint: 'name a token secret of that service account, or pick the account with --service-account' },
        );
      }
      token = { from: 'secret', name, created: false };
      break;
    }
    case 'existing-or-new-secret': {
      const newest = ours[0];
      if (newest !== undefined) {
        token = { from: 'secret', name: newest.name, created: false };
      } else {
        newSecret = buildTokenSecret(namespace, serviceAccount, { rotate: false, issuedAt: options.now });
        token = { from: 'secret', name: tokenSecretName(serviceAccount), created: true };
      }
      break;
    }
    case 'new-secret':
      newSecret = buildTokenSecret(namespace, serviceAccount, { rotate: true, issuedAt: options.now });
      // The API server picks the name (generateName); the executor reports it.
      token = { from: 'secret', name: `${tokenSecretName(serviceAccount)}-<generated>`, created: true };
      break;
  }
  if (newSecret !== undefined) create.push({ kind: 'Secret', object: newSecret });

  const keep = token.from === 'secret' && !token.created ? token.name : undefined;
  const retire = options.retireOld ? ours.map((secret) => secret.name).filter((name) => name !== keep) : [];
  return { create, token, retire, warnings };
}

/** Newest first, so a rotated token wins over the one it replaces; then by name, for stability. */
function newestFirst(a: TokenSecretFact, b: TokenSecretFact): number {
  const age = (b.created?.getTime() ?? 0) - (a.created?.getTime() ?? 0);
  return age !== 0 ? age : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
