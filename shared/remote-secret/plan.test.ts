import { describe, expect, it } from 'vitest';
import {
  planRemote,
  PlanError,
  type RemoteFacts,
  type RemotePlanOptions,
  type TokenSecretFact,
} from './plan.ts';

const NOW = new Date('2026-05-01T10:00:00.000Z');
const SA = 'istio-reader-service-account';
const TOKEN_TYPE = 'kubernetes.io/service-account-token';

const options = (overrides: Partial<RemotePlanOptions> = {}): RemotePlanOptions => ({
  namespace: 'istio-system',
  serviceAccount: SA,
  createServiceAccount: true,
  token: { from: 'existing-or-new-secret' },
  retireOld: false,
  now: NOW,
  ...overrides,
});

const token = (name: string, created: string, overrides: Partial<TokenSecretFact> = {}): TokenSecretFact => ({
  name,
  serviceAccount: SA,
  type: TOKEN_TYPE,
  created: new Date(created),
  deleting: false,
  ...overrides,
});

const EMPTY: RemoteFacts = {
  namespaceExists: false,
  serviceAccountExists: false,
  clusterRole: undefined,
  clusterRoleBinding: undefined,
  tokenSecrets: [],
};

const READY: RemoteFacts = {
  namespaceExists: true,
  serviceAccountExists: true,
  clusterRole: { coversReaderRules: true },
  clusterRoleBinding: { bindsServiceAccount: true },
  tokenSecrets: [token(`${SA}-istio-remote-secret-token`, '2026-04-01T00:00:00Z')],
};

const kinds = (facts: RemoteFacts, overrides: Partial<RemotePlanOptions> = {}) =>
  planRemote(options(overrides), facts).create.map(
    (planned) => `${planned.kind} ${planned.object.metadata.name ?? '(generated)'}`,
  );

describe('planRemote: what is created', () => {
  it('creates everything, in dependency order, on an empty cluster', () => {
    expect(kinds(EMPTY)).toEqual([
      'Namespace istio-system',
      `ServiceAccount ${SA}`,
      'ClusterRole istio-reader-clusterrole-istio-system',
      'ClusterRoleBinding istio-reader-clusterrole-istio-system',
      `Secret ${SA}-istio-remote-secret-token`,
    ]);
  });

  it('creates nothing when everything exists (idempotent: a second run changes nothing)', () => {
    const plan = planRemote(options(), READY);
    expect(plan.create).toEqual([]);
    expect(plan.token).toEqual({ from: 'secret', name: `${SA}-istio-remote-secret-token`, created: false });
    expect(plan.warnings).toEqual([]);
  });

  it.each([
    {
      name: 'only the binding missing',
      facts: { ...READY, clusterRoleBinding: undefined },
      expected: ['ClusterRoleBinding istio-reader-clusterrole-istio-system'],
    },
    {
      name: 'only the role missing',
      facts: { ...READY, clusterRole: undefined },
      expected: ['ClusterRole istio-reader-clusterrole-istio-system'],
    },
    {
      name: 'only the account missing',
      facts: { ...READY, serviceAccountExists: false },
      expected: [`ServiceAccount ${SA}`],
    },
  ])('$name: creates only that', ({ facts, expected }) => {
    expect(kinds(facts)).toEqual(expected);
  });

  it('warns, and leaves alone, a role without the reader rules or a binding for someone else', () => {
    const plan = planRemote(options(), {
      ...READY,
      clusterRole: { coversReaderRules: false },
      clusterRoleBinding: { bindsServiceAccount: false },
    });
    expect(plan.create).toEqual([]);
    expect(plan.warnings).toHaveLength(2);
    expect(plan.warnings[0]).toContain('lacks some of Istio');
    expect(plan.warnings[1]).toContain(`does not bind istio-system/${SA}`);
  });

  it('with --create-service-account=false creates no RBAC and fails, as istioctl, when the account is missing', () => {
    expect(
      kinds(
        { ...READY, clusterRole: undefined, clusterRoleBinding: undefined },
        { createServiceAccount: false },
      ),
    ).toEqual([]);
    expect(() => planRemote(options({ createServiceAccount: false }), EMPTY)).toThrow(PlanError);
    expect(() => planRemote(options({ createServiceAccount: false }), EMPTY)).toThrow(
      /--create-service-account/,
    );
  });

  it("binds a non-default account with its own binding, never by editing Istio's", () => {
    expect(kinds(EMPTY, { serviceAccount: 'istiod' })).toContain(
      'ClusterRoleBinding istio-reader-clusterrole-istio-system-istiod',
    );
  });

  it('touches nothing on the remote for an auth provider (plugin) secret', () => {
    const plan = planRemote(options({ token: { from: 'none' } }), EMPTY);
    expect(plan.create).toEqual([]);
    expect(plan.token).toEqual({ from: 'none' });
  });
});

describe('planRemote: --renew', () => {
  const RENEW = { renew: true, token: { from: 'token-request' as const, seconds: 86_400 } };
  const RENEWABLE: RemoteFacts = {
    ...READY,
    renewerRole: { grantsOwnToken: true },
    renewerRoleBinding: { bindsServiceAccount: true },
  };

  it("adds the token renewer Role and its RoleBinding, in the account's namespace, after the reader RBAC", () => {
    const plan = planRemote(options(RENEW), EMPTY);
    expect(plan.create.map((planned) => `${planned.kind} ${planned.object.metadata.name ?? ''}`)).toEqual([
      'Namespace istio-system',
      `ServiceAccount ${SA}`,
      'ClusterRole istio-reader-clusterrole-istio-system',
      'ClusterRoleBinding istio-reader-clusterrole-istio-system',
      `Role ${SA}-token-renewer`,
      `RoleBinding ${SA}-token-renewer`,
    ]);
    const role = plan.create[4]?.object;
    expect(role?.kind === 'Role' ? role.rules : undefined).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [SA] },
    ]);
    expect(role?.metadata.namespace).toBe('istio-system');
    const binding = plan.create[5]?.object;
    expect(binding?.kind === 'RoleBinding' ? [binding.roleRef, binding.subjects] : undefined).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${SA}-token-renewer` },
      [{ kind: 'ServiceAccount', name: SA, namespace: 'istio-system' }],
    ]);
  });

  it('creates neither when both exist (idempotent), and only the missing one otherwise', () => {
    expect(kinds(RENEWABLE, RENEW)).toEqual([]);
    expect(kinds({ ...RENEWABLE, renewerRoleBinding: undefined }, RENEW)).toEqual([
      `RoleBinding ${SA}-token-renewer`,
    ]);
    expect(kinds({ ...RENEWABLE, renewerRole: undefined }, RENEW)).toEqual([`Role ${SA}-token-renewer`]);
  });

  it('warns, and leaves alone, a Role without the rule or a RoleBinding for someone else', () => {
    const plan = planRemote(options(RENEW), {
      ...RENEWABLE,
      renewerRole: { grantsOwnToken: false },
      renewerRoleBinding: { bindsServiceAccount: false },
    });
    expect(plan.create).toEqual([]);
    expect(plan.warnings).toEqual([
      `Role istio-system/${SA}-token-renewer exists but does not grant create on serviceaccounts/token for ${SA}; it was left as it is, so renewing the token will be refused`,
      `RoleBinding istio-system/${SA}-token-renewer exists but does not bind istio-system/${SA} to Role ${SA}-token-renewer; it was left as it is, so renewing the token will be refused`,
    ]);
  });

  it('is opt-in: without --renew no renewer objects, whatever the facts', () => {
    expect(kinds(EMPTY, { token: RENEW.token })).not.toContain(`Role ${SA}-token-renewer`);
  });
});

describe('planRemote: where the token comes from', () => {
  it('reuses the newest token Secret of the account, ignoring other accounts, other types and ones being deleted', () => {
    const plan = planRemote(options(), {
      ...READY,
      tokenSecrets: [
        token('old', '2026-01-01T00:00:00Z'),
        token('newest', '2026-03-01T00:00:00Z'),
        token('other-account', '2026-04-01T00:00:00Z', { serviceAccount: 'someone-else' }),
        token('not-a-token', '2026-04-01T00:00:00Z', { type: 'Opaque' }),
        token('going', '2026-04-01T00:00:00Z', { deleting: true }),
      ],
    });
    expect(plan.token).toEqual({ from: 'secret', name: 'newest', created: false });
  });

  it('prefers a token rotated in the same second (issued-at has milliseconds)', () => {
    const plan = planRemote(options(), {
      ...READY,
      tokenSecrets: [
        token('b-original', '2026-04-01T00:00:00.100Z'),
        token('a-rotated', '2026-04-01T00:00:00.900Z'),
      ],
    });
    expect(plan.token).toMatchObject({ name: 'a-rotated' });
  });

  it('--rotate creates a new Secret even when one exists, and keeps the old one', () => {
    const plan = planRemote(options({ token: { from: 'new-secret' } }), READY);
    expect(plan.create.map((planned) => planned.kind)).toEqual(['Secret']);
    expect(plan.create[0]?.object).toMatchObject({
      metadata: { generateName: `${SA}-istio-remote-secret-token-` },
    });
    expect(plan.token).toMatchObject({ from: 'secret', created: true });
    expect(plan.retire).toEqual([]);
  });

  it('--retire-old deletes every other token Secret of the account, never the one in use', () => {
    const plan = planRemote(options({ retireOld: true }), {
      ...READY,
      tokenSecrets: [
        token('old', '2026-01-01T00:00:00Z'),
        token('current', '2026-03-01T00:00:00Z'),
        token('other-account', '2026-01-01T00:00:00Z', { serviceAccount: 'someone-else' }),
      ],
    });
    expect(plan.token).toMatchObject({ name: 'current' });
    expect(plan.retire).toEqual(['old']);
  });

  it('--token-duration uses the TokenRequest API and, with --retire-old, retires every token Secret', () => {
    const plan = planRemote(
      options({ token: { from: 'token-request', seconds: 3600 }, retireOld: true }),
      READY,
    );
    expect(plan.token).toEqual({ from: 'token-request', seconds: 3600 });
    expect(plan.create).toEqual([]);
    expect(plan.retire).toEqual([`${SA}-istio-remote-secret-token`]);
  });

  it.each([
    { name: 'missing', secrets: [], error: /does not exist/ },
    {
      name: 'for another account',
      secrets: [token('picked', '2026-01-01T00:00:00Z', { serviceAccount: 'x' })],
      error: /does not reference ServiceAccount/,
    },
    {
      name: 'not a token Secret',
      secrets: [token('picked', '2026-01-01T00:00:00Z', { type: 'Opaque' })],
      error: /does not reference ServiceAccount/,
    },
  ])('--secret-name naming a Secret $name fails with an actionable error', ({ secrets, error }) => {
    expect(() =>
      planRemote(options({ token: { from: 'named-secret', name: 'picked' } }), {
        ...READY,
        tokenSecrets: secrets,
      }),
    ).toThrow(error);
  });

  it('--secret-name uses the named token Secret even when a newer one exists', () => {
    const plan = planRemote(options({ token: { from: 'named-secret', name: 'picked' } }), {
      ...READY,
      tokenSecrets: [token('picked', '2026-01-01T00:00:00Z'), token('newer', '2026-02-01T00:00:00Z')],
    });
    expect(plan.token).toEqual({ from: 'secret', name: 'picked', created: false });
  });
});
