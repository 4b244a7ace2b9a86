/** Kubeconfig text for audit tests; tokens are unsigned JWTs (only their claims are read). */

export interface KubeconfigSpec {
  readonly server?: string;
  readonly insecure?: boolean;
  readonly proxyUrl?: string;
  /** A `certificate-authority` file path in place of the embedded CA. */
  readonly caFile?: string;
  /** A raw token, or the claims of a JWT to build. */
  readonly token?: string | Record<string, unknown>;
  readonly exec?: boolean;
}

export const NOW = new Date('2026-06-01T00:00:00Z');
export const DAY_S = 86_400;

export function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'test' })}.${part(claims)}.c2lnbmF0dXJl`;
}

/** Seconds since the epoch, `days` from NOW. */
export function expIn(days: number): number {
  return Math.floor(NOW.getTime() / 1000) + days * DAY_S;
}

export function kubeconfigText(spec: KubeconfigSpec = {}): string {
  const token =
    spec.token === undefined
      ? jwt({ sub: 'system:serviceaccount:istio-system:istio-reader-service-account', exp: expIn(300) })
      : typeof spec.token === 'string'
        ? spec.token
        : jwt(spec.token);
  const cluster = [
    `    server: ${spec.server ?? 'https://east.example:6443'}`,
    spec.insecure === true
      ? '    insecure-skip-tls-verify: true'
      : spec.caFile === undefined
        ? '    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=='
        : `    certificate-authority: ${spec.caFile}`,
    ...(spec.proxyUrl === undefined ? [] : [`    proxy-url: ${spec.proxyUrl}`]),
  ];
  const user =
    spec.exec === true
      ? ['    exec:', '      apiVersion: client.authentication.k8s.io/v1', '      command: /bin/sh', '      interactiveMode: Never']
      : [`    token: ${token}`];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: remote',
    '  cluster:',
    ...cluster,
    'contexts:',
    '- name: remote',
    '  context:',
    '    cluster: remote',
    '    user: remote-reader',
    'current-context: remote',
    'users:',
    '- name: remote-reader',
    '  user:',
    ...user,
    '',
  ].join('\n');
}
