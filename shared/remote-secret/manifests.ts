import { decodeStandardBase64, withoutLineBreaks } from '../encoding/base64.ts';
import { readYaml, type YamlLimits } from '../yaml/parse.ts';
import { createdMillis } from './cluster-id-scope.ts';
import { MULTICLUSTER_LABEL, type RemoteCluster, type RemoteSecret } from './model.ts';
import { readRenewalPolicy } from './renewal.ts';
import { isRecord } from '../json.ts';

/** Manifest files may hold many Secrets (a `kubectl get -o yaml` List), each at most 1 MiB. */
export const MANIFEST_LIMITS: YamlLimits = {
  maxLength: 16 * 1024 * 1024,
  maxDepth: 64,
  maxAliasExpansion: 100_000,
};

export interface ManifestError {
  readonly source: string;
  readonly message: string;
}

export interface SkippedObject {
  readonly source: string;
  readonly kind: string;
  readonly name: string;
  readonly reason: string;
}

export interface ManifestReadResult {
  readonly secrets: RemoteSecret[];
  readonly skipped: SkippedObject[];
  readonly errors: ManifestError[];
}

/**
 * Read Secret manifests (multi-document YAML, JSON, or `kind: List`) and pick the multicluster
 * ones. Anything that cannot be read becomes an error entry for its document, never an
 * exception; other objects and Secrets without the label are skipped.
 */
export function readSecretManifests(text: string, file: string): ManifestReadResult {
  const result: ManifestReadResult = { secrets: [], skipped: [], errors: [] };
  const parsed = readYaml(text, { limits: MANIFEST_LIMITS, strict: false });
  if (!parsed.ok) {
    const where = parsed.violation.path === '' ? '' : ` (${parsed.violation.path})`;
    result.errors.push({ source: file, message: `${parsed.violation.message}${where}` });
    return result;
  }
  parsed.documents.forEach((document, index) => {
    const source = `${file}:${index}`;
    if (document === null || document === undefined) return; // an empty document, e.g. after a trailing ---
    readObject(document, source, result);
  });
  return result;
}

/**
 * Read one already-parsed object (a Secret, or a List of them), as `readSecretManifests` does for
 * each document. The admission webhook hands it the `object` of an AdmissionReview, so `check`
 * and the webhook see a Secret the same way.
 */
export function readRemoteSecretObject(object: unknown, source: string): ManifestReadResult {
  const result: ManifestReadResult = { secrets: [], skipped: [], errors: [] };
  readObject(object, source, result);
  return result;
}

function readObject(document: unknown, source: string, result: ManifestReadResult): void {
  if (!isRecord(document)) {
    result.errors.push({ source, message: 'this document is not a Kubernetes object (a mapping with kind)' });
    return;
  }
  const kind = document['kind'];
  if (typeof kind !== 'string' || kind === '') {
    result.errors.push({
      source,
      message: 'this document has no kind; check takes Secret manifests (kind: Secret or kind: List)',
    });
    return;
  }
  if (kind === 'List' || kind.endsWith('List')) {
    const items = document['items'];
    if (!Array.isArray(items)) {
      result.errors.push({ source, message: `this ${kind} has no items list` });
      return;
    }
    items.forEach((item, index) => {
      readObject(item, `${source}.items[${index}]`, result);
    });
    return;
  }
  const metadata = isRecord(document['metadata']) ? document['metadata'] : {};
  const name = stringOr(metadata['name'], stringOr(metadata['generateName'], ''));
  if (kind === 'Config' && document['clusters'] !== undefined) {
    result.errors.push({
      source,
      message:
        'this is a kubeconfig, not a Secret; check takes remote secret manifests (for example the output of `kubectl remote-secret create`)',
    });
    return;
  }
  if (kind !== 'Secret') {
    result.skipped.push({ source, kind, name, reason: 'not a Secret' });
    return;
  }
  const apiVersion = document['apiVersion'];
  if (apiVersion !== 'v1') {
    result.errors.push({
      source,
      message: `Secret ${name || '(unnamed)'} has apiVersion ${String(apiVersion)}; Secrets are apiVersion v1`,
    });
    return;
  }
  const labels = isRecord(metadata['labels']) ? metadata['labels'] : {};
  const label = labels[MULTICLUSTER_LABEL];
  if (label === true) {
    result.errors.push({
      source,
      message: `Secret ${name || '(unnamed)'}: the label ${MULTICLUSTER_LABEL} must be the string "true"; quote it`,
    });
    return;
  }
  if (label !== 'true') {
    result.skipped.push({ source, kind, name, reason: `no ${MULTICLUSTER_LABEL}: "true" label` });
    return;
  }
  if (name === '') {
    result.errors.push({ source, message: 'this Secret has no metadata.name' });
    return;
  }
  const clusters = readClusters(document, name, source, result);
  if (clusters === undefined) return;
  const annotations = isRecord(metadata['annotations']) ? metadata['annotations'] : {};
  const renewal = readRenewalPolicy(
    Object.fromEntries(
      Object.entries(annotations).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    ),
  );
  result.secrets.push({
    source,
    namespace: stringOr(metadata['namespace'], ''),
    name,
    created: createdMillis(metadata['creationTimestamp']),
    clusters,
    ...(renewal.renewable && 'policy' in renewal ? { renewal: renewal.policy } : {}),
  });
}

function readClusters(
  secret: Record<string, unknown>,
  name: string,
  source: string,
  result: ManifestReadResult,
): RemoteCluster[] | undefined {
  const byId = new Map<string, RemoteCluster>();
  for (const field of ['data', 'stringData'] as const) {
    const values = secret[field];
    if (values === undefined || values === null) continue;
    if (!isRecord(values)) {
      result.errors.push({ source, message: `Secret ${name}: ${field} must be a mapping of keys to values` });
      return undefined;
    }
    for (const [id, value] of Object.entries(values)) {
      if (typeof value !== 'string') {
        result.errors.push({ source, message: `Secret ${name}: ${field}.${id} must be a string` });
        return undefined;
      }
      // The API server merges stringData over data, key by key.
      byId.set(id, remoteCluster(id, field, value));
    }
  }
  return [...byId.values()];
}

/**
 * One cluster of a secret. The kubeconfig is decoded on first use: the webhook's review cache
 * answers a value it has seen before from the stored value alone.
 */
export function remoteCluster(id: string, field: RemoteCluster['field'], value: string): RemoteCluster {
  return new LazyRemoteCluster(id, field, value);
}

/**
 * A class, not an object literal with a `get kubeconfig()`: with the literal, each reviewed
 * Secret's data outlived its request until a full collection (measured, not explained by V8's
 * documentation: at 1,000 reviews/s 4 MB more old space a scavenge, and scavenges of 3.5-13 ms
 * instead of 0.3-0.5; docs/benchmarks.md). Being a class, the getter is on the prototype: a
 * spread, `JSON.stringify` or structured clone of a cluster has no `kubeconfig`.
 */
class LazyRemoteCluster implements RemoteCluster {
  #kubeconfig: RemoteCluster['kubeconfig'] | undefined;

  constructor(
    readonly id: string,
    readonly field: RemoteCluster['field'],
    readonly value: string,
  ) {}

  get kubeconfig(): RemoteCluster['kubeconfig'] {
    this.#kubeconfig ??=
      this.field === 'data' ? decodeBase64Text(this.value) : { ok: true, text: this.value };
    return this.#kubeconfig;
  }
}

/** Secret data is standard base64 of the kubeconfig bytes, which must be UTF-8 text. */
export function decodeBase64Text(value: string): RemoteCluster['kubeconfig'] {
  const bytes = decodeStandardBase64(withoutLineBreaks(value));
  if (bytes === undefined) return { ok: false, reason: 'the value is not valid base64' };
  return decodeText(bytes);
}

// Stateless between calls (no `stream` option), so one decoder serves every value.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function decodeText(bytes: Uint8Array, what = 'the value'): RemoteCluster['kubeconfig'] {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { ok: false, reason: `${what} is binary data, not UTF-8 text` };
  }
  if (text.includes('\u0000'))
    return { ok: false, reason: `${what} is binary data (it holds NUL bytes), not text` };
  return { ok: true, text };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
