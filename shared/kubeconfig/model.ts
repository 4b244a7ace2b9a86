/**
 * A kubeconfig as client-go's `clientcmd/api/v1` types hold it, after `clientcmd.Load`.
 * Field names are the JSON names client-go matches case-sensitively. Lists keep their order
 * (for stable reports); `[]byte` fields stay base64 text, already checked to decode.
 */
export interface KubeconfigV1 {
  readonly apiVersion: string;
  readonly kind: string;
  readonly clusters: readonly NamedCluster[];
  readonly users: readonly NamedUser[];
  readonly contexts: readonly NamedContext[];
  readonly 'current-context': string;
  /** Whether preferences or top-level extensions hold anything (client-go's IsConfigEmpty looks). */
  readonly hasPreferencesOrExtensions: boolean;
}

export interface NamedCluster {
  readonly name: string;
  readonly cluster: Cluster;
}

export interface Cluster {
  readonly server: string;
  readonly 'tls-server-name': string;
  readonly 'insecure-skip-tls-verify': boolean;
  readonly 'certificate-authority': string;
  readonly 'certificate-authority-data': string;
  readonly 'proxy-url': string;
  readonly 'disable-compression': boolean;
  readonly hasExtensions: boolean;
}

export interface NamedUser {
  readonly name: string;
  readonly user: AuthInfo;
}

export interface AuthInfo {
  readonly 'client-certificate': string;
  readonly 'client-certificate-data': string;
  readonly 'client-key': string;
  readonly 'client-key-data': string;
  readonly token: string;
  readonly tokenFile: string;
  readonly as: string;
  readonly 'as-uid': string;
  readonly 'as-groups': readonly string[];
  readonly 'as-user-extra': Readonly<Record<string, readonly string[]>>;
  readonly username: string;
  readonly password: string;
  readonly 'auth-provider': AuthProviderConfig | undefined;
  readonly exec: ExecConfig | undefined;
}

export interface AuthProviderConfig {
  readonly name: string;
  readonly config: Readonly<Record<string, string>>;
}

export interface ExecConfig {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly apiVersion: string;
  readonly installHint: string;
  readonly provideClusterInfo: boolean;
  readonly interactiveMode: string;
}

export interface NamedContext {
  readonly name: string;
  readonly context: Context;
}

export interface Context {
  readonly cluster: string;
  readonly user: string;
  readonly namespace: string;
}
