import { readFileSync } from 'node:fs';
import type { ViolationCode } from '../../violations.ts';

/** Builders for AdmissionReview requests as the API server sends them (Secret data is base64). */

export function kubeconfigFixture(name: string): string {
  return readFileSync(new URL(`kubeconfigs/${name}.yaml`, import.meta.url), 'utf8');
}

export interface SecretSpec {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  /** cluster ID -> kubeconfig text; sent base64 in `data`. */
  readonly data?: Record<string, string>;
  /** Raw `data` values, for values that are not base64 of text. */
  readonly rawData?: Record<string, unknown>;
  readonly stringData?: Record<string, string>;
  readonly deletionTimestamp?: string;
}

export function secretObject(spec: SecretSpec = {}): Record<string, unknown> {
  const data: Record<string, unknown> = { ...spec.rawData };
  for (const [id, text] of Object.entries(spec.data ?? {})) data[id] = Buffer.from(text).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: spec.name ?? 'istio-remote-secret-east',
      namespace: spec.namespace ?? 'istio-system',
      uid: '7d0f3b1e-0000-4000-8000-000000000001',
      labels: spec.labels ?? { 'istio/multiCluster': 'true' },
      annotations: { 'networking.istio.io/cluster': 'east' },
      ...(spec.deletionTimestamp === undefined ? {} : { deletionTimestamp: spec.deletionTimestamp }),
    },
    data,
    ...(spec.stringData === undefined ? {} : { stringData: spec.stringData }),
  };
}

export interface ReviewSpec {
  readonly uid?: string;
  readonly operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
  readonly resource?: string;
  readonly name?: string;
  /** userInfo.username; what a forger sets to anyone it likes. */
  readonly user?: string;
}

export function admissionReview(spec: ReviewSpec = {}): Record<string, unknown> {
  const object = spec.object === undefined ? secretObject() : spec.object;
  const metadata = (object as { metadata?: { name?: string; namespace?: string } } | null | undefined)
    ?.metadata;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: spec.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Secret' },
      resource: { group: '', version: 'v1', resource: spec.resource ?? 'secrets' },
      requestKind: { group: '', version: 'v1', kind: 'Secret' },
      requestResource: { group: '', version: 'v1', resource: spec.resource ?? 'secrets' },
      name: spec.name ?? metadata?.name ?? '',
      namespace: metadata?.namespace ?? 'istio-system',
      operation: spec.operation ?? 'CREATE',
      userInfo: {
        username: spec.user ?? 'jane@example.com', uid: 'u-1', groups: ['system:authenticated'], extra: {} },
      object: spec.operation === 'DELETE' ? null : object,
      oldObject: spec.oldObject ?? null,
      dryRun: spec.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** The codes a remote secret gets for its keys or its shape; every other comes from a kubeconfig. */
export type SecretLevelCode =
  | 'invalid-secret'
  | 'invalid-cluster-id'
  | 'local-cluster-id'
  | 'duplicate-cluster-id'
  | 'cluster-id-unverified';
export type KubeconfigCode = Exclude<ViolationCode, SecretLevelCode>;

const fixture = (code: KubeconfigCode) => () => kubeconfigFixture(code);

/**
 * A kubeconfig text for each violation code that comes from the kubeconfig itself. Keyed by the
 * code type, so a new code without a fixture does not compile.
 */
export const KUBECONFIG_CODES: Readonly<Record<KubeconfigCode, () => string>> = {
  'input-too-large': () => `# ${'x'.repeat(1024 * 1024)}\n`,
  'yaml-syntax': fixture('yaml-syntax'),
  'yaml-too-deep': fixture('yaml-too-deep'),
  'yaml-alias-limit': fixture('yaml-alias-limit'),
  'ambiguous-yaml': fixture('ambiguous-yaml'),
  'empty-kubeconfig': fixture('empty-kubeconfig'),
  'invalid-kubeconfig': fixture('invalid-kubeconfig'),
  'no-current-context': fixture('no-current-context'),
  exec: fixture('exec'),
  'token-file': fixture('token-file'),
  'client-key': fixture('client-key'),
  'client-certificate': fixture('client-certificate'),
  'auth-provider': fixture('auth-provider'),
  'certificate-authority-file': fixture('certificate-authority-file'),
  'placeholder-token': fixture('placeholder-token'),
};
