/**
 * The PolicyReport CRD as the Policy WG publishes it (wgpolicyk8s.io, v1alpha2, the schema Kyverno
 * ships in config/crds/policyreport), trimmed of descriptions and of the selector fields we do
 * not write. Structural, so the API server prunes any field of ours the schema does not know.
 */
export const POLICY_REPORT_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'policyreports.wgpolicyk8s.io' },
  spec: {
    group: 'wgpolicyk8s.io',
    names: {
      kind: 'PolicyReport',
      listKind: 'PolicyReportList',
      plural: 'policyreports',
      singular: 'policyreport',
      shortNames: ['polr'],
    },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1alpha2',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              scope: objectReference(),
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['policy'],
                  properties: {
                    source: { type: 'string' },
                    policy: { type: 'string' },
                    rule: { type: 'string' },
                    category: { type: 'string' },
                    severity: { type: 'string', enum: ['critical', 'high', 'low', 'medium', 'info'] },
                    timestamp: {
                      type: 'object',
                      required: ['nanos', 'seconds'],
                      properties: {
                        nanos: { type: 'integer', format: 'int32' },
                        seconds: { type: 'integer', format: 'int64' },
                      },
                    },
                    result: { type: 'string', enum: ['pass', 'fail', 'warn', 'error', 'skip'] },
                    scored: { type: 'boolean' },
                    resources: { type: 'array', items: objectReference() },
                    message: { type: 'string' },
                    properties: { type: 'object', additionalProperties: { type: 'string' } },
                  },
                },
              },
              summary: {
                type: 'object',
                properties: Object.fromEntries(
                  ['error', 'fail', 'pass', 'skip', 'warn'].map((key) => [key, { type: 'integer' }]),
                ),
              },
            },
          },
        },
      },
    ],
  },
};

function objectReference() {
  return {
    type: 'object',
    'x-kubernetes-map-type': 'atomic',
    properties: Object.fromEntries(
      ['apiVersion', 'fieldPath', 'kind', 'name', 'namespace', 'resourceVersion', 'uid'].map((key) => [
        key,
        { type: 'string' },
      ]),
    ),
  };
}
