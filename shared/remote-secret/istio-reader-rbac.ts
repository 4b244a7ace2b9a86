/** One rule of a ClusterRole, as the RBAC API writes it. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * The rules of Istio's reader ClusterRole, `istio-reader-clusterrole-<namespace>`, copied as data
 * from istio/istio `manifests/charts/istio-control/istio-discovery/templates/reader-clusterrole.yaml`
 * at tag 1.30.3 (commit 56df41f, identical on master 86c9f01 of 2026-08-22), rendered with the
 * chart's defaults: `MCS_API_GROUP` unset (so `multicluster.x-k8s.io`) and `istiodRemote.enabled`
 * false (the extra rules that mode adds are for an external istiod's config cluster, not for a
 * reader). Order and spelling are the chart's, so the object reads like the one Istio installs.
 * istioctl create-remote-secret renders this same template when it creates the reader.
 */
export const ISTIO_READER_RULES: readonly PolicyRule[] = [
  {
    apiGroups: [
      'config.istio.io',
      'security.istio.io',
      'networking.istio.io',
      'authentication.istio.io',
      'rbac.istio.io',
      'telemetry.istio.io',
      'extensions.istio.io',
    ],
    resources: ['*'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    apiGroups: [''],
    resources: [
      'endpoints',
      'pods',
      'services',
      'nodes',
      'replicationcontrollers',
      'namespaces',
      'secrets',
      'configmaps',
    ],
    verbs: ['get', 'list', 'watch'],
  },
  { apiGroups: ['networking.istio.io'], resources: ['workloadentries'], verbs: ['get', 'watch', 'list'] },
  {
    apiGroups: ['networking.x-k8s.io', 'gateway.networking.k8s.io'],
    resources: ['gateways'],
    verbs: ['get', 'watch', 'list'],
  },
  {
    apiGroups: ['apiextensions.k8s.io'],
    resources: ['customresourcedefinitions'],
    verbs: ['get', 'list', 'watch'],
  },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  {
    apiGroups: ['multicluster.x-k8s.io'],
    resources: ['serviceexports'],
    verbs: ['get', 'list', 'watch', 'create', 'delete'],
  },
  { apiGroups: ['multicluster.x-k8s.io'], resources: ['serviceimports'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** Istio's default reader ServiceAccount (base chart `reader-serviceaccount.yaml`). */
export const READER_SERVICE_ACCOUNT = 'istio-reader-service-account';
/** The ServiceAccount istioctl defaults to for `--type config` (an external istiod's identity). */
export const CONFIG_SERVICE_ACCOUNT = 'istiod';

/** The chart names the ClusterRole and its binding after the release namespace (no revision). */
export function readerClusterRoleName(namespace: string): string {
  return `istio-reader-clusterrole-${namespace}`;
}

/**
 * The binding for Istio's own reader account keeps the chart's name, so an Istio install finds
 * it in place; any other account gets its own binding rather than a change to Istio's.
 */
export function readerClusterRoleBindingName(namespace: string, serviceAccount: string): string {
  const role = readerClusterRoleName(namespace);
  return serviceAccount === READER_SERVICE_ACCOUNT ? role : `${role}-${serviceAccount}`;
}

/** One permission to ask a SelfSubjectAccessReview about. */
export interface ResourcePermission {
  readonly group: string;
  readonly resource: string;
  readonly verb: string;
}

/**
 * Every (group, resource, verb) the reader rules grant, in rule order, without repeats: what
 * `verify` asks the remote API server about. A `*` resource is asked as `*`, which RBAC grants
 * only to a rule that names `*` itself, exactly as Istio's rule does.
 */
export function readerPermissions(rules: readonly PolicyRule[] = ISTIO_READER_RULES): ResourcePermission[] {
  const seen = new Set<string>();
  const permissions: ResourcePermission[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) {
          const key = `${group}/${resource}/${verb}`;
          if (seen.has(key)) continue;
          seen.add(key);
          permissions.push({ group, resource, verb });
        }
      }
    }
  }
  return permissions;
}

/** Whether `existing` grants at least what each of `wanted` does, rule by rule (list order ignored). */
export function coversRules(existing: readonly PolicyRule[], wanted: readonly PolicyRule[]): boolean {
  return wanted.every((rule) =>
    existing.some(
      (have) =>
        includesAll(have.apiGroups, rule.apiGroups) &&
        (have.resources.includes('*') || includesAll(have.resources, rule.resources)) &&
        (have.verbs.includes('*') || includesAll(have.verbs, rule.verbs)),
    ),
  );
}

function includesAll(have: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((item) => have.includes(item));
}
