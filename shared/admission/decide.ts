import { isRecord } from '../json.ts';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import type { ClusterIdScope } from '../remote-secret/cluster-id-scope.ts';
import {
  claimedClusterIds,
  decideRemoteSecret,
  isClusterId,
  type ClusterDecision,
} from '../remote-secret/decide.ts';
import { join } from '../kubeconfig/read.ts';
import type { RemoteSecret } from '../remote-secret/model.ts';
import { readRemoteSecretObject } from '../remote-secret/manifests.ts';
import type { ReviewCache } from '../remote-secret/review-cache.ts';
import { MULTICLUSTER_LABEL, secretRef } from '../remote-secret/model.ts';
import { violation, type Violation, type ViolationCode } from '../violations.ts';
import { renderAuditAnnotations, renderDenialMessage, renderWarnings } from './render.ts';
import type { AdmissionRequest, AdmissionResponse } from './review.ts';

/**
 * What to do with a remote secret that has violations, as ValidatingAdmissionPolicy's actions:
 * `enforce` denies it, `warn` admits it with warnings kubectl prints, `audit` admits it and only
 * records. Every mode records (audit annotations, and the webhook's log, Event and metrics).
 */
export type AdmissionMode = 'enforce' | 'warn' | 'audit';
export const ADMISSION_MODES: readonly AdmissionMode[] = ['enforce', 'warn', 'audit'];

export interface AdmissionOptions {
  readonly mode: AdmissionMode;
  readonly allow: AllowList;
  /** The primary's own cluster ID (istiod's CLUSTER_ID). */
  readonly localClusterId?: string | undefined;
  /** The webhook's memory of reviewed values, by content hash. */
  readonly cache?: ReviewCache | undefined;
  /** The stored claimants of each cluster ID, per namespace, as the informer sees them. */
  readonly clusterIds: ClusterIdScope;
  /**
   * How long the index of a namespace has been stale past what the webhook tolerates
   * (milliseconds its watch has been failing), or undefined while it can be trusted. While it is
   * stale, a claim on a cluster ID that the stored secret did not already hold cannot be checked
   * against the other claimants, and is refused as retryable (`cluster-id-unverified`, ADR 0003).
   */
  readonly staleIndex?: ((namespace: string) => number | undefined) | undefined;
}

/** What a refusal for a stale index asks kubectl to wait before it retries by itself. */
export const STALE_INDEX_RETRY_AFTER_SECONDS = 3;

/**
 * `skipped`: not ours to judge (another operation, resource or an unlabelled Secret);
 * `allowed`: checked and clean; the other three: checked, with violations, per the mode.
 */
export type Verdict = 'skipped' | 'allowed' | 'rejected' | 'warned' | 'audited';

export interface AdmissionDecision {
  readonly response: AdmissionResponse;
  readonly verdict: Verdict;
  /** Why a request was skipped, for debug logs. */
  readonly skipReason?: string;
  /** `namespace/name` of the secret that was checked. */
  readonly secret?: string;
  /** One entry per cluster of the secret, clean ones included. */
  readonly clusters: readonly ClusterDecision[];
}

/**
 * Decide one admission request: pure, no I/O, the same shared decision `check` makes. A Secret
 * is checked on CREATE and UPDATE when it carries `istio/multiCluster: "true"` (the label
 * istiod's secret controller selects on); everything else is allowed untouched.
 */
export function decideAdmission(request: AdmissionRequest, options: AdmissionOptions): AdmissionDecision {
  const skip = (skipReason: string): AdmissionDecision => ({
    response: { uid: request.uid, allowed: true },
    verdict: 'skipped',
    skipReason,
    clusters: [],
  });
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
    return skip(`operation ${request.operation}`);
  }
  if (
    request.resource.group !== '' ||
    request.resource.resource !== 'secrets' ||
    request.subResource !== ''
  ) {
    return skip('not a Secret');
  }
  const object = request.object;
  if (!isRecord(object)) return skip('no object');
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  const labels = isRecord(metadata['labels']) ? metadata['labels'] : {};
  // An UPDATE that drops the label reaches us too (the old object matched); istiod forgets it.
  if (labels[MULTICLUSTER_LABEL] !== 'true') return skip(`no ${MULTICLUSTER_LABEL}: "true" label`);
  // Finalizers must be removable from a secret that is being deleted, whatever it holds.
  if (request.operation === 'UPDATE' && typeof metadata['deletionTimestamp'] === 'string') {
    return skip('being deleted');
  }

  const namespace = typeof metadata['namespace'] === 'string' ? metadata['namespace'] : request.namespace;
  const read = readRemoteSecretObject({ ...object, metadata: { ...metadata, namespace } }, 'admission');
  const secret = read.secrets[0];
  let ref: string;
  let clusters: ClusterDecision[];
  if (secret === undefined) {
    // The API server validates Secrets before validating webhooks run, so this is defensive.
    ref = secretRef({ namespace, name: request.name });
    const reason = read.errors[0]?.message ?? 'the object is not a readable Secret';
    clusters = [
      {
        source: 'admission',
        secret: ref,
        cluster: '',
        allowed: false,
        violations: [violation('invalid-secret', '', reason, 'send a v1 Secret with string data values')],
        kubeconfig: undefined,
      },
    ];
  } else {
    ref = secretRef(secret);
    clusters = decideRemoteSecret(secret, options);
    const staleForMs = options.staleIndex?.(namespace);
    if (staleForMs !== undefined) {
      clusters = unverifiedClaims(secret, clusters, heldBefore(request), staleForMs);
    }
  }

  const rejected = clusters.filter((cluster) => !cluster.allowed);
  if (rejected.length === 0) {
    return { response: { uid: request.uid, allowed: true }, verdict: 'allowed', secret: ref, clusters };
  }
  const verdict: Verdict =
    options.mode === 'enforce' ? 'rejected' : options.mode === 'warn' ? 'warned' : 'audited';
  const auditAnnotations = renderAuditAnnotations(verdict, options.mode, rejected);
  let response: AdmissionResponse;
  if (verdict === 'rejected') {
    // Refused only because the index is stale: a 503 with Retry-After, which kubectl retries.
    const retryable = violationsOf(rejected).every(
      ({ violation: found }) => found.code === 'cluster-id-unverified',
    );
    const message = renderDenialMessage(ref, rejected, { retryable });
    response = {
      uid: request.uid,
      allowed: false,
      status: retryable
        ? {
            code: 503,
            reason: 'ServiceUnavailable',
            message,
            details: { retryAfterSeconds: STALE_INDEX_RETRY_AFTER_SECONDS },
          }
        : { code: 403, reason: 'Forbidden', message },
      auditAnnotations,
    };
  } else if (verdict === 'warned') {
    response = { uid: request.uid, allowed: true, warnings: renderWarnings(ref, rejected), auditAnnotations };
  } else {
    response = { uid: request.uid, allowed: true, auditAnnotations };
  }
  return { response, verdict, secret: ref, clusters };
}

/**
 * The cluster IDs the stored version of the secret already claims (the old object of an UPDATE
 * that carried the label): an update that keeps them claims nothing new, so a stale index
 * cannot make it wrong, and rotating a token keeps working while the watch is down.
 */
function heldBefore(request: AdmissionRequest): ReadonlySet<string> {
  if (request.operation !== 'UPDATE' || !isRecord(request.oldObject)) return new Set();
  const metadata = isRecord(request.oldObject['metadata']) ? request.oldObject['metadata'] : {};
  const labels = isRecord(metadata['labels']) ? metadata['labels'] : {};
  if (labels[MULTICLUSTER_LABEL] !== 'true') return new Set();
  const stored = readRemoteSecretObject(request.oldObject, 'admission').secrets[0];
  return new Set(stored === undefined ? [] : claimedClusterIds(stored));
}

/** Add `cluster-id-unverified` to each new claim the stale index cannot check. */
function unverifiedClaims(
  secret: RemoteSecret,
  clusters: ClusterDecision[],
  held: ReadonlySet<string>,
  staleForMs: number,
): ClusterDecision[] {
  return clusters.map((decision, index) => {
    const cluster = secret.clusters[index];
    if (cluster === undefined || held.has(cluster.id) || !isClusterId(cluster.id)) return decision;
    if (decision.violations.some((found) => found.code === 'duplicate-cluster-id')) return decision;
    const unverified = violation(
      'cluster-id-unverified',
      join(cluster.field, cluster.id),
      `cannot check that no other secret claims cluster ID "${cluster.id}": the webhook has not seen the remote secrets of namespace ${secret.namespace || '(none)'} for ${String(Math.round(staleForMs / 1000))} s (its watch of the API server is failing)`,
      'apply again in a moment (kubectl retries by itself for a while); the claim is checked once the webhook reconnects (remote_secret_webhook_index_watch_up is 1). Updates that keep the cluster IDs a secret already has are not affected',
    );
    return { ...decision, allowed: false, violations: [...decision.violations, unverified] };
  });
}

/** Every violation with its cluster, in the stable order the decision reported them. */
export function violationsOf(
  clusters: readonly ClusterDecision[],
): { readonly cluster: string; readonly violation: Violation }[] {
  return clusters.flatMap((cluster) =>
    cluster.violations.map((found) => ({ cluster: cluster.cluster, violation: found })),
  );
}

/** The distinct violation codes, in order of first appearance. */
export function violationCodes(clusters: readonly ClusterDecision[]): ViolationCode[] {
  return [...new Set(violationsOf(clusters).map(({ violation: found }) => found.code))];
}
