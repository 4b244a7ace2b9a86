import type { KubeConfig } from '@kubernetes/client-node';
import { currentEntries, type SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import type { ResourcePermission } from '../remote-secret/istio-reader-rbac.ts';
import { UnverifiableError, type ClusterProbe } from '../remote-secret/verify.ts';
import type { ClientNodeModule } from './client-node.ts';
import { asModel, KubeClient, type Deadline } from './client.ts';

/**
 * A client-node KubeConfig for the current context of a kubeconfig that the sanitizer has
 * rebuilt, made from reviewed fields only and through `loadFromOptions`, which reads no file
 * and runs nothing. Fields that would make client-node read a file (`certificate-authority`)
 * or act on istiod's behalf in ways we cannot reproduce are refused; an oidc auth provider is
 * used as its id-token, without client-node's refresh (which would call the issuer URL the
 * secret names).
 */
export function kubeConfigFromSanitized(k8s: ClientNodeModule, config: SanitizedKubeconfig): KubeConfig {
  const target = probeTarget(config);
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: 'remote',
        server: target.server,
        caData: target.caData,
        tlsServerName: target.tlsServerName,
        skipTLSVerify: target.skipTLSVerify,
        proxyUrl: target.proxyUrl,
      },
    ],
    users: [
      {
        name: 'remote',
        token: target.token,
        certData: target.certData,
        keyData: target.keyData,
        username: target.username,
        password: target.password,
        impersonateUser: target.impersonateUser,
      },
    ],
    contexts: [{ name: 'remote', cluster: 'remote', user: 'remote' }],
    currentContext: 'remote',
  });
  return kubeConfig;
}

/** What a probe needs of the current context: where, how to check TLS, and one credential. */
export interface ProbeTarget {
  readonly server: string;
  /** certificate-authority-data, base64 as in the kubeconfig. */
  readonly caData: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly skipTLSVerify: boolean;
  readonly proxyUrl: string | undefined;
  readonly token: string | undefined;
  readonly certData: string | undefined;
  readonly keyData: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly impersonateUser: string | undefined;
}

/**
 * The current context of a sanitized kubeconfig as one server and one credential, or an
 * UnverifiableError for what a probe cannot reproduce from outside istiod: a CA file on its disk,
 * impersonated groups or extras, an auth provider without an id-token (an oidc id-token is used
 * as it is, never refreshed: that would call the issuer URL the secret names).
 */
export function probeTarget(config: SanitizedKubeconfig): ProbeTarget {
  const { cluster, user } = currentEntries(config);
  if (typeof cluster['certificate-authority'] === 'string') {
    throw new UnverifiableError(
      "the kubeconfig reads its CA from a file on istiod's disk (certificate-authority), which verify cannot see",
    );
  }
  if (
    user['as-groups'] !== undefined ||
    user['as-user-extra'] !== undefined ||
    user['as-uid'] !== undefined
  ) {
    throw new UnverifiableError(
      'the kubeconfig impersonates groups or extras, which verify does not reproduce',
    );
  }
  const provider = user['auth-provider'] as { name?: unknown; config?: Record<string, unknown> } | undefined;
  let token = stringField(user, 'token');
  if (provider !== undefined) {
    const idToken = provider.config?.['id-token'];
    if (provider.name !== 'oidc' || typeof idToken !== 'string' || idToken === '') {
      throw new UnverifiableError(
        'the kubeconfig uses an auth provider without an id-token, which verify cannot use',
      );
    }
    token = idToken;
  }
  return {
    server: stringField(cluster, 'server') ?? '',
    caData: stringField(cluster, 'certificate-authority-data'),
    tlsServerName: stringField(cluster, 'tls-server-name'),
    skipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    proxyUrl: stringField(cluster, 'proxy-url'),
    token,
    certData: stringField(user, 'client-certificate-data'),
    keyData: stringField(user, 'client-key-data'),
    username: stringField(user, 'username'),
    password: stringField(user, 'password'),
    impersonateUser: stringField(user, 'as'),
  };
}

/** The probe verify uses: client-node calls bounded by the per-cluster deadline. */
export function createClusterProbe(
  k8s: ClientNodeModule,
  config: SanitizedKubeconfig,
  signal: AbortSignal,
  requestTimeoutMs: number,
  deadline?: Deadline,
): ClusterProbe {
  const client = new KubeClient(k8s, kubeConfigFromSanitized(k8s, config), {
    requestTimeoutMs,
    signal,
    deadline,
  });
  return {
    async serverVersion() {
      const info = await client.call('get the server version', (options) =>
        client.version.getCode({}, options),
      );
      return info.gitVersion;
    },
    async whoAmI() {
      const review = await client.read('create a SelfSubjectReview', (options) =>
        client.authentication.createSelfSubjectReview(
          {
            body: asModel(k8s.V1SelfSubjectReview, {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'SelfSubjectReview',
            }),
          },
          options,
        ),
      );
      return review?.status?.userInfo?.username;
    },
    async can(permission: ResourcePermission) {
      const review = await client.call(
        `create a SelfSubjectAccessReview (${permission.verb} ${permission.resource})`,
        (options) =>
          client.authorization.createSelfSubjectAccessReview(
            {
              body: asModel(k8s.V1SelfSubjectAccessReview, accessReview(permission)),
            },
            options,
          ),
      );
      return review.status?.allowed === true;
    },
  };
}

/** The SelfSubjectAccessReview that asks for one permission, cluster-wide. */
export function accessReview(permission: ResourcePermission): object {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: {
      resourceAttributes: { group: permission.group, resource: permission.resource, verb: permission.verb },
    },
  };
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
