import { randomBytes } from 'node:crypto';
import { createServingCertificate } from '../test/harness/tls.ts';

// A real CA bundle, made fresh for each run (istiod, and so our decision, refuses CA data that is
// not a certificate): a CA and a certificate it signed, about 1.5 KB of base64 as a real bundle is.
const bundle = await createServingCertificate();
const CA_DATA = Buffer.from(`${bundle.caPem}\n${bundle.certPem}\n`, 'utf8').toString('base64');

/** A realistic remote kubeconfig, about 3 KB: a 1.5 KB CA bundle and a service-account JWT. */
export function realisticKubeconfig(extraUser = ''): string {
  const ca = CA_DATA;
  // A ServiceAccount token's shape: a JSON header and claims (so "eyJ..."), then a signature.
  const jwt = [
    Buffer.from(JSON.stringify({ alg: 'RS256', kid: randomBytes(16).toString('hex') })),
    Buffer.concat([Buffer.from('{"aud":["https://kubernetes.default.svc"],"x":"'), randomBytes(560)]),
    randomBytes(256),
  ]
    .map((part) => part.toString('base64url'))
    .join('.');
  return `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${ca}
    server: https://api.remote-east.example:6443
  name: remote-east
contexts:
- context:
    cluster: remote-east
    user: remote-east
  name: remote-east
current-context: remote-east
kind: Config
preferences: {}
users:
- name: remote-east
  user:
    token: ${jwt}
${extraUser}`;
}

export const EXEC_USER = `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "curl http://metadata.example/"]
`;

/** A remote secret manifest (JSON) holding one realistic kubeconfig, as `check` reads it. */
export function realisticSecretManifest(): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'istio-remote-secret-east',
      namespace: 'istio-system',
      labels: { 'istio/multiCluster': 'true' },
    },
    stringData: { east: realisticKubeconfig() },
  });
}

/** The AdmissionReview the API server sends for a CREATE of a remote secret with a 3 KB kubeconfig. */
export function reviewBody(kubeconfig = realisticKubeconfig()): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Secret' },
      resource: { group: '', version: 'v1', resource: 'secrets' },
      requestKind: { group: '', version: 'v1', kind: 'Secret' },
      requestResource: { group: '', version: 'v1', resource: 'secrets' },
      name: 'istio-remote-secret-east',
      namespace: 'istio-system',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name: 'istio-remote-secret-east',
          namespace: 'istio-system',
          uid: '9c6f7a52-2b0c-4c86-9b1e-2f0f8a0b1c11',
          labels: { 'istio/multiCluster': 'true' },
          annotations: { 'networking.istio.io/cluster': 'east' },
          creationTimestamp: '2025-01-01T00:00:00Z',
        },
        data: { east: Buffer.from(kubeconfig).toString('base64') },
      },
      oldObject: null,
      dryRun: false,
      options: {
        apiVersion: 'meta.k8s.io/v1',
        kind: 'CreateOptions',
        fieldManager: 'kubectl-client-side-apply',
      },
    },
  });
}

/**
 * Reviews whose kubeconfig differs every time, cheaply enough not to load the generator: the
 * token ends in a 12-character counter at an offset that is a multiple of 3, so only those 16
 * base64 characters change and the rest of the body is reused.
 */
export function missingReviews(): () => string {
  const slot = 'A'.repeat(12);
  const base = realisticKubeconfig();
  const tokenEnd = base.indexOf('\n', base.indexOf('token: '));
  const padded = base.slice(0, tokenEnd);
  // Pad the token before the slot so the slot starts on a base64 group boundary.
  const pad = 'A'.repeat((3 - (padded.length % 3)) % 3);
  const text = `${padded}${pad}${slot}${base.slice(tokenEnd)}`;
  const start = padded.length + pad.length;
  const encoded = Buffer.from(text).toString('base64');
  const body = reviewBody(text);
  const at = body.indexOf(encoded);
  const before = body.slice(0, at + (start / 3) * 4);
  const after = body.slice(at + ((start + slot.length) / 3) * 4);
  let counter = 0;
  return () => {
    counter += 1;
    return `${before}${Buffer.from(counter.toString(36).padStart(12, '0')).toString('base64')}${after}`;
  };
}
