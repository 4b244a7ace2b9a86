import { describe, expect, it } from 'vitest';
import { describeNeed, permissionsToRead, permissionsToWrite, type CreateRequest } from './permissions.ts';
import { planRemote, type RemoteFacts } from './plan.ts';

const DEFAULTS: CreateRequest = {
  namespace: 'istio-system',
  serviceAccount: 'istio-reader-service-account',
  createServiceAccount: true,
  token: { from: 'existing-or-new-secret' },
  retireOld: false,
  clusterIdGiven: false,
  caFromCluster: true,
};
const short = (request: CreateRequest, needs = permissionsToRead(request)) =>
  needs.map((need) => describeNeed(need).split(':')[0]);

describe('the permissions create needs', () => {
  it.each([
    {
      name: 'defaults',
      request: DEFAULTS,
      reads: [
        'get namespaces kube-system',
        'get serviceaccounts istio-reader-service-account in namespace istio-system',
        'get namespaces istio-system',
        'get clusterroles.rbac.authorization.k8s.io istio-reader-clusterrole-istio-system',
        'get clusterrolebindings.rbac.authorization.k8s.io istio-reader-clusterrole-istio-system',
        'list secrets in namespace istio-system',
      ],
    },
    {
      // istioctl's least-privilege mode: only what it touches in the namespace.
      name: '--create-service-account=false --secret-name --name',
      request: {
        ...DEFAULTS,
        createServiceAccount: false,
        token: { from: 'named-secret' as const, name: 'reader-token' },
        clusterIdGiven: true,
      },
      reads: [
        'get serviceaccounts istio-reader-service-account in namespace istio-system',
        'get secrets reader-token in namespace istio-system',
      ],
    },
    {
      name: 'an auth provider (no ServiceAccount) with --name',
      request: { ...DEFAULTS, token: { from: 'none' as const }, clusterIdGiven: true },
      reads: [],
    },
    {
      name: '--token-duration --renew --name',
      request: {
        ...DEFAULTS,
        token: { from: 'token-request' as const, seconds: 3600 },
        renew: true,
        clusterIdGiven: true,
      },
      reads: [
        'get serviceaccounts istio-reader-service-account in namespace istio-system',
        'get namespaces istio-system',
        'get clusterroles.rbac.authorization.k8s.io istio-reader-clusterrole-istio-system',
        'get clusterrolebindings.rbac.authorization.k8s.io istio-reader-clusterrole-istio-system',
        'get roles.rbac.authorization.k8s.io istio-reader-service-account-token-renewer in namespace istio-system',
        'get rolebindings.rbac.authorization.k8s.io istio-reader-service-account-token-renewer in namespace istio-system',
      ],
    },
  ])('reads ($name)', ({ request, reads }) => {
    expect(short(request)).toEqual(reads);
  });

  const NOTHING: RemoteFacts = {
    namespaceExists: false,
    serviceAccountExists: false,
    clusterRole: undefined,
    clusterRoleBinding: undefined,
    tokenSecrets: [],
  };
  const EVERYTHING: RemoteFacts = {
    namespaceExists: true,
    serviceAccountExists: true,
    clusterRole: { coversReaderRules: true },
    clusterRoleBinding: { bindsServiceAccount: true },
    tokenSecrets: [
      {
        name: 'reader-token',
        serviceAccount: 'istio-reader-service-account',
        type: 'kubernetes.io/service-account-token',
        created: new Date('2026-01-01T00:00:00Z'),
        deleting: false,
      },
    ],
  };
  const plan = (request: CreateRequest, facts: RemoteFacts) =>
    planRemote({ ...request, now: new Date() }, facts);

  it.each([
    {
      name: 'a bare remote',
      request: DEFAULTS,
      facts: NOTHING,
      writes: [
        'create namespaces',
        'create serviceaccounts in namespace istio-system',
        'create clusterroles.rbac.authorization.k8s.io',
        'create clusterrolebindings.rbac.authorization.k8s.io',
        'create secrets in namespace istio-system',
        'list secrets in namespace istio-system',
        'watch secrets in namespace istio-system',
        'get secrets in namespace istio-system',
      ],
    },
    {
      name: 'a remote that has it all: a get of the token, nothing else',
      request: DEFAULTS,
      facts: EVERYTHING,
      writes: ['get secrets reader-token in namespace istio-system'],
    },
    {
      name: '--token-duration',
      request: { ...DEFAULTS, token: { from: 'token-request' as const, seconds: 3600 } },
      facts: EVERYTHING,
      writes: [
        'create serviceaccounts/token istio-reader-service-account in namespace istio-system',
        'get configmaps kube-root-ca.crt in namespace istio-system',
      ],
    },
    {
      name: '--retire-old',
      request: { ...DEFAULTS, token: { from: 'new-secret' as const }, retireOld: true },
      facts: EVERYTHING,
      writes: [
        'create secrets in namespace istio-system',
        'list secrets in namespace istio-system',
        'watch secrets in namespace istio-system',
        'get secrets in namespace istio-system',
        'delete secrets reader-token in namespace istio-system',
      ],
    },
    {
      name: '--token-duration --renew on a remote without the renewer',
      request: { ...DEFAULTS, token: { from: 'token-request' as const, seconds: 3600 }, renew: true },
      facts: EVERYTHING,
      writes: [
        'create roles.rbac.authorization.k8s.io in namespace istio-system',
        'create rolebindings.rbac.authorization.k8s.io in namespace istio-system',
        'create serviceaccounts/token istio-reader-service-account in namespace istio-system',
        'get configmaps kube-root-ca.crt in namespace istio-system',
      ],
    },
    {
      name: '--token-duration --renew on a remote that has the renewer: the TokenRequest only',
      request: { ...DEFAULTS, token: { from: 'token-request' as const, seconds: 3600 }, renew: true },
      facts: {
        ...EVERYTHING,
        renewerRole: { grantsOwnToken: true },
        renewerRoleBinding: { bindsServiceAccount: true },
      },
      writes: [
        'create serviceaccounts/token istio-reader-service-account in namespace istio-system',
        'get configmaps kube-root-ca.crt in namespace istio-system',
      ],
    },
  ])('writes for $name', ({ request, facts, writes }) => {
    expect(short(request, permissionsToWrite(request, plan(request, facts)))).toEqual(writes);
  });

  it('without a plan (the reads were refused), every create it might make, marked "if missing"', () => {
    const needs = permissionsToWrite(DEFAULTS);
    expect(needs.filter((need) => need.verb === 'create').map((need) => need.resource)).toEqual([
      'namespaces',
      'serviceaccounts',
      'clusterroles',
      'clusterrolebindings',
      'secrets',
    ]);
    expect(needs.every((need) => need.verb !== 'create' || need.why.endsWith('(if missing)'))).toBe(true);
  });

  it('with --renew, the worst case adds the Role and RoleBinding, in the namespace', () => {
    const needs = permissionsToWrite({
      ...DEFAULTS,
      token: { from: 'token-request', seconds: 3600 },
      renew: true,
    });
    expect(
      short(
        DEFAULTS,
        needs.filter((need) => need.verb === 'create'),
      ),
    ).toEqual([
      'create namespaces',
      'create serviceaccounts in namespace istio-system',
      'create clusterroles.rbac.authorization.k8s.io',
      'create clusterrolebindings.rbac.authorization.k8s.io',
      'create roles.rbac.authorization.k8s.io in namespace istio-system',
      'create rolebindings.rbac.authorization.k8s.io in namespace istio-system',
      'create serviceaccounts/token istio-reader-service-account in namespace istio-system',
    ]);
  });
});
