import { isRecord } from '../json.ts';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import type { ClusterIdScope } from '../remote-secret/cluster-id-scope.ts';
import { decideRemoteSecret, type ClusterDecision } from '../remote-secret/decide.ts';
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
}

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
    response = {
      uid: request.uid,
      allowed: false,
      status: { code: 403, reason: 'Forbidden', message: renderDenialMessage(ref, rejected) },
      auditAnnotations,
    };
  } else if (verdict === 'warned') {
    response = { uid: request.uid, allowed: true, warnings: renderWarnings(ref, rejected), auditAnnotations };
  } else {
    response = { uid: request.uid, allowed: true, auditAnnotations };
  }
  return { response, verdict, secret: ref, clusters };
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
