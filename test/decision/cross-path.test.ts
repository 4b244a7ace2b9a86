import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cmd/audit.ts';
import { runCheck } from '../../cmd/check.ts';
import { decideForPrimary } from '../../cmd/create.ts';
import { decideAdmission } from '../../shared/admission/decide.ts';
import { parseAdmissionReview } from '../../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from '../../shared/audit/risk-notes.ts';
import { RemoteSecretController } from '../../shared/controller/remote-secret-controller.ts';
import type { SecretManifest } from '../../shared/remote-secret/build.ts';
import { ReviewCache } from '../../shared/remote-secret/review-cache.ts';
import { BackgroundAudit } from '../../webhook/background-audit.ts';
import { inProcessPass } from '../../webhook/audit-pass.ts';
import { createMetrics } from '../../webhook/metrics.ts';
import { startFakeApiServer } from '../../webhook/testdata/fake-apiserver.ts';

/**
 * One table of stored secrets, run through every path that judges them: the webhook's admission
 * decision (with its informer's cluster ID scope and its review cache), its background audit,
 * `check` on the same secrets as files, `audit` against an API server that stores them, and the
 * check `create --apply` makes before it writes. Every path must find the same codes at the same
 * paths, which the table states once.
 */
const LOCAL_CLUSTER_ID = 'primary';
const NOW = new Date('2026-01-01T00:00:00Z');
const CLEAN = kubeconfigFixture('clean');

interface Stored {
  readonly namespace?: string;
  readonly name: string;
  /** creationTimestamp. */
  readonly created: string;
  /** cluster ID -> kubeconfig text. */
  readonly data: Record<string, string>;
}

/** secret (`namespace/name`) -> cluster -> `code at path`; secrets and clusters without findings left out. */
type Verdicts = Record<string, Record<string, string[]>>;

interface Row {
  readonly why: string;
  readonly secrets: readonly Stored[];
  readonly verdicts: Verdicts;
}

const ROWS: readonly Row[] = [
  {
    why: 'clean secrets for different clusters',
    secrets: [
      { name: 'a', created: '2025-01-01T00:00:00Z', data: { east: CLEAN } },
      { name: 'b', created: '2025-01-02T00:00:00Z', data: { west: CLEAN } },
    ],
    verdicts: {},
  },
  {
    why: 'a shared cluster ID: the later-created claimant is blamed, though its name sorts first',
    secrets: [
      { name: 'a-newer', created: '2025-06-01T00:00:00Z', data: { east: CLEAN } },
      { name: 'z-older', created: '2025-01-01T00:00:00Z', data: { east: CLEAN, west: CLEAN } },
    ],
    verdicts: { 'istio-system/a-newer': { east: ['duplicate-cluster-id at data.east'] } },
  },
  {
    why: 'three claimants: both later ones are blamed, the first is not',
    secrets: [
      { name: 'b', created: '2025-01-02T00:00:00Z', data: { east: CLEAN } },
      { name: 'c', created: '2025-01-01T00:00:00Z', data: { east: CLEAN } },
      { name: 'd', created: '2025-01-03T00:00:00Z', data: { east: CLEAN } },
    ],
    verdicts: {
      'istio-system/b': { east: ['duplicate-cluster-id at data.east'] },
      'istio-system/d': { east: ['duplicate-cluster-id at data.east'] },
    },
  },
  {
    why: 'the same cluster ID in two namespaces: two istiods, no clash',
    secrets: [
      { name: 'a', created: '2025-01-02T00:00:00Z', data: { east: CLEAN } },
      { namespace: 'mesh-2', name: 'a', created: '2025-01-01T00:00:00Z', data: { east: CLEAN } },
    ],
    verdicts: {},
  },
  {
    why: 'kubeconfig violations, the local cluster ID and an invalid key claiming nothing',
    secrets: [
      {
        name: 'a',
        created: '2025-01-01T00:00:00Z',
        data: {
          east: kubeconfigFixture('exec'),
          west: kubeconfigFixture('certificate-authority-file'),
          north: kubeconfigFixture('placeholder-token'),
          [LOCAL_CLUSTER_ID]: CLEAN,
          '-bad': CLEAN,
        },
      },
      {
        name: 'b',
        created: '2025-01-02T00:00:00Z',
        data: { '-bad': CLEAN, south: kubeconfigFixture('token-file') },
      },
    ],
    verdicts: {
      'istio-system/a': {
        east: ['exec at users[0].user.exec'],
        west: ['certificate-authority-file at clusters[0].cluster.certificate-authority'],
        north: ['placeholder-token at users[0].user.token'],
        [LOCAL_CLUSTER_ID]: [`local-cluster-id at data.${LOCAL_CLUSTER_ID}`],
        '-bad': ['invalid-cluster-id at data["-bad"]'],
      },
      'istio-system/b': {
        '-bad': ['invalid-cluster-id at data["-bad"]'],
        south: ['token-file at users[0].user.tokenFile'],
      },
    },
  },
  {
    why: 'the same bad value in two clusters, each reported at its own path',
    secrets: [{ name: 'a', created: '2025-01-01T00:00:00Z', data: { east: '\u0000', west: '\u0000' } }],
    verdicts: {
      'istio-system/a': {
        east: ['invalid-kubeconfig at data.east'],
        west: ['invalid-kubeconfig at data.west'],
      },
    },
  },
];

const NAMESPACES = ['istio-system', 'mesh-2'];
const dir = mkdtempSync(join(tmpdir(), 'cross-path-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A secret as the API server stores it and sends it (to admission, lists and watches). */
function wire(
  secret: Stored,
): SecretManifest & { metadata: { namespace: string; creationTimestamp: string } } {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secret.name,
      namespace: secret.namespace ?? 'istio-system',
      creationTimestamp: secret.created,
      labels: { 'istio/multiCluster': 'true' },
    },
    data: Object.fromEntries(
      Object.entries(secret.data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
    ),
  };
}

/** What client-node hands over: parsed JSON, a fresh copy each time (informers edit theirs). */
function listed(secrets: readonly Stored[], namespace: string): V1Secret[] {
  return secrets
    .filter((secret) => (secret.namespace ?? 'istio-system') === namespace)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((secret) => JSON.parse(JSON.stringify(wire(secret))) as V1Secret);
}

function add(verdicts: Verdicts, secret: string, cluster: string, found: string[]): void {
  if (found.length === 0) return;
  verdicts[secret] = { ...verdicts[secret], [cluster]: found };
}

const located = (violations: readonly { code: string; path: string }[]) =>
  violations.map(({ code, path }) => `${code} at ${path}`);

async function admission(secrets: readonly Stored[]): Promise<Verdicts> {
  const controller = new RemoteSecretController({
    kubeConfig: new KubeConfig(),
    namespaces: NAMESPACES,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    list: (namespace) =>
      Promise.resolve({
        apiVersion: 'v1',
        kind: 'SecretList',
        metadata: {},
        items: listed(secrets, namespace),
      }),
    watch: () => Promise.resolve(new AbortController()),
  });
  await controller.start();
  const cache = new ReviewCache();
  const verdicts: Verdicts = {};
  for (const secret of secrets) {
    const object = wire(secret);
    const parsed = parseAdmissionReview(admissionReview({ operation: 'UPDATE', object, oldObject: object }));
    if (!parsed.ok) throw new Error(parsed.message);
    const decision = decideAdmission(parsed.request, {
      mode: 'enforce',
      allow: new Set(),
      localClusterId: LOCAL_CLUSTER_ID,
      cache,
      clusterIds: controller.clusterIds,
    });
    for (const cluster of decision.clusters) {
      add(verdicts, cluster.secret, cluster.cluster, located(cluster.violations));
    }
  }
  await controller.stop();
  return verdicts;
}

async function backgroundAudit(secrets: readonly Stored[]): Promise<Verdicts> {
  const lines: {
    msg?: string;
    secret?: string;
    violations?: { cluster: string; code: string; path: string }[];
  }[] = [];
  const settings = { namespaces: NAMESPACES, allow: new Set<string>(), localClusterId: LOCAL_CLUSTER_ID };
  const audit = new BackgroundAudit({
    ...settings,
    // Reconciles read other claimants by name; a pass lists one secret a page, by name.
    read: (namespace, name) =>
      Promise.resolve(listed(secrets, namespace).find((item) => item.metadata?.name === name)),
    // One secret a page, in the API server's order (by name): the decision the worker runs.
    pass: inProcessPass({
      ...settings,
      pages: (namespace) => (token) => {
        const all = listed(secrets, namespace);
        const start = token === undefined ? 0 : Number(token);
        return Promise.resolve({
          items: all.slice(start, start + 1),
          continueToken: start + 1 < all.length ? String(start + 1) : undefined,
        });
      },
    }),
    metrics: createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false }).audit,
    log: pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
    ),
    now: () => NOW,
  });
  expect(await audit.runPass()).toBe(true);
  const verdicts: Verdicts = {};
  for (const line of lines.filter((entry) => entry.msg === 'stored remote secret is non-compliant')) {
    const byCluster = new Map<string, string[]>();
    for (const found of line.violations ?? []) {
      byCluster.set(found.cluster, [
        ...(byCluster.get(found.cluster) ?? []),
        `${found.code} at ${found.path}`,
      ]);
    }
    for (const [cluster, found] of byCluster) add(verdicts, line.secret ?? '', cluster, found);
  }
  return verdicts;
}

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

interface Reported {
  readonly secret: string;
  readonly cluster: string;
  readonly violations: { code: string; path: string }[];
}

async function check(secrets: readonly Stored[], row: number): Promise<Verdicts> {
  const files = secrets.map((secret, index) => {
    const file = join(dir, `row-${String(row)}-${String(index)}.json`);
    writeFileSync(file, JSON.stringify(wire(secret)));
    return file;
  });
  const out = capture();
  await runCheck(
    { files, localClusterId: LOCAL_CLUSTER_ID, allow: [], output: 'json' },
    { stdin: new PassThrough(), stdout: out.stream },
  );
  const verdicts: Verdicts = {};
  for (const result of (JSON.parse(out.text()) as { results: Reported[] }).results) {
    add(verdicts, result.secret, result.cluster, located(result.violations));
  }
  return verdicts;
}

async function audit(secrets: readonly Stored[]): Promise<Verdicts> {
  const api = await startFakeApiServer(dir, secrets.map(wire));
  const out = capture();
  try {
    await runAudit(
      {
        kubeconfig: api.kubeconfigPath,
        context: undefined,
        scope: { allNamespaces: true },
        localClusterId: LOCAL_CLUSTER_ID,
        allow: new Set(),
        output: 'json',
        strict: false,
        pageSize: 1,
        timeoutMs: 60_000,
        expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS,
        requestTimeoutMs: 5000,
        rejections: undefined,
      },
      { stdout: out.stream, progress: undefined, env: { kubeconfig: undefined, home: dir }, now: () => NOW },
    );
  } finally {
    await api.close();
  }
  const verdicts: Verdicts = {};
  for (const finding of (JSON.parse(out.text()) as { clusters: Reported[] }).clusters) {
    add(verdicts, finding.secret, finding.cluster, located(finding.violations));
  }
  return verdicts;
}

/** `create --apply`: each secret as create builds it (never stored: no creation time) against the others. */
function createApply(secrets: readonly Stored[]): Verdicts {
  const verdicts: Verdicts = {};
  for (const secret of secrets) {
    const { creationTimestamp: _, ...metadata } = wire(secret).metadata;
    const namespace = secret.namespace ?? 'istio-system';
    const stored = listed(secrets, namespace).map(
      (item) => JSON.parse(JSON.stringify(item)) as SecretManifest,
    );
    for (const decision of decideForPrimary({ ...wire(secret), metadata }, stored, new Set())) {
      add(verdicts, decision.secret, decision.cluster, located(decision.violations));
    }
  }
  return verdicts;
}

/** create has no --local-cluster-id: the one code it cannot find. */
function withoutLocalClusterId(verdicts: Verdicts): Verdicts {
  const result: Verdicts = {};
  for (const [secret, clusters] of Object.entries(verdicts)) {
    for (const [cluster, found] of Object.entries(clusters)) {
      add(
        result,
        secret,
        cluster,
        found.filter((entry) => !entry.startsWith('local-cluster-id ')),
      );
    }
  }
  return result;
}

describe('one verdict on every path: admission, background audit, check, audit, create --apply', () => {
  it.each(ROWS.map((row, index) => ({ ...row, index })))('$why', async ({ secrets, verdicts, index }) => {
    expect(await admission(secrets), 'webhook admission').toEqual(verdicts);
    expect(await backgroundAudit(secrets), 'background audit').toEqual(verdicts);
    expect(await check(secrets, index), 'check').toEqual(verdicts);
    expect(await audit(secrets), 'audit').toEqual(verdicts);
    expect(createApply(secrets), 'create --apply').toEqual(withoutLocalClusterId(verdicts));
  });
});
