import type { V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FetchPage } from '../shared/audit/pages.ts';
import type { PolicyReportManifest } from '../shared/audit/policy-report.ts';
import { jwt, kubeconfigText, NOW } from '../shared/audit/testdata/kubeconfigs.ts';
import { KubeError } from '../shared/kube/errors.ts';
import { probeTarget } from '../shared/kube/probe.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import type { ClusterProbe, ProbeFactory } from '../shared/remote-secret/verify.ts';
import { REDACT_PATHS } from './audit.ts';
import { PolicyReportWriter } from './background-audit.ts';
import { UNREACHABLE_REASON, type EventBody, type EventResult } from './events.ts';
import { createMetrics } from './metrics.ts';
import { RemoteProber } from './remote-probes.ts';

const NAMESPACE = 'istio-system';
/** The one credential of every fixture kubeconfig: none of it may be published. */
const TOKEN = jwt({ sub: 'system:serviceaccount:istio-system:istio-reader-service-account' });
const TOKEN_SIGNATURE = TOKEN.split('.')[2] ?? '';

/** What each stand-in remote API server does when asked. */
type Behaviour = 'ok' | 'unreachable' | 'unauthorized' | 'forbidden';

function serverOf(cluster: string): string {
  return `https://${cluster}.example:6443`;
}

function kubeconfigFor(cluster: string): string {
  return kubeconfigText({ server: serverOf(cluster), token: TOKEN });
}

/** Remote API servers by URL: a ClusterProbe per server, and which servers were dialed. */
function remotes() {
  const behaviours = new Map<string, Behaviour>();
  const dialed: string[] = [];
  const connect: ProbeFactory = (config) => {
    const { server } = probeTarget(config);
    dialed.push(server);
    const behaviour = behaviours.get(server) ?? 'unreachable';
    const probe: ClusterProbe = {
      serverVersion: () => {
        if (behaviour === 'unreachable') {
          return Promise.reject(
            new KubeError(
              'unreachable',
              `cannot reach the API server at ${server} (connection refused) while trying to get the server version`,
            ),
          );
        }
        if (behaviour === 'unauthorized') {
          return Promise.reject(
            new KubeError(
              'unauthorized',
              `the API server did not accept the credentials (401 Unauthorized) to get the server version on ${server}`,
            ),
          );
        }
        return Promise.resolve('v1.34.1');
      },
      whoAmI: () => Promise.resolve('system:serviceaccount:istio-system:istio-reader-service-account'),
      can: (permission) => Promise.resolve(behaviour === 'ok' || permission.resource !== 'secrets'),
    };
    return probe;
  };
  return {
    connect,
    dialed,
    set: (cluster: string, behaviour: Behaviour) => behaviours.set(serverOf(cluster), behaviour),
  };
}

/** The primary's labelled Secrets, as the background audit's list returns them, one a page. */
function store() {
  const secrets = new Map<string, V1Secret>();
  let version = 0;
  let failNext = false;
  const put = (name: string, data: Record<string, string>) => {
    version += 1;
    const wire = JSON.stringify({
      metadata: {
        name,
        namespace: NAMESPACE,
        uid: `uid-${name}`,
        resourceVersion: String(version),
        labels: { 'istio/multiCluster': 'true' },
      },
      data: Object.fromEntries(
        Object.entries(data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
      ),
    });
    secrets.set(name, JSON.parse(wire) as V1Secret);
  };
  const pages = (): FetchPage<V1Secret> => (token) => {
    if (failNext) {
      failNext = false;
      throw new KubeError('timeout', 'no answer while trying to list Secrets');
    }
    const all = [...secrets.values()].sort((a, b) =>
      (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
    );
    const start = token === undefined ? 0 : Number(token);
    return Promise.resolve({
      items: all.slice(start, start + 1),
      continueToken: start + 1 < all.length ? String(start + 1) : undefined,
    });
  };
  return {
    put,
    remove: (name: string) => secrets.delete(name),
    pages,
    failNextList: () => {
      failNext = true;
    },
  };
}

function setup(
  options: { allow?: AllowList; events?: EventResult[]; connect?: ProbeFactory; concurrency?: number } = {},
) {
  const api = store();
  const servers = remotes();
  const metrics = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const sent: EventBody[] = [];
  /** What send answers, one a call; 'created' once these run out. */
  const answers = [...(options.events ?? [])];
  const reports: PolicyReportManifest[] = [];
  const prober = new RemoteProber({
    namespaces: [NAMESPACE],
    pages: api.pages,
    allow: options.allow ?? new Set(),
    connect: options.connect ?? servers.connect,
    timeoutMs: 60_000,
    concurrency: options.concurrency ?? 2,
    metrics: metrics.probes,
    log,
    events: {
      reportingInstance: 'webhook-0',
      send: (event) => {
        sent.push(event);
        return Promise.resolve(answers.shift() ?? 'created');
      },
    },
    policyReports: new PolicyReportWriter({
      log,
      onResult: () => undefined,
      apply: (report) => {
        reports.push(report);
        return Promise.resolve();
      },
    }),
    now: () => NOW,
  });
  /** The result gauge as "secret/cluster result" -> value. */
  const results = async () =>
    Object.fromEntries(
      (
        await metrics.registry.getSingleMetric('remote_secret_webhook_remote_probe_result')?.get()
      )?.values.map(({ labels, value }) => [
        `${String(labels['secret'])}/${String(labels['cluster'])} ${String(labels['result'])}`,
        value,
      ]) ?? [],
    );
  const durations = async () =>
    (
      await metrics.registry.getSingleMetric('remote_secret_webhook_remote_probe_duration_seconds')?.get()
    )?.values.map(({ labels }) => `${String(labels['secret'])}/${String(labels['cluster'])}`) ?? [];
  const runs = async () =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric('remote_secret_webhook_probe_runs_total')?.get())?.values.map(
        ({ labels, value }) => [String(labels['result']), value],
      ) ?? [],
    );
  return { api, servers, prober, lines, sent, reports, results, durations, runs };
}

/**
 * Remote API servers that hold every probe at its first call until the test lets it go, and
 * count the probes in flight: from `connect` to the `close` verifyCluster calls when a cluster
 * is done. Nothing is timed: the test turns the event loop until nothing more can start.
 */
function heldRemotes() {
  const waiting: (() => void)[] = [];
  let inFlight = 0;
  let most = 0;
  const connect: ProbeFactory = () => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    return {
      serverVersion: () =>
        new Promise<string>((resolve) => {
          waiting.push(() => {
            resolve('v1.34.1');
          });
        }),
      whoAmI: () => Promise.resolve('system:serviceaccount:istio-system:istio-reader-service-account'),
      can: () => Promise.resolve(true),
      close: () => {
        inFlight -= 1;
        return Promise.resolve();
      },
    };
  };
  return {
    connect,
    /** Lets the probe that has waited longest answer. */
    releaseOne: () => waiting.shift()?.(),
    held: () => waiting.length,
    inFlight: () => inFlight,
    most: () => most,
  };
}

/** Every callback and promise already due has run: what can start has started. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('RemoteProber', () => {
  it.each([
    { concurrency: 1, clusters: 5 },
    { concurrency: 3, clusters: 7 },
    { concurrency: 8, clusters: 4 },
  ])(
    'has at most $concurrency probes in flight ($clusters clusters in one page)',
    async ({ concurrency, clusters }) => {
      const servers = heldRemotes();
      const { api, prober, results } = setup({ connect: servers.connect, concurrency });
      const ids = Array.from({ length: clusters }, (_, index) => `c${String(index)}`);
      api.put('a', Object.fromEntries(ids.map((id) => [id, kubeconfigFor(id)])));
      const round = prober.run();
      // Each time one answers, the next starts: the limit is reached and never passed.
      for (let left = clusters; left > 0; left -= 1) {
        await settled();
        expect(servers.held()).toBe(Math.min(concurrency, left));
        expect(servers.inFlight()).toBe(Math.min(concurrency, left));
        servers.releaseOne();
      }
      expect(await round).toBe(true);
      expect(servers.inFlight()).toBe(0);
      expect(servers.most()).toBe(Math.min(concurrency, clusters));
      expect(Object.keys(await results()).sort()).toEqual(ids.map((id) => `a/${id} ok`));
    },
  );

  it('sets one result series per cluster, and moves it when the outcome changes', async () => {
    const { api, servers, prober, results, durations } = setup();
    servers.set('east', 'ok');
    servers.set('west', 'unreachable');
    servers.set('north', 'unauthorized');
    servers.set('south', 'forbidden');
    api.put('a', { east: kubeconfigFor('east'), west: kubeconfigFor('west') });
    api.put('b', { north: kubeconfigFor('north'), south: kubeconfigFor('south') });
    expect(await prober.run()).toBe(true);
    expect(await results()).toEqual({
      'a/east ok': 1,
      'a/west unreachable': 1,
      'b/north unauthenticated': 1,
      'b/south forbidden': 1,
    });
    expect((await durations()).sort()).toEqual(['a/east', 'a/west', 'b/north', 'b/south']);

    servers.set('west', 'ok');
    servers.set('east', 'forbidden');
    expect(await prober.run()).toBe(true);
    expect(await results()).toEqual({
      'a/east forbidden': 1,
      'a/west ok': 1,
      'b/north unauthenticated': 1,
      'b/south forbidden': 1,
    });
  });

  it('removes the series of a secret that went away', async () => {
    const { api, servers, prober, results, durations } = setup();
    servers.set('east', 'ok');
    api.put('a', { east: kubeconfigFor('east') });
    api.put('b', { west: kubeconfigFor('west') });
    await prober.run();
    expect(Object.keys(await results()).sort()).toEqual(['a/east ok', 'b/west unreachable']);
    api.remove('b');
    await prober.run();
    expect(await results()).toEqual({ 'a/east ok': 1 });
    expect(await durations()).toEqual(['a/east']);
  });

  it('writes a RemoteSecretUnreachable Event on the Secret only for clusters that got worse', async () => {
    const { api, servers, prober, sent, lines } = setup();
    servers.set('east', 'ok');
    servers.set('west', 'unreachable');
    api.put('a', { east: kubeconfigFor('east'), west: kubeconfigFor('west') });
    await prober.run();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      type: 'Warning',
      reason: UNREACHABLE_REASON,
      involvedObject: { apiVersion: 'v1', kind: 'Secret', namespace: NAMESPACE, name: 'a', uid: 'uid-a' },
      metadata: { namespace: NAMESPACE },
    });
    expect(sent[0]?.message).toContain(
      'remote cluster "west" of istio-system/a is unreachable from the primary',
    );
    // The same again: no news. Then east gets worse: one Event, for east.
    await prober.run();
    expect(sent).toHaveLength(1);
    servers.set('east', 'forbidden');
    await prober.run();
    expect(sent.map((event) => event.metadata.annotations['remote-secret-webhook/clusters'])).toEqual([
      'west',
      'east',
    ]);
    expect(
      lines.filter((line) => line['msg'] === 'remote cluster unreachable from the primary'),
    ).toHaveLength(1);
    expect(lines.filter((line) => line['msg'] === 'remote cluster forbidden from the primary')).toHaveLength(
      1,
    );
  });

  it('writes an Event again next round when it could not be written', async () => {
    const { api, prober, sent } = setup({ events: ['failed'] });
    api.put('a', { west: kubeconfigFor('west') });
    await prober.run();
    await prober.run();
    await prober.run();
    expect(sent.map((event) => event.involvedObject.name)).toEqual(['a', 'a']);
  });

  it('does not probe a cluster whose exec login admission refuses', async () => {
    const { api, servers, prober, results, sent } = setup();
    servers.set('east', 'ok');
    api.put('a', { east: kubeconfigFor('east'), login: kubeconfigText({ exec: true }) });
    expect(await prober.run()).toBe(true);
    expect(servers.dialed).toEqual([serverOf('east')]);
    expect(await results()).toEqual({ 'a/east ok': 1 });
    expect(sent).toEqual([]);
  });

  it('skips, without dialing, a cluster that exec is allowed for: the webhook runs no program', async () => {
    const { api, servers, prober, results, sent, reports } = setup({ allow: new Set(['exec']) });
    api.put('a', { login: kubeconfigText({ exec: true }) });
    expect(await prober.run()).toBe(true);
    expect(servers.dialed).toEqual([]);
    expect(await results()).toEqual({ 'a/login skipped': 1 });
    expect(sent).toEqual([]);
    expect(reports[0]?.results.map((result) => [result.result, result.message])).toEqual([
      [
        'skip',
        'cluster "login": skipped: not probed: the kubeconfig needs what the webhook never does itself (exec)',
      ],
    ]);
  });

  it('publishes nothing when the secrets cannot be listed, and counts the failed round', async () => {
    const { api, servers, prober, results, runs, sent, reports } = setup();
    servers.set('east', 'ok');
    api.put('a', { east: kubeconfigFor('east') });
    api.put('b', { west: kubeconfigFor('west') });
    expect(await prober.run()).toBe(true);
    expect(sent).toHaveLength(1);
    api.failNextList();
    servers.set('east', 'unreachable');
    expect(await prober.run()).toBe(false);
    expect(await runs()).toEqual({ ok: 1, failed: 1 });
    expect(await results()).toEqual({ 'a/east ok': 1, 'b/west unreachable': 1 });
    expect(sent).toHaveLength(1);
    expect(reports).toHaveLength(1);
  });

  it('puts no credential in logs, Events or PolicyReports', async () => {
    const { api, servers, prober, lines, sent, reports } = setup();
    servers.set('north', 'unauthorized');
    servers.set('south', 'forbidden');
    api.put('a', {
      west: kubeconfigFor('west'),
      north: kubeconfigFor('north'),
      south: kubeconfigFor('south'),
    });
    api.failNextList();
    await prober.run();
    await prober.run();
    expect(sent).toHaveLength(3);
    expect(reports[0]?.summary).toMatchObject({ fail: 3 });
    for (const published of [lines, sent, reports]) {
      const text = JSON.stringify(published);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(TOKEN_SIGNATURE);
      expect(text).not.toContain('certificate-authority-data');
    }
  });

  it('publishes a server without the password its URL holds', async () => {
    const { api, prober, lines, sent, reports } = setup();
    const server = 'https://reader:hunter2@west.example:6443';
    api.put('a', { west: kubeconfigText({ server, token: TOKEN }) });
    await prober.run();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.metadata.annotations['remote-secret-webhook/server']).toBe('https://west.example:6443');
    expect(sent[0]?.message).toContain('cannot reach the API server at https://west.example:6443');
    expect(reports[0]?.results[0]?.properties['server']).toBe('https://west.example:6443');
    for (const published of [lines, sent, reports])
      expect(JSON.stringify(published)).not.toContain('hunter2');
  });
});
