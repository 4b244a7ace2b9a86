/**
 * Lines of a kube-apiserver audit log (audit.k8s.io/v1 Events, level Metadata) as a real API
 * server writes them for writes our webhook decided; the annotation keys carry the webhook's
 * name, as the API server prefixes a webhook's audit annotations.
 */
export const WEBHOOK = 'remote-secrets.webhook.kubectl-remote-secret.io';

export interface AuditLineSpec {
  readonly auditId?: string;
  readonly stage?: 'RequestReceived' | 'ResponseComplete';
  readonly verb?: string;
  readonly user?: string;
  readonly impersonated?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly time?: string;
  /** Our webhook's annotations; undefined for a request it did not refuse or warn about. */
  readonly verdict?: 'rejected' | 'warned' | 'audited' | 'allowed';
  readonly codes?: readonly string[];
  readonly requestUid?: string;
}

export function auditLine(spec: AuditLineSpec = {}): string {
  const verdict = spec.verdict;
  const codes = spec.codes ?? ['exec'];
  const ours =
    verdict === undefined || spec.stage === 'RequestReceived'
      ? {}
      : {
          [`${WEBHOOK}/verdict`]: verdict,
          [`${WEBHOOK}/mode`]: verdict === 'warned' ? 'warn' : verdict === 'audited' ? 'audit' : 'enforce',
          [`${WEBHOOK}/violation-codes`]: codes.join(','),
          [`${WEBHOOK}/clusters`]: 'east',
          [`${WEBHOOK}/violations`]: JSON.stringify(
            codes.map((code) => ({ cluster: 'east', code, path: 'users[0].user.exec' })),
          ),
          ...(spec.requestUid === undefined ? {} : { [`${WEBHOOK}/request-uid`]: spec.requestUid }),
        };
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: spec.auditId ?? '4b5ad0e2-7f3e-4c4b-a0f4-0c6f6e9c1a01',
    stage: spec.stage ?? 'ResponseComplete',
    requestURI: `/api/v1/namespaces/${spec.namespace ?? 'istio-system'}/secrets?fieldManager=kubectl-client-side-apply`,
    verb: spec.verb ?? 'create',
    user: { username: spec.user ?? 'alice@example.com', groups: ['system:authenticated'] },
    ...(spec.impersonated === undefined ? {} : { impersonatedUser: { username: spec.impersonated } }),
    sourceIPs: ['127.0.0.1'],
    userAgent: 'kubectl/v1.34.10 (linux/amd64) kubernetes/0000000',
    objectRef: {
      resource: 'secrets',
      namespace: spec.namespace ?? 'istio-system',
      name: spec.name ?? 'istio-remote-secret-east',
      apiVersion: 'v1',
    },
    responseStatus:
      verdict === 'rejected'
        ? { metadata: {}, status: 'Failure', message: `admission webhook "${WEBHOOK}" denied the request`, reason: 'Forbidden', code: 403 }
        : { metadata: {}, code: 201 },
    requestReceivedTimestamp: spec.time ?? '2026-12-01T09:59:59.900000Z',
    stageTimestamp: spec.time ?? '2026-12-01T10:00:00.000000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '', ...ours },
  });
}
