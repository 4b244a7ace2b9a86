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
        ? '    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrRENDQVRlZ0F3SUJBZ0lVY2p6QTUvdnpmUUNYUHFsdmV2MVVIZjNsdVZJd0NnWUlLb1pJemowRUF3SXcKSFRFYk1Ca0dBMVVFQXd3U1ptbDRkSFZ5WlMxallTNWxlR0Z0Y0d4bE1DQVhEVEkyTVRJd01qQTVOVGd4T1ZvWQpEekl4TWpZeE1UQTRNRGsxT0RFNVdqQWRNUnN3R1FZRFZRUUREQkptYVhoMGRYSmxMV05oTG1WNFlXMXdiR1V3CldUQVRCZ2NxaGtqT1BRSUJCZ2dxaGtqT1BRTUJCd05DQUFSc1F2TDZxY2kwb1crZ0ZHV0VpRlhkWi9rUUE3OXIKNzdWYlB6L3llZm1hazhhZ1dEWG0vYnozQUJ5OFFRVFhKYitBU0tIdDFhN3c1OVhBUGIvaVFWRFlvMU13VVRBZApCZ05WSFE0RUZnUVU2MHlFdGFnbkIySkFYdG8xSG0zbDlCUnNyVTR3SHdZRFZSMGpCQmd3Rm9BVTYweUV0YWduCkIySkFYdG8xSG0zbDlCUnNyVTR3RHdZRFZSMFRBUUgvQkFVd0F3RUIvekFLQmdncWhrak9QUVFEQWdOSEFEQkUKQWlBS2VLNWRNN0x0M2FCT1ZDUkxWU3VtVDg4bU45V2F6QzV1b1dPakdKMERuUUlnQTcweVNGY1B4bFlyUy93RQpzbmRVVzVmVmNsOUhBNlFVeU5wTFlGVTNiVDg9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K'
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
