import { describe, expect, it } from 'vitest';
import {
  coversRules,
  ISTIO_READER_RULES,
  readerClusterRoleBindingName,
  readerClusterRoleName,
  readerPermissions,
  type PolicyRule,
} from './istio-reader-rbac.ts';

describe("Istio's reader ClusterRole", () => {
  it('grants reads only, plus the writes Istio documents (MCS serviceexports, token and access reviews)', () => {
    const writes = readerPermissions().filter(
      (permission) => !['get', 'list', 'watch'].includes(permission.verb),
    );
    expect(writes).toEqual([
      { group: 'multicluster.x-k8s.io', resource: 'serviceexports', verb: 'create' },
      { group: 'multicluster.x-k8s.io', resource: 'serviceexports', verb: 'delete' },
      { group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' },
      { group: 'authorization.k8s.io', resource: 'subjectaccessreviews', verb: 'create' },
    ]);
  });

  it('has the eleven rules of the 1.30 chart', () => {
    expect(ISTIO_READER_RULES).toHaveLength(11);
    expect(ISTIO_READER_RULES[1]?.resources).toEqual([
      'endpoints',
      'pods',
      'services',
      'nodes',
      'replicationcontrollers',
      'namespaces',
      'secrets',
      'configmaps',
    ]);
  });

  it('lists each permission once (workloadentries repeats the networking.istio.io wildcard rule)', () => {
    const keys = readerPermissions().map((p) => `${p.group}/${p.resource}/${p.verb}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('networking.istio.io/*/list');
    expect(keys).toContain('networking.istio.io/workloadentries/watch');
  });

  it.each([
    {
      namespace: 'istio-system',
      account: 'istio-reader-service-account',
      binding: 'istio-reader-clusterrole-istio-system',
    },
    { namespace: 'istio-system', account: 'istiod', binding: 'istio-reader-clusterrole-istio-system-istiod' },
    { namespace: 'mesh', account: 'istio-reader-service-account', binding: 'istio-reader-clusterrole-mesh' },
  ])(
    'names the role after the namespace and the binding of $account $binding',
    ({ namespace, account, binding }) => {
      expect(readerClusterRoleName(namespace)).toBe(`istio-reader-clusterrole-${namespace}`);
      expect(readerClusterRoleBindingName(namespace, account)).toBe(binding);
    },
  );
});

describe('coversRules', () => {
  const wanted: PolicyRule[] = [{ apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list'] }];

  it.each([
    { name: 'the same rule', existing: wanted, covered: true },
    {
      name: 'the lists in another order',
      existing: [{ apiGroups: [''], resources: ['services', 'pods'], verbs: ['list', 'get'] }],
      covered: true,
    },
    { name: 'wildcards', existing: [{ apiGroups: [''], resources: ['*'], verbs: ['*'] }], covered: true },
    {
      name: 'a verb missing',
      existing: [{ apiGroups: [''], resources: ['pods', 'services'], verbs: ['get'] }],
      covered: false,
    },
    {
      name: 'split across rules',
      existing: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      covered: false,
    },
    {
      name: 'another group',
      existing: [{ apiGroups: ['apps'], resources: ['pods', 'services'], verbs: ['get', 'list'] }],
      covered: false,
    },
    { name: 'no rules', existing: [], covered: false },
  ])('$name: $covered', ({ existing, covered }) => {
    expect(coversRules(existing, wanted)).toBe(covered);
  });

  it("Istio's own rules cover themselves", () => {
    expect(coversRules(ISTIO_READER_RULES, ISTIO_READER_RULES)).toBe(true);
  });
});
