import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildRemoteSecret, renderRemoteKubeconfig, type RemoteAuth } from '../shared/remote-secret/build.ts';
import { decideRemoteSecrets } from '../shared/remote-secret/decide.ts';
import { readRemoteSecretObject, readSecretManifests } from '../shared/remote-secret/manifests.ts';
import { planRemote } from '../shared/remote-secret/plan.ts';
import { renderDryRun, renderSecret } from './render-create.ts';
import { FIXTURE_CA_DATA } from '../test/testdata/pki/fixture-ca.ts';
import { GOLDEN_PLACEHOLDERS } from './testdata/placeholders.ts';

const GOLDEN = new URL('./testdata/golden/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

/**
 * Compare with a golden file, or rewrite it when UPDATE_GOLDEN=1. Rendering needs a CA that
 * parses; the golden files hold the placeholder instead, as the end-to-end test writes them.
 */
function golden(name: string, rendered: string): void {
  const actual = rendered.replaceAll(FIXTURE_CA_DATA, GOLDEN_PLACEHOLDERS.caData);
  const file = new URL(name, GOLDEN);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

function secret(options: { type?: 'remote' | 'config'; auth?: RemoteAuth } = {}) {
  const kubeconfig = renderRemoteKubeconfig({
    clusterId: 'east',
    server: GOLDEN_PLACEHOLDERS.server,
    caData: FIXTURE_CA_DATA,
    auth: options.auth ?? { kind: 'bearer-token', token: GOLDEN_PLACEHOLDERS.token },
  });
  if (!kubeconfig.ok) throw new Error('kubeconfig refused');
  return buildRemoteSecret({
    type: options.type ?? 'remote',
    clusterId: 'east',
    namespace: 'istio-system',
    kubeconfig: kubeconfig.text,
  });
}

describe('create output format (golden files)', () => {
  it.each([
    { file: 'create-remote.yaml', format: 'yaml' as const, options: {} },
    { file: 'create-remote.json', format: 'json' as const, options: {} },
    { file: 'create-config.yaml', format: 'yaml' as const, options: { type: 'config' as const } },
    {
      file: 'create-plugin-oidc.yaml',
      format: 'yaml' as const,
      options: {
        auth: {
          kind: 'plugin' as const,
          name: 'oidc',
          config: {
            'client-id': 'istiod',
            'idp-issuer-url': 'https://issuer.example',
            'id-token': 'ID-TOKEN',
          },
        },
      },
    },
  ])('$file', ({ file, format, options }) => {
    golden(file, renderSecret(secret(options), format));
  });

  function dryRun(format: 'yaml' | 'json'): string {
    const plan = planRemote(
      {
        namespace: 'istio-system',
        serviceAccount: 'istio-reader-service-account',
        createServiceAccount: true,
        token: { from: 'existing-or-new-secret' },
        retireOld: false,
        now: new Date('2026-01-01T00:00:00.000Z'),
      },
      {
        namespaceExists: false,
        serviceAccountExists: false,
        clusterRole: undefined,
        clusterRoleBinding: undefined,
        tokenSecrets: [],
      },
    );
    return renderDryRun(
      {
        context: 'east',
        server: GOLDEN_PLACEHOLDERS.server,
        create: plan.create,
        retire: ['old-token'],
        namespace: 'istio-system',
        secret: secret({ auth: { kind: 'placeholder' } }),
      },
      format,
    );
  }

  it.each(['yaml', 'json'] as const)(
    'create-dry-run.%s: every object for the remote, then the secret for the primary',
    (format) => {
      golden(`create-dry-run.${format}`, dryRun(format));
    },
  );

  it('dry run YAML: kubectl apply of it can only create the remote objects, never the secret', () => {
    const read = readSecretManifests(dryRun('yaml'), 'dry-run.yaml');
    expect(read.errors).toEqual([]);
    expect(read.secrets).toEqual([]);
    expect(read.skipped.map((object) => object.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Secret',
    ]);
    expect(read.skipped.at(-1)?.reason).toBe('no istio/multiCluster: "true" label');
  });

  it("dry run JSON: the primary's secret never passes check's decision (placeholder-token)", () => {
    const document = JSON.parse(dryRun('json')) as { primary: { secret: unknown } };
    const read = readRemoteSecretObject(document.primary.secret, 'dry-run.json');
    const decisions = decideRemoteSecrets(read.secrets, { allow: new Set() });
    expect(decisions.map((decision) => decision.violations.map((found) => found.code))).toEqual([
      ['placeholder-token'],
    ]);
  });
});
