import { describe, expect, it } from 'vitest';
import { reviewKubeconfig } from './review.ts';
import { FIXTURE_CA_DATA } from '../../test/testdata/pki/fixture-ca.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.payload.CANARY-TOKEN-never-printed';

type Json = Record<string, unknown>;

/** A kubeconfig as `kubectl remote-secret create` (and istioctl) writes it. */
function kubeconfig(
  edit: (config: Json & { users: Json[]; clusters: Json[]; contexts: Json[] }) => void = () => undefined,
): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'east',
        cluster: { server: 'https://east.example:6443', 'certificate-authority-data': FIXTURE_CA_DATA },
      },
    ],
    contexts: [{ name: 'east', context: { cluster: 'east', user: 'east' } }],
    'current-context': 'east',
    preferences: {},
    users: [{ name: 'east', user: { token: TOKEN } }],
  };
  edit(config);
  return JSON.stringify(config);
}

const user = (config: { users: Json[] }, index = 0): Json => {
  const entry = config.users[index] as { user: Json };
  return entry.user;
};

const review = (text: string, allow: string[] = []) => reviewKubeconfig(text, { allow: new Set(allow) });

describe('sanitizeKubeconfig: Istio rules on every user', () => {
  it('allows a bearer-token kubeconfig and rebuilds it from reviewed fields', () => {
    const result = review(
      kubeconfig((config) => {
        config['extensions'] = [{ name: 'x', extension: { anything: 1 } }];
        user(config)['future-field'] = 'unreviewed';
      }),
    );
    expect(result.allowed).toBe(true);
    if (!result.allowed) return;
    expect(result.config.users[0]?.user).toEqual({ token: TOKEN });
    expect(JSON.stringify(result.config)).not.toContain('unreviewed');
    expect(result.config).not.toHaveProperty('extensions');
  });

  it.each([
    {
      code: 'exec',
      option: 'exec',
      path: 'users[0].user.exec',
      edit: (u: Json) =>
        (u['exec'] = {
          command: 'sh',
          apiVersion: 'client.authentication.k8s.io/v1',
          interactiveMode: 'Never',
        }),
    },
    {
      code: 'token-file',
      option: 'tokenFile',
      path: 'users[0].user.tokenFile',
      edit: (u: Json) => (u['tokenFile'] = '/etc/passwd'),
    },
    {
      code: 'client-key',
      option: 'clientKey',
      path: 'users[0].user.client-key',
      edit: (u: Json) => {
        delete u['token'];
        u['client-certificate-data'] = FIXTURE_CA_DATA;
        u['client-key'] = '/etc/key.pem';
      },
    },
    {
      code: 'client-certificate',
      option: 'clientCertificate',
      path: 'users[0].user.client-certificate',
      edit: (u: Json) => {
        delete u['token'];
        u['client-certificate'] = '/etc/cert.pem';
        u['client-key-data'] = FIXTURE_CA_DATA;
      },
    },
  ])('rejects $code at $path unless $option is allowed', ({ code, option, path, edit }) => {
    const text = kubeconfig((config) => {
      edit(user(config));
    });
    const rejected = review(text);
    expect(rejected.allowed).toBe(false);
    expect(rejected.violations.map((found) => [found.code, found.path])).toEqual([[code, path]]);
    expect(rejected.violations[0]?.hint).toBeTruthy();
    expect(review(text, [option]).allowed).toBe(true);
  });

  it('rejects a certificate-authority file unless our own certificateAuthority is allowed', () => {
    const text = kubeconfig((config) => {
      const cluster = (config.clusters[0] as { cluster: Json }).cluster;
      delete cluster['certificate-authority-data'];
      cluster['certificate-authority'] = '/home/alice/.minikube/ca.crt';
    });
    const rejected = review(text, ['exec', 'tokenFile', 'clientKey', 'clientCertificate']);
    expect(rejected.violations.map((found) => [found.code, found.path])).toEqual([
      ['certificate-authority-file', 'clusters[0].cluster.certificate-authority'],
    ]);
    // Named, quoted on one line, and what to do instead.
    expect(rejected.violations[0]?.message).toContain('the file "/home/alice/.minikube/ca.crt" on istiod');
    expect(rejected.violations[0]?.hint).toContain('certificate-authority-data');
    const allowed = review(text, ['certificateAuthority']);
    expect(allowed.allowed).toBe(true);
    if (allowed.allowed) {
      expect(allowed.config.clusters[0]?.cluster['certificate-authority']).toBe(
        '/home/alice/.minikube/ca.crt',
      );
    }
  });

  it('rejects the placeholder token of a dry run, whatever is allowed', () => {
    const text = kubeconfig((config) => {
      user(config)['token'] = 'DRY-RUN-PLACEHOLDER-TOKEN';
    });
    const everything = ['exec', 'tokenFile', 'clientKey', 'clientCertificate', 'certificateAuthority'];
    const rejected = review(text, everything);
    expect(rejected.violations.map((found) => [found.code, found.path])).toEqual([
      ['placeholder-token', 'users[0].user.token'],
    ]);
    expect(rejected.violations[0]?.hint).toContain('without --dry-run');
  });

  it.each([
    { name: 'gcp', config: { 'cmd-path': '/bin/gcloud' } },
    { name: 'azure', config: {} },
    { name: 'openstack', config: {} },
  ])(
    "rejects the $name auth provider, and still when allow-listed: istiod's client-go cannot build it",
    ({ name, config }) => {
      const text = kubeconfig((kubeconfigJson) => (user(kubeconfigJson)['auth-provider'] = { name, config }));
      const refused = review(text);
      expect(refused.violations.map((found) => [found.code, found.path])).toEqual([
        ['auth-provider', 'users[0].user.auth-provider'],
      ]);
      const allowed = review(text, [name]);
      expect(allowed.violations.map((found) => [found.code, found.path])).toEqual([
        ['auth-provider', 'users[0].user.auth-provider'],
      ]);
      expect(allowed.violations[0]?.message).toMatch(/removed from client-go|no auth provider named/);
    },
  );

  it('allows the oidc auth provider with an issuer and a client ID, as client-go needs', () => {
    const text = kubeconfig((config) => {
      const u = user(config);
      delete u['token'];
      u['auth-provider'] = {
        name: 'oidc',
        config: { 'idp-issuer-url': 'https://issuer.example', 'client-id': 'istiod' },
      };
    });
    expect(review(text).allowed).toBe(true);
  });

  it.each([
    { missing: 'idp-issuer-url', config: { 'client-id': 'istiod' } },
    { missing: 'client-id', config: { 'idp-issuer-url': 'https://issuer.example' } },
  ])('refuses an oidc auth provider without $missing, which client-go refuses', ({ missing, config }) => {
    const text = kubeconfig((kubeconfigJson) => {
      const u = user(kubeconfigJson);
      delete u['token'];
      u['auth-provider'] = { name: 'oidc', config };
    });
    expect(review(text).violations.map((found) => found.message)).toEqual([expect.stringContaining(missing)]);
  });

  it('checks every user, not only the current one, and reports all violations in order', () => {
    const text = kubeconfig((config) => {
      config.users.push({
        name: 'spare',
        user: {
          tokenFile: '/t',
          exec: { command: 'sh', apiVersion: 'client.authentication.k8s.io/v1beta1' },
        },
      });
    });
    expect(review(text).violations.map((found) => [found.code, found.path])).toEqual([
      ['token-file', 'users[1].user.tokenFile'],
      ['exec', 'users[1].user.exec'],
    ]);
  });

  it.each([
    { name: 'empty tokenFile', edit: (u: Json) => (u['tokenFile'] = '') },
    { name: 'exec: null', edit: (u: Json) => (u['exec'] = null) },
    { name: 'auth-provider: null', edit: (u: Json) => (u['auth-provider'] = null) },
    { name: 'empty client-key', edit: (u: Json) => (u['client-key'] = '') },
  ])('does not count $name as a violation', ({ edit }) => {
    expect(review(kubeconfig((config) => edit(user(config)))).violations).toEqual([]);
  });

  it.each([
    { key: 'Exec', value: { command: 'sh' } },
    { key: 'token-file', value: '/etc/token' },
    { key: 'TokenFile', value: '/etc/token' },
    { key: 'clientKey', value: '/etc/key' },
    { key: 'client_certificate', value: '/etc/cert' },
    { key: 'authProvider', value: { name: 'gcp' } },
    { key: 'EXEC', value: { command: 'sh' } },
  ])('rejects the look-alike key $key as ambiguous-yaml', ({ key, value }) => {
    const result = review(kubeconfig((config) => (user(config)[key] = value)));
    expect(result.violations.map((found) => [found.code, found.path])).toEqual([
      ['ambiguous-yaml', `users[0].user.${key}`],
    ]);
  });
});

describe('sanitizeKubeconfig: what client-go would not load or istiod could not use', () => {
  it.each([
    {
      name: 'a context naming a missing cluster',
      code: 'invalid-kubeconfig',
      path: 'contexts[0].context.cluster',
      edit: (c: Json & { contexts: Json[] }) =>
        ((c.contexts[0] as { context: Json }).context['cluster'] = 'nowhere'),
    },
    {
      name: 'a context naming a missing user',
      code: 'invalid-kubeconfig',
      path: 'contexts[0].context.user',
      edit: (c: Json & { contexts: Json[] }) =>
        ((c.contexts[0] as { context: Json }).context['user'] = 'nobody'),
    },
    {
      name: 'no current-context',
      code: 'no-current-context',
      path: 'current-context',
      edit: (c: Json) => delete c['current-context'],
    },
    {
      name: 'a current-context naming no context',
      code: 'invalid-kubeconfig',
      path: 'current-context',
      edit: (c: Json) => (c['current-context'] = 'other'),
    },
    {
      name: 'duplicate cluster names',
      code: 'invalid-kubeconfig',
      path: 'clusters[1].name',
      edit: (c: Json & { clusters: Json[] }) =>
        c.clusters.push({ name: 'east', cluster: { server: 'https://x' } }),
    },
    {
      name: 'duplicate user names',
      code: 'invalid-kubeconfig',
      path: 'users[1].name',
      edit: (c: Json & { users: Json[] }) => c.users.push({ name: 'east', user: {} }),
    },
    {
      name: 'a cluster without a server',
      code: 'invalid-kubeconfig',
      path: 'clusters[0].cluster.server',
      edit: (c: Json & { clusters: Json[] }) => ((c.clusters[0] as { cluster: Json }).cluster['server'] = ''),
    },
    {
      name: 'a server that is a number',
      code: 'invalid-kubeconfig',
      path: 'clusters[0].cluster.server',
      edit: (c: Json & { clusters: Json[] }) =>
        ((c.clusters[0] as { cluster: Json }).cluster['server'] = 6443),
    },
    {
      name: 'invalid base64 CA data',
      code: 'invalid-kubeconfig',
      path: 'clusters[0].cluster.certificate-authority-data',
      edit: (c: Json & { clusters: Json[] }) =>
        ((c.clusters[0] as { cluster: Json }).cluster['certificate-authority-data'] = 'not base64!'),
    },
    {
      name: 'users as a mapping',
      code: 'invalid-kubeconfig',
      path: 'users',
      edit: (c: Json) => (c['users'] = { east: {} }),
    },
    {
      name: 'a wrong apiVersion',
      code: 'invalid-kubeconfig',
      path: 'apiVersion',
      edit: (c: Json) => (c['apiVersion'] = 'v2'),
    },
    {
      name: 'a wrong kind',
      code: 'invalid-kubeconfig',
      path: 'kind',
      edit: (c: Json) => (c['kind'] = 'Secret'),
    },
    {
      name: 'token and basic auth together',
      code: 'invalid-kubeconfig',
      path: 'users[0].user',
      edit: (c: Json & { users: Json[] }) => (user(c)['username'] = 'admin'),
    },
    {
      name: 'an invalid context namespace',
      code: 'invalid-kubeconfig',
      path: 'contexts[0].context.namespace',
      edit: (c: Json & { contexts: Json[] }) =>
        ((c.contexts[0] as { context: Json }).context['namespace'] = 'Not_A_Label'),
    },
    {
      name: 'a bad proxy-url scheme',
      code: 'invalid-kubeconfig',
      path: 'clusters[0].cluster.proxy-url',
      edit: (c: Json & { clusters: Json[] }) =>
        ((c.clusters[0] as { cluster: Json }).cluster['proxy-url'] = 'ftp://proxy'),
    },
    {
      name: 'exec without a command',
      code: 'invalid-kubeconfig',
      path: 'users[0].user.exec.command',
      edit: (c: Json & { users: Json[] }) => (user(c)['exec'] = { apiVersion: 'v1' }),
    },
  ])('rejects $name', ({ code, path, edit }) => {
    const result = review(kubeconfig(edit));
    expect(result.allowed).toBe(false);
    expect(result.violations).toContainEqual(expect.objectContaining({ code, path }));
  });

  it('rejects an empty kubeconfig', () => {
    expect(review('{}').violations.map((found) => found.code)).toEqual(['empty-kubeconfig']);
    expect(review('').violations.map((found) => found.code)).toEqual(['empty-kubeconfig']);
  });

  it.each([
    { name: 'a YAML list', text: '- a\n- b\n' },
    { name: 'a string', text: 'just text' },
    { name: 'a number', text: '42' },
  ])('rejects $name at the top level', ({ text }) => {
    expect(review(text).violations.map((found) => found.code)).toEqual(['invalid-kubeconfig']);
  });

  it('never echoes a token or the kubeconfig in any violation', () => {
    const texts = [
      kubeconfig((c) => (user(c)['exec'] = { command: TOKEN })),
      kubeconfig((c) => ((c.clusters[0] as { cluster: Json }).cluster['server'] = 7)),
      kubeconfig((c) => (user(c)['token'] = 12345)),
      `${kubeconfig()}\n${TOKEN}: [`,
    ];
    for (const text of texts) {
      const result = review(text);
      expect(result.allowed).toBe(false);
      expect(JSON.stringify(result.violations)).not.toContain('CANARY-TOKEN');
    }
  });
});

describe('exec interactiveMode, as client-go validates and defaults it', () => {
  const withExec = (exec: Json) => kubeconfig((config) => (user(config)['exec'] = exec));
  it.each([
    { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: undefined, valid: false },
    { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', valid: true },
    { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Sometimes', valid: false },
    { apiVersion: 'client.authentication.k8s.io/v1beta1', interactiveMode: undefined, valid: true },
    // client-go dropped v1alpha1: its exec authenticator refuses the version.
    { apiVersion: 'client.authentication.k8s.io/v1alpha1', interactiveMode: undefined, valid: false },
  ])(
    '$apiVersion with interactiveMode $interactiveMode: valid $valid',
    ({ apiVersion, interactiveMode, valid }) => {
      const exec: Json = { command: 'sh', apiVersion };
      if (interactiveMode !== undefined) exec['interactiveMode'] = interactiveMode;
      const result = review(withExec(exec), ['exec']);
      expect(result.allowed).toBe(valid);
      if (!valid)
        expect(result.violations.map((found) => found.path)).toEqual([
          apiVersion.endsWith('v1alpha1')
            ? 'users[0].user.exec.apiVersion'
            : 'users[0].user.exec.interactiveMode',
        ]);
    },
  );
});
