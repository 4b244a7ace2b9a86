import { describe, expect, it } from 'vitest';
import { ClusterIdScope } from '../remote-secret/cluster-id-scope.ts';
import { VIOLATION_CODES, type ViolationCode } from '../violations.ts';
import { ADMISSION_MODES, decideAdmission, violationCodes, type AdmissionOptions } from './decide.ts';
import { admissionReviewResponse, parseAdmissionReview, type AdmissionRequest } from './review.ts';
import {
  admissionReview,
  KUBECONFIG_CODES,
  kubeconfigFixture,
  secretObject,
  type ReviewSpec,
  type SecretLevelCode,
} from './testdata/reviews.ts';

const CLEAN = kubeconfigFixture('clean');

function request(spec: ReviewSpec = {}): AdmissionRequest {
  const parsed = parseAdmissionReview(admissionReview(spec));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.request;
}

/** The scope as the informer fills it: `istio-system/west-owner` holds "west". */
function westOwner(): ClusterIdScope {
  const scope = new ClusterIdScope();
  scope.set({ namespace: 'istio-system', name: 'west-owner', created: Date.UTC(2025, 0, 1) }, ['west']);
  return scope;
}
function options(overrides: Partial<AdmissionOptions> = {}): AdmissionOptions {
  return {
    mode: 'enforce',
    allow: new Set(),
    localClusterId: 'primary',
    clusterIds: westOwner(),
    ...overrides,
  };
}

/** One secret per code, sent the way the API server sends it; keyed by the code type. */
const SECRET_CASES: Record<SecretLevelCode, ReviewSpec> = {
  'invalid-cluster-id': { object: secretObject({ data: { '-east': CLEAN } }) },
  'local-cluster-id': { object: secretObject({ data: { primary: CLEAN } }) },
  'duplicate-cluster-id': { object: secretObject({ data: { west: CLEAN } }) },
  'invalid-secret': { object: secretObject({ rawData: { east: 42 } }) },
  // A claim the stored version did not hold ("east" is), while the index is stale.
  'cluster-id-unverified': { object: secretObject({ data: { north: CLEAN } }) },
};
/** What the webhook passes when the namespace's watch has failed for 95 s past its bound. */
const STALE: Partial<AdmissionOptions> = { staleIndex: () => 95_000 };
const CASES = VIOLATION_CODES.map((code) => ({
  code,
  review: isSecretLevel(code)
    ? SECRET_CASES[code]
    : { object: secretObject({ data: { east: KUBECONFIG_CODES[code]() } }) },
  extra: code === 'cluster-id-unverified' ? STALE : {},
}));

function isSecretLevel(code: ViolationCode): code is SecretLevelCode {
  return Object.hasOwn(SECRET_CASES, code);
}

const OPERATIONS = ['CREATE', 'UPDATE'] as const;
const ROWS = CASES.flatMap((row) =>
  ADMISSION_MODES.flatMap((mode) => OPERATIONS.map((operation) => ({ ...row, mode, operation }))),
);

describe('decideAdmission: every code, mode and checked operation', () => {
  it('covers every violation code, each with its own case', () => {
    expect(CASES.map((row) => row.code)).toEqual([...VIOLATION_CODES]);
    expect(new Set(CASES.map((row) => JSON.stringify(row.review))).size).toBe(VIOLATION_CODES.length);
  });

  it.each(ROWS)('$code, $mode, $operation', ({ code, review, extra, mode, operation }) => {
    const req = request({
      ...review,
      operation,
      ...(operation === 'UPDATE' ? { oldObject: secretObject({ data: { east: CLEAN } }) } : {}),
    });
    const decision = decideAdmission(req, options({ mode, ...extra }));
    expect(violationCodes(decision.clusters)).toEqual([code]);
    expect(decision.secret).toBe('istio-system/istio-remote-secret-east');
    const { response } = decision;
    expect(response.uid).toBe(req.uid);
    expect(response.auditAnnotations?.['violation-codes']).toBe(code);
    expect(response.auditAnnotations?.['mode']).toBe(mode);
    if (mode === 'enforce') {
      expect(decision.verdict).toBe('rejected');
      expect(response.allowed).toBe(false);
      // Only a stale index is worth retrying as it is: 503 with Retry-After, which kubectl retries.
      expect(response.status?.code).toBe(code === 'cluster-id-unverified' ? 503 : 403);
      expect(response.status?.details).toEqual(
        code === 'cluster-id-unverified' ? { retryAfterSeconds: 3 } : undefined,
      );
      expect(response.status?.message).toContain('istio-system/istio-remote-secret-east');
      expect(response.status?.message).toContain(`  - ${code} at `);
      expect(response.status?.message).toContain('fix: ');
      expect(response.warnings).toBeUndefined();
    } else if (mode === 'warn') {
      expect(decision.verdict).toBe('warned');
      expect(response.allowed).toBe(true);
      expect(response.status).toBeUndefined();
      expect(response.warnings?.[0]).toContain(`: ${code} at `);
    } else {
      expect(decision.verdict).toBe('audited');
      expect(response.allowed).toBe(true);
      expect(response.status).toBeUndefined();
      expect(response.warnings).toBeUndefined();
    }
    for (const warning of response.warnings ?? []) {
      expect(warning).not.toMatch(/[\n\r]/);
      expect(Array.from(warning).length).toBeLessThanOrEqual(256);
    }
    for (const key of Object.keys(response.auditAnnotations ?? {})) {
      // A qualified name once the API server prefixes "<webhook name>/".
      expect(key).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
    }
  });
});

describe('decideAdmission: what is checked and what passes untouched', () => {
  it.each(ADMISSION_MODES)('allows a clean remote secret without annotations (%s)', (mode) => {
    const decision = decideAdmission(
      request({ object: secretObject({ data: { east: CLEAN } }) }),
      options({ mode }),
    );
    expect(decision.verdict).toBe('allowed');
    expect(decision.response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  const EXEC = secretObject({ data: { east: kubeconfigFixture('exec') } });
  it.each([
    { why: 'DELETE', review: { operation: 'DELETE', oldObject: EXEC } },
    { why: 'CONNECT', review: { operation: 'CONNECT', object: EXEC } },
    { why: 'an unlabelled Secret', review: { object: { ...EXEC, metadata: { name: 'x', namespace: 'a' } } } },
    {
      why: 'the label set to "false"',
      review: { object: secretObject({ labels: { 'istio/multiCluster': 'false' }, data: { east: 'x' } }) },
    },
    {
      why: 'an UPDATE that removes the label',
      review: {
        operation: 'UPDATE',
        object: secretObject({ labels: {}, data: { east: 'x' } }),
        oldObject: EXEC,
      },
    },
    {
      why: 'an UPDATE of a secret being deleted',
      review: {
        operation: 'UPDATE',
        object: secretObject({ data: { east: 'x' }, deletionTimestamp: '2025-01-01T00:00:00Z' }),
        oldObject: EXEC,
      },
    },
    { why: 'another resource', review: { object: EXEC, resource: 'configmaps' } },
  ] satisfies { why: string; review: ReviewSpec }[])('allows $why untouched', ({ review }) => {
    const decision = decideAdmission(request(review), options());
    expect(decision.verdict).toBe('skipped');
    expect(decision.response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('rejects an UPDATE that adds exec to an accepted secret', () => {
    const decision = decideAdmission(
      request({
        operation: 'UPDATE',
        object: secretObject({ data: { east: kubeconfigFixture('exec') } }),
        oldObject: secretObject({ data: { east: CLEAN } }),
      }),
      options(),
    );
    expect(decision.verdict).toBe('rejected');
  });

  it("does not let a secret's own update clash with the cluster ID it holds", () => {
    const own = secretObject({ name: 'west-owner', data: { west: CLEAN } });
    const decision = decideAdmission(
      request({ operation: 'UPDATE', object: own, oldObject: own }),
      options(),
    );
    expect(decision.verdict).toBe('allowed');
  });

  it('names the holder of a duplicate cluster ID and a fix that causes no outage', () => {
    const decision = decideAdmission(request({ object: secretObject({ data: { west: CLEAN } }) }), options());
    expect(decision.response.status?.message).toContain(
      'cluster ID "west" is also claimed by secret istio-system/west-owner, created earlier; istiod uses istio-system/west-owner',
    );
    expect(decision.response.status?.message).toContain('then touch the one you keep');
  });

  it.each([
    { why: 'the earlier claimant (annotated, its token rotated)', name: 'first', verdict: 'allowed' },
    { why: 'the later claimant', name: 'second', verdict: 'rejected' },
  ])('once a duplicate is stored, decides an UPDATE of $why', ({ name, verdict }) => {
    const clusterIds = new ClusterIdScope();
    clusterIds.set({ namespace: 'istio-system', name: 'first', created: Date.UTC(2025, 0, 1) }, ['east']);
    clusterIds.set({ namespace: 'istio-system', name: 'second', created: Date.UTC(2025, 0, 2) }, ['east']);
    const object = secretObject({ name, data: { east: CLEAN } });
    const decision = decideAdmission(
      request({ operation: 'UPDATE', object, oldObject: object }),
      options({ clusterIds }),
    );
    expect(decision.verdict).toBe(verdict);
  });

  it('refuses an UPDATE that adds to an older secret a cluster ID another holds: no takeover', () => {
    const clusterIds = new ClusterIdScope();
    clusterIds.set({ namespace: 'istio-system', name: 'a-old', created: Date.UTC(2024, 0, 1) }, ['north']);
    clusterIds.set({ namespace: 'istio-system', name: 'b-holder', created: Date.UTC(2025, 0, 1) }, ['east']);
    const before = secretObject({ name: 'a-old', data: { north: CLEAN } });
    const after = secretObject({ name: 'a-old', data: { north: CLEAN, east: CLEAN } });
    const metadata = { ...(after['metadata'] as object), creationTimestamp: '2024-01-01T00:00:00Z' };
    const decision = decideAdmission(
      request({ operation: 'UPDATE', object: { ...after, metadata }, oldObject: before }),
      options({ clusterIds }),
    );
    expect(decision.verdict).toBe('rejected');
    expect(violationCodes(decision.clusters)).toEqual(['duplicate-cluster-id']);
    expect(decision.response.status?.message).toContain('claimed by secret istio-system/b-holder');
  });

  it('scopes cluster IDs to the namespace, as each istiod reads its own', () => {
    const object = secretObject({ namespace: 'mesh-2', data: { west: CLEAN } });
    expect(decideAdmission(request({ object }), options()).verdict).toBe('allowed');
  });

  it('checks stringData too, defensively (the API server folds it into data before admission)', () => {
    const object = secretObject({ stringData: { east: kubeconfigFixture('token-file') } });
    const decision = decideAdmission(request({ object }), options());
    expect(violationCodes(decision.clusters)).toEqual(['token-file']);
  });

  it('honours the allow-list like PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS', () => {
    const object = secretObject({
      data: { east: kubeconfigFixture('exec'), north: kubeconfigFixture('token-file') },
    });
    expect(decideAdmission(request({ object }), options()).verdict).toBe('rejected');
    expect(
      decideAdmission(request({ object }), options({ allow: new Set(['exec', 'tokenFile']) })).verdict,
    ).toBe('allowed');
  });

  it('takes the namespace from the request when the object has none', () => {
    const object = secretObject({ data: { east: kubeconfigFixture('exec') } });
    const metadata = { ...(object['metadata'] as Record<string, unknown>), namespace: undefined };
    const decision = decideAdmission(request({ object: { ...object, metadata } }), options());
    expect(decision.secret).toBe('istio-system/istio-remote-secret-east');
  });
});

describe('rendering', () => {
  it('lists every violation with cluster, path and fix in the denial message', () => {
    const object = secretObject({
      data: { east: kubeconfigFixture('exec'), primary: kubeconfigFixture('token-file') },
    });
    const message = decideAdmission(request({ object }), options()).response.status?.message ?? '';
    expect(message.split('\n')).toEqual([
      'remote secret istio-system/istio-remote-secret-east is rejected: 3 violations in 2 clusters; fix and apply again',
      'cluster "east":',
      '  - exec at users[0].user.exec: user "remote-reader" runs a program (exec) inside istiod',
      '    fix: re-create it with `kubectl remote-secret create`, which writes a bearer token and no local files',
      'cluster "primary":',
      `  - local-cluster-id at data.primary: "primary" is the primary's own cluster ID; istiod ignores a remote secret that claims it`,
      '    fix: use the remote cluster ID as the key (kubectl remote-secret create --name <remote-id>)',
      `  - token-file at users[0].user.tokenFile: user "remote-reader" reads its token from a file on istiod's disk`,
      '    fix: re-create it with `kubectl remote-secret create`, which writes a bearer token and no local files',
    ]);
  });

  it('keeps warnings to short single lines and within the API server total, however many violations', () => {
    const data: Record<string, string> = {};
    // A user name with a newline in it (a YAML escape) must not break a warning line.
    const hostileUser = kubeconfigFixture('exec').replaceAll('remote-reader', `"evil\\n${'x'.repeat(300)}"`);
    for (let index = 0; index < 40; index += 1) data[`c${index}`] = hostileUser;
    const decision = decideAdmission(request({ object: secretObject({ data }) }), options({ mode: 'warn' }));
    const warnings = decision.response.warnings ?? [];
    expect(warnings.length).toBeGreaterThan(10);
    expect(warnings.some((warning) => warning.includes('30 more violations'))).toBe(true);
    expect(warnings.every((warning) => Array.from(warning).length <= 256)).toBe(true);
    expect(warnings.every((warning) => !/[\n\r\u2028]/.test(warning))).toBe(true);
    expect(warnings.reduce((sum, warning) => sum + Array.from(warning).length, 0)).toBeLessThanOrEqual(4096);
    expect(warnings.at(-1)).toMatch(/^to fix exec: re-create it/);
  });

  it('caps the denial message and the audit annotations', () => {
    const data: Record<string, string> = {};
    for (let index = 0; index < 200; index += 1) data[`c${index}`] = kubeconfigFixture('exec');
    const { response } = decideAdmission(request({ object: secretObject({ data }) }), options());
    expect(response.status?.message).toContain('... and 180 more');
    for (const value of Object.values(response.auditAnnotations ?? {})) {
      expect(Buffer.byteLength(value)).toBeLessThanOrEqual(10 * 1024);
    }
    expect(() => JSON.parse(response.auditAnnotations?.['violations'] ?? '') as unknown).not.toThrow();
  });

  it('wraps a response in the exact v1 envelope the API server verifies', () => {
    expect(admissionReviewResponse({ uid: 'u', allowed: true })).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: true },
    });
  });
});

describe('parseAdmissionReview', () => {
  const valid = admissionReview();
  it.each([
    { why: 'an array', body: [], code: 'not-an-object' },
    { why: 'null', body: null, code: 'not-an-object' },
    { why: 'v1beta1', body: { ...valid, apiVersion: 'admission.k8s.io/v1beta1' }, code: 'wrong-api-version' },
    { why: 'another kind', body: { ...valid, kind: 'TokenReview' }, code: 'wrong-kind' },
    { why: 'no request', body: { ...valid, request: undefined }, code: 'no-request' },
    {
      why: 'no uid',
      body: { ...valid, request: { ...(valid['request'] as object), uid: '' } },
      code: 'no-uid',
    },
    {
      why: 'an unknown operation',
      body: { ...valid, request: { ...(valid['request'] as object), operation: 'PATCH' } },
      code: 'invalid-request',
    },
  ])('refuses $why ($code)', ({ body, code }) => {
    const parsed = parseAdmissionReview(body);
    expect(parsed.ok ? undefined : parsed.code).toBe(code);
  });

  it('keeps the uid of a review it refuses, for the log', () => {
    const parsed = parseAdmissionReview({ ...valid, apiVersion: 'admission.k8s.io/v1beta1' });
    expect(parsed.ok ? undefined : parsed.uid).toBe('705ab4f5-6393-11e8-b7cc-42010a800002');
  });
});

describe('decideAdmission: a stale cluster-ID index (ADR 0003)', () => {
  const stale = (namespace: string) => (namespace === 'istio-system' ? 95_000 : undefined);
  const update = (before: Record<string, string>, after: Record<string, string>, labelled = true) =>
    request({
      operation: 'UPDATE',
      object: secretObject({ data: after }),
      oldObject: secretObject({ data: before, ...(labelled ? {} : { labels: {} }) }),
    });

  it('admits an update that keeps the cluster IDs the stored secret holds (a token rotation)', () => {
    const decision = decideAdmission(
      update({ east: CLEAN }, { east: CLEAN }),
      options({ staleIndex: stale }),
    );
    expect(decision.verdict).toBe('allowed');
  });

  it('refuses, as retryable, each cluster ID the update adds, and names the namespace and the time', () => {
    const decision = decideAdmission(
      update({ east: CLEAN }, { east: CLEAN, north: CLEAN }),
      options({ staleIndex: stale }),
    );
    expect(decision.verdict).toBe('rejected');
    expect(decision.clusters.map(({ cluster, allowed }) => [cluster, allowed])).toEqual([
      ['east', true],
      ['north', false],
    ]);
    expect(decision.response.status).toMatchObject({ code: 503, reason: 'ServiceUnavailable' });
    expect(decision.response.status?.message).toContain(
      'nothing to fix: apply again once the webhook sees the API server again',
    );
    expect(decision.response.status?.message).toContain(
      'cluster-id-unverified at data.north: cannot check that no other secret claims cluster ID "north": the webhook has not seen the remote secrets of namespace istio-system for 95 s',
    );
  });

  it('treats every cluster ID as new when the stored secret was not a remote secret', () => {
    const decision = decideAdmission(
      update({ east: CLEAN }, { east: CLEAN }, false),
      options({ staleIndex: stale }),
    );
    expect(violationCodes(decision.clusters)).toEqual(['cluster-id-unverified']);
  });

  it('leaves a known duplicate a plain 403, and adds nothing to it', () => {
    const decision = decideAdmission(
      request({ object: secretObject({ data: { west: CLEAN } }) }),
      options({ staleIndex: stale }),
    );
    expect(violationCodes(decision.clusters)).toEqual(['duplicate-cluster-id']);
    expect(decision.response.status?.code).toBe(403);
  });

  it('is a 403 when the secret has something to fix as well', () => {
    const decision = decideAdmission(
      request({ object: secretObject({ data: { north: KUBECONFIG_CODES.exec() } }) }),
      options({ staleIndex: stale }),
    );
    expect(violationCodes(decision.clusters)).toEqual(['exec', 'cluster-id-unverified']);
    expect(decision.response.status?.code).toBe(403);
    expect(decision.response.status?.details).toBeUndefined();
  });

  it('checks nothing more in a namespace whose index is current', () => {
    const decision = decideAdmission(
      request({ object: secretObject({ namespace: 'other', data: { north: CLEAN } }) }),
      options({ staleIndex: stale }),
    );
    expect(decision.verdict).toBe('allowed');
  });
});
