import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admissionReview, secretObject } from '../../shared/admission/testdata/reviews.ts';
import { decideAdmission, type AdmissionOptions } from '../../shared/admission/decide.ts';
import { admissionReviewResponse, parseAdmissionReview } from '../../shared/admission/review.ts';
import { ClusterIdScope } from '../../shared/remote-secret/cluster-id-scope.ts';
import { kubeconfigVariant } from './generate.ts';

/**
 * Hostile AdmissionReview bodies through the webhook's whole pure path: parse (the JSON body
 * the HTTP layer already decoded), decide, render. Whatever arrives, it answers: either a
 * typed parse error (a 400 upstream) or a v1 response that echoes the uid, with a one-line,
 * bounded message and warnings; it never throws and never quotes a token. The HTTP layer's own
 * limits (body size, truncated JSON, content type) are tested over real TLS in webhook/.
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? '') > 0 ? Number(process.env['FUZZ_RUNS']) : 10_000;
const runs = (share: number): number => Math.max(200, Math.floor(RUNS / share));
const SEED = Number(process.env['FUZZ_SEED'] ?? '') > 0 ? Number(process.env['FUZZ_SEED']) : undefined;
const settings = (numRuns: number): fc.Parameters<unknown> =>
  SEED === undefined ? { numRuns } : { numRuns, seed: SEED };
const TIMEOUT_MS = Math.max(60_000, RUNS * 3);
const CANARY = 'CANARYxADMISSIONxTOKEN';

const TAKEN = new ClusterIdScope();
TAKEN.set({ namespace: 'istio-system', name: 'istio-remote-secret-taken', created: 0 }, ['taken']);
const OPTIONS: AdmissionOptions = {
  mode: 'enforce',
  allow: new Set(),
  localClusterId: 'primary',
  clusterIds: TAKEN,
};

/** Run the pure path as the server does and check the answer's invariants. */
function answer(body: unknown): void {
  const parsed = parseAdmissionReview(body);
  if (!parsed.ok) {
    expect(parsed.message.length).toBeGreaterThan(0);
    expect(parsed.message).not.toContain(CANARY);
    return;
  }
  for (const mode of ['enforce', 'warn', 'audit'] as const) {
    const decision = decideAdmission(parsed.request, { ...OPTIONS, mode });
    const envelope = admissionReviewResponse(decision.response);
    expect(envelope.response.uid).toBe(parsed.request.uid);
    expect(envelope.apiVersion).toBe('admission.k8s.io/v1');
    const text = JSON.stringify(envelope);
    expect(text).not.toContain(CANARY);
    for (const warning of decision.response.warnings ?? []) {
      expect(warning).not.toMatch(/[\n\r]/);
      expect(Array.from(warning).length).toBeLessThanOrEqual(256);
    }
  }
}

const anyJson = fc.jsonValue({ maxDepth: 6 });
const dataValue = fc.oneof(
  fc.string(),
  fc.base64String(),
  fc.constant(Buffer.from(`users: [{name: u, user: {token: ${CANARY}}}]`).toString('base64')),
  kubeconfigVariant.map((variant) =>
    Buffer.from(variant.text.replace(/token: \S+/g, `token: ${CANARY}`)).toString('base64'),
  ),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  anyJson,
);
const clusterId = fc.oneof(
  fc.constantFrom('east', 'primary', 'taken', '', '-bad', 'a/b'),
  fc.string({ maxLength: 80 }),
);
const secret = fc
  .record({
    data: fc.dictionary(clusterId, dataValue, { maxKeys: 4 }),
    stringData: fc.option(
      fc.dictionary(clusterId, fc.oneof(fc.string(), fc.constant(`token: ${CANARY}`)), { maxKeys: 3 }),
    ),
    labels: fc.oneof(
      fc.constant({ 'istio/multiCluster': 'true' }),
      fc.dictionary(fc.string({ maxLength: 20 }), anyJson, { maxKeys: 3 }),
    ),
  })
  .map(({ data, stringData, labels }) => {
    const object = secretObject({ labels: labels as Record<string, string> });
    return { ...object, data, ...(stringData === null ? {} : { stringData }) };
  });

describe('AdmissionReview path: hostile input never crashes, always answers', () => {
  it(
    'well-formed reviews of hostile secrets',
    () => {
      fc.assert(
        fc.property(
          secret,
          fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 'CONNECT'),
          fc.boolean(),
          (object, operation, dryRun) => {
            answer(admissionReview({ object, operation, dryRun }));
          },
        ),
        settings(runs(2)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'reviews with fields replaced by arbitrary JSON at any level',
    () => {
      const paths = fc.constantFrom(
        [],
        ['request'],
        ['request', 'uid'],
        ['request', 'operation'],
        ['request', 'object'],
        ['request', 'object', 'metadata'],
        ['request', 'object', 'data'],
        ['request', 'oldObject'],
        ['request', 'userInfo'],
        ['request', 'kind'],
        ['apiVersion'],
      );
      fc.assert(
        fc.property(paths, anyJson, (path, value) => {
          const review = admissionReview();
          if (path.length === 0) {
            answer(value);
            return;
          }
          let node: Record<string, unknown> = review;
          for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
          node[path.at(-1) ?? ''] = value;
          answer(review);
        }),
        settings(runs(2)),
      );
    },
    TIMEOUT_MS,
  );
});
