import { describe, expect, it } from 'vitest';
import { sanitizeKubeconfig, type SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { UnverifiableError } from '../remote-secret/verify.ts';
import { loadClientNode } from './client-node.ts';
import { kubeConfigFromSanitized } from './probe.ts';
import { FIXTURE_CA_DATA } from '../../test/testdata/pki/fixture-ca.ts';

const k8s = await loadClientNode();

function sanitized(
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = {},
): SanitizedKubeconfig {
  const result = sanitizeKubeconfig(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://east.example:6443', ...cluster } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
      users: [{ name: 'u', user }],
    },
    // As an operator who mounted the CA file into istiod allows it: the probe must still refuse.
    new Set(['certificateAuthority']),
  );
  if (!result.allowed) throw new Error(JSON.stringify(result.violations));
  return result.config;
}

describe('kubeConfigFromSanitized', () => {
  it('carries the reviewed fields of the current context only', () => {
    const config = kubeConfigFromSanitized(
      k8s,
      sanitized(
        { token: 't0k' },
        { 'certificate-authority-data': FIXTURE_CA_DATA, 'tls-server-name': 'api.internal' },
      ),
    );
    expect(config.getCurrentCluster()).toMatchObject({
      server: 'https://east.example:6443',
      caData: FIXTURE_CA_DATA,
      tlsServerName: 'api.internal',
      skipTLSVerify: false,
    });
    expect(config.getCurrentUser()).toMatchObject({ token: 't0k' });
    expect(config.getCurrentUser()?.exec).toBeUndefined();
    expect(config.getCurrentUser()?.authProvider).toBeUndefined();
  });

  it("uses an oidc id-token as a bearer token, never client-node's refreshing provider", () => {
    const config = kubeConfigFromSanitized(
      k8s,
      sanitized({
        'auth-provider': {
          name: 'oidc',
          config: {
            'id-token': 'id.jwt.sig',
            'idp-issuer-url': 'https://issuer.example',
            'client-id': 'istiod',
          },
        },
      }),
    );
    expect(config.getCurrentUser()).toMatchObject({ token: 'id.jwt.sig' });
    expect(config.getCurrentUser()?.authProvider).toBeUndefined();
  });

  it.each([
    {
      name: "a CA file on istiod's disk",
      user: { token: 't' },
      cluster: { 'certificate-authority': '/etc/ca.pem' },
    },
    { name: 'group impersonation', user: { token: 't', as: 'bob', 'as-groups': ['admins'] }, cluster: {} },
    {
      name: 'oidc without an id-token',
      user: {
        'auth-provider': {
          name: 'oidc',
          config: { 'idp-issuer-url': 'https://issuer.example', 'client-id': 'istiod' },
        },
      },
      cluster: {},
    },
  ])('refuses $name: verify cannot reproduce it, and reads no file', ({ user, cluster }) => {
    expect(() => kubeConfigFromSanitized(k8s, sanitized(user, cluster))).toThrow(UnverifiableError);
  });
});
