import { randomBytes } from 'node:crypto';

/** A realistic remote kubeconfig, about 3 KB: a 1.5 KB CA bundle and a service-account JWT. */
export function realisticKubeconfig(extraUser = ''): string {
  const ca = randomBytes(1100).toString('base64');
  const jwt = [randomBytes(40), randomBytes(600), randomBytes(256)]
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
