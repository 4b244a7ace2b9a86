import type { V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kubeconfigFixture } from '../shared/admission/testdata/reviews.ts';
import type { FetchPage } from '../shared/audit/pages.ts';
import type { PolicyReportManifest } from '../shared/audit/policy-report.ts';
import { kubeconfigText } from '../shared/audit/testdata/kubeconfigs.ts';
import type { SecretChange } from '../shared/controller/remote-secret-controller.ts';
import { KubeError } from '../shared/kube/errors.ts';
import { REDACT_PATHS } from './audit.ts';
import { inProcessPass } from './audit-pass.ts';
import { AuditScheduler, BackgroundAudit, PolicyReportWriter } from './background-audit.ts';
import { NONCOMPLIANT_REASON, type EventBody, type EventResult } from './events.ts';
import { createMetrics } from './metrics.ts';

const SETTINGS = { namespaces: ['istio-system'], allow: new Set<string>(), localClusterId: 'primary' };
const EXEC = kubeconfigText({ exec: true });
const CLEAN = kubeconfigText();

/** The API server's store: secrets by name, listed `limit` at a time as client-node returns them. */
function store(namespace = 'istio-system') {
  const secrets = new Map<string, V1Secret>();
  let version = 0;
  let lists = 0;
  let reads = 0;
  let failNext = false;
  const put = (name: string, data: Record<string, string>, creationTimestamp?: string) => {
    version += 1;
    // As parsed JSON off the wire (client-node's own model instances are no different here).
    const wire = JSON.stringify({
      metadata: {
        name,
        namespace,
        creationTimestamp,
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
  const pages =
    (limit: number): ((ns: string) => FetchPage<V1Secret>) =>
    () =>
    (token) => {
      lists += 1;
      if (failNext) {
        failNext = false;
        return Promise.reject(new KubeError('timeout', 'no answer while trying to list Secrets'));
      }
      const all = [...secrets.values()].sort((a, b) =>
        (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
      );
      const start = token === undefined ? 0 : Number(token);
      const end = start + limit;
      return Promise.resolve({
        items: all.slice(start, end),
        continueToken: end < all.length ? String(end) : undefined,
      });
    };
  // A copy, as the informer and a GET each get their own object off the wire.
  const copy = (name: string): V1Secret | undefined => {
    const found = secrets.get(name);
    return found === undefined ? undefined : (JSON.parse(JSON.stringify(found)) as V1Secret);
  };
  return {
    put,
    remove: (name: string) => secrets.delete(name),
    pages,
    read: (_namespace: string, name: string) => {
      reads += 1;
      return Promise.resolve(copy(name));
    },
    /** What the informer hands over for the stored secret (or for its deletion). */
    change: (name: string, type: 'upsert' | 'delete' = 'upsert'): SecretChange => ({
      type,
      secret: copy(name) ?? (JSON.parse(JSON.stringify({ metadata: { name, namespace } })) as V1Secret),
    }),
    get lists() {
      return lists;
    },
    get reads() {
      return reads;
    },
    failNextList: () => {
      failNext = true;
    },
  };
}

function setup(options: { events?: EventResult | 'off'; reports?: boolean; maxEventsPerPass?: number } = {}) {
  const api = store();
  const metrics = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const sent: EventBody[] = [];
  const names = new Set<string>();
  const written: PolicyReportManifest[] = [];
  const audit = new BackgroundAudit({
    ...SETTINGS,
    pass: inProcessPass({ ...SETTINGS, pages: api.pages(2) }),
    read: api.read,
    metrics: metrics.audit,
    log,
    ...(options.maxEventsPerPass === undefined ? {} : { maxEventsPerPass: options.maxEventsPerPass }),
    events:
      options.events === 'off'
        ? undefined
        : {
            reportingInstance: 'webhook-0',
            send: (event) => {
              sent.push(event);
              if (options.events !== undefined && options.events !== 'off')
                return Promise.resolve(options.events);
              // Named after the secret's state: the API server keeps the first of a name.
              if (names.has(event.metadata.name)) return Promise.resolve('exists');
              names.add(event.metadata.name);
              return Promise.resolve('created');
            },
          },
    policyReports:
      options.reports === true
        ? new PolicyReportWriter({
            log,
            onResult: () => undefined,
            apply: (report) => {
              written.push(report);
              return Promise.resolve();
            },
          })
        : undefined,
  });
  const gauge = async (name: string) =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric(name)?.get())?.values.map((value) => [
        value.labels['code'] ?? '',
        value.value,
      ]) ?? [],
    );
  return { api, audit, metrics, lines, sent, written, gauge };
}

describe('BackgroundAudit', () => {
  it('exports per-code counts and writes one Event per newly non-compliant secret, over several passes', async () => {
    const { api, audit, sent, gauge, lines } = setup();
    api.put('a-exec', { east: EXEC });
    api.put('b-token-file', { west: kubeconfigFixture('token-file') });
    api.put('c-local', { primary: CLEAN });
    api.put('d-clean', { north: CLEAN });
    api.put('e-exec-too', { south: EXEC, far: EXEC });
    for (let pass = 0; pass < 3; pass += 1) expect(await audit.runPass()).toBe(true);
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({
      exec: 2,
      'token-file': 1,
      'local-cluster-id': 1,
    });
    expect(await gauge('remote_secret_webhook_noncompliant_secrets')).toEqual({ '': 4 });
    expect(await gauge('remote_secret_webhook_audit_secrets')).toEqual({ '': 5 });
    expect(sent.map((event) => event.involvedObject.name).sort()).toEqual([
      'a-exec',
      'b-token-file',
      'c-local',
      'e-exec-too',
    ]);
    expect(sent.every((event) => event.reason === NONCOMPLIANT_REASON)).toBe(true);
    // Five secrets, two a page: three list requests a pass.
    expect(api.lists).toBe(9);
    const announced = lines.filter((line) => line['msg'] === 'stored remote secret is non-compliant');
    expect(announced).toHaveLength(4);
    expect(announced[0]).toMatchObject({ audit: true, secret: 'istio-system/a-exec', codes: ['exec'] });
    const everything = JSON.stringify(lines);
    expect(everything).not.toContain('/bin/sh');
    expect(everything).not.toContain('eyJ');
  });

  it('announces again after a fix and a relapse, and brings the gauge down on a fix', async () => {
    const { api, audit, sent, gauge } = setup();
    api.put('a', { east: EXEC });
    await audit.runPass();
    api.put('a', { east: CLEAN });
    await audit.runPass();
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ exec: 0 });
    api.put('a', { east: EXEC });
    await audit.runPass();
    expect(sent).toHaveLength(2);
    expect(sent[0]?.metadata.name).not.toBe(sent[1]?.metadata.name);
  });

  it('after a restart (a new tracker) writes the same Event name, which the API server already has', async () => {
    const first = setup();
    first.api.put('a', { east: EXEC });
    await first.audit.runPass();
    const restarted = setup();
    restarted.api.put('a', { east: EXEC });
    await restarted.audit.runPass();
    expect(restarted.sent[0]?.metadata.name).toBe(first.sent[0]?.metadata.name);
  });

  it('retries an Event that could not be written, and not one that exists', async () => {
    const failing = setup({ events: 'failed' });
    failing.api.put('a', { east: EXEC });
    await failing.audit.runPass();
    await failing.audit.runPass();
    expect(failing.sent).toHaveLength(2);
    const existing = setup({ events: 'exists' });
    existing.api.put('a', { east: EXEC });
    await existing.audit.runPass();
    await existing.audit.runPass();
    expect(existing.sent).toHaveLength(1);
  });

  it('with --no-events logs each newly non-compliant secret once', async () => {
    const { api, audit, lines } = setup({ events: 'off' });
    api.put('a', { east: EXEC });
    await audit.runPass();
    await audit.runPass();
    expect(lines.filter((line) => line['msg'] === 'stored remote secret is non-compliant')).toHaveLength(1);
  });

  it('announces at most maxEventsPerPass a pass, and the rest in the next passes', async () => {
    const { api, audit, sent } = setup({ maxEventsPerPass: 2 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.put(name, { [`cluster-${name}`]: EXEC });
    const counts: number[] = [];
    for (let pass = 0; pass < 4; pass += 1) {
      await audit.runPass();
      counts.push(sent.length);
    }
    expect(counts).toEqual([2, 4, 5, 5]);
  });

  it('changes no gauge and forgets nothing when a list fails half-way', async () => {
    const { api, audit, sent, gauge, metrics } = setup();
    api.put('a', { east: EXEC });
    await audit.runPass();
    api.remove('a');
    api.failNextList();
    expect(await audit.runPass()).toBe(false);
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ exec: 1 });
    api.put('a', { east: EXEC });
    await audit.runPass();
    expect(sent).toHaveLength(1);
    const runs = await metrics.audit.runs.get();
    expect(runs.values.map((value) => [value.labels['result'], value.value])).toEqual([
      ['ok', 2],
      ['failed', 1],
    ]);
  });

  it.each([{ reports: false }, { reports: true }])(
    'blames the later-created claimant of a cluster ID, though it is listed pages before the first (reports: $reports)',
    async ({ reports }) => {
      const { api, audit, sent, gauge, written } = setup({ reports });
      api.put('a-newer', { east: CLEAN }, '2025-06-01T00:00:00Z');
      api.put('m-other', { west: CLEAN }, '2025-03-01T00:00:00Z');
      api.put('z-older', { east: CLEAN }, '2025-01-01T00:00:00Z');
      await audit.runPass();
      expect(sent.map((event) => event.involvedObject.name)).toEqual(['a-newer']);
      expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ 'duplicate-cluster-id': 1 });
      expect(await gauge('remote_secret_webhook_audit_secrets')).toEqual({ '': 3 });
      if (reports) expect(written[0]?.summary).toMatchObject({ fail: 1, pass: 2 });
    },
  );

  it('reports how late the event loop ran during a pass', async () => {
    const { api, audit, lines, metrics } = setup({ events: 'off' });
    for (let index = 0; index < 40; index += 1)
      api.put(`s-${String(index)}`, { [`c${String(index)}`]: CLEAN });
    expect(await audit.runPass()).toBe(true);
    const done = lines.find((line) => line['msg'] === 'background audit pass done');
    expect(done).toMatchObject({ secrets: 40 });
    expect(done?.['eventLoopDelayP99Ms']).toEqual(expect.any(Number));
    expect(done?.['eventLoopDelayMaxMs']).toEqual(expect.any(Number));
    const delay = await metrics.registry
      .getSingleMetric('remote_secret_webhook_audit_last_run_event_loop_delay_seconds')
      ?.get();
    expect(delay?.values.map((value) => value.labels['quantile']).sort()).toEqual(['0.99', '1']);
  });

  it('writes one PolicyReport per namespace with --policy-report', async () => {
    const { api, audit, written } = setup({ reports: true });
    api.put('a', { east: EXEC });
    api.put('b', { west: CLEAN });
    await audit.runPass();
    expect(written).toHaveLength(1);
    expect(written[0]?.metadata).toMatchObject({ name: 'remote-secret-audit', namespace: 'istio-system' });
    expect(written[0]?.summary).toMatchObject({ fail: 1, pass: 1 });
  });
});

describe('BackgroundAudit.reconcile (one changed secret, as Istio processItem)', () => {
  it('decides the one secret the informer changed, with no list, and skips it while its data hash is the same', async () => {
    const { api, audit, gauge, sent, metrics } = setup();
    api.put('a', { east: CLEAN });
    api.put('b', { west: CLEAN });
    await audit.runPass();
    const listsAfterPass = api.lists;
    api.put('b', { west: EXEC });
    audit.reconcile(api.change('b'));
    await audit.settled();
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ exec: 1 });
    expect(sent.map((event) => event.involvedObject.name)).toEqual(['b']);
    // A resync or a label change hands over the same data: nothing to decide.
    audit.reconcile(api.change('b'));
    audit.reconcile(api.change('a'));
    await audit.settled();
    expect(api.lists).toBe(listsAfterPass);
    expect(api.reads).toBe(0);
    const reconciles = await metrics.audit.reconciles.get();
    expect(
      Object.fromEntries(reconciles.values.map((value) => [value.labels['result'], value.value])),
    ).toEqual({
      decided: 1,
      unchanged: 2,
    });
  });

  it('forgets a deleted secret, bringing its gauge down', async () => {
    const { api, audit, gauge } = setup();
    api.put('a', { east: EXEC });
    audit.reconcile(api.change('a'));
    await audit.settled();
    expect(await gauge('remote_secret_webhook_noncompliant_secrets')).toEqual({ '': 1 });
    const deleted = api.change('a', 'delete');
    api.remove('a');
    audit.reconcile(deleted);
    await audit.settled();
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ exec: 0 });
    expect(await gauge('remote_secret_webhook_audit_secrets')).toEqual({ '': 0 });
  });

  it("exports each cluster's token expiry, none for a token that never expires, and drops the series with the cluster or the secret", async () => {
    const { api, audit, metrics } = setup();
    const exp = 1_900_000_000;
    api.put('a', {
      east: kubeconfigText({ token: { iss: 'east', exp } }),
      legacy: kubeconfigText({ token: { iss: 'old' } }),
      south: kubeconfigText({ token: { iss: 'south', exp } }),
    });
    api.put('b', { west: EXEC });
    await audit.runPass();
    const series = async () =>
      (
        await metrics.registry
          .getSingleMetric('remote_secret_webhook_remote_token_expiry_timestamp_seconds')
          ?.get()
      )?.values.map((value) => ({ ...value.labels, value: value.value })) ?? [];
    expect(await series()).toEqual([
      { namespace: 'istio-system', secret: 'a', cluster: 'east', value: exp },
      { namespace: 'istio-system', secret: 'a', cluster: 'south', value: exp },
    ]);
    // The same pass again changes nothing; then the secret drops south and renews east.
    await audit.runPass();
    expect(await series()).toHaveLength(2);
    api.put('a', { east: kubeconfigText({ token: { iss: 'east', exp: exp + 3600 } }) });
    audit.reconcile(api.change('a'));
    await audit.settled();
    expect(await series()).toEqual([
      { namespace: 'istio-system', secret: 'a', cluster: 'east', value: exp + 3600 },
    ]);
    const deleted = api.change('a', 'delete');
    api.remove('a');
    audit.reconcile(deleted);
    await audit.settled();
    expect(await series()).toEqual([]);
  });

  it('decides the claimants of a shared cluster ID together, as a pass would, and frees the ID on delete', async () => {
    const { api, audit, gauge } = setup();
    api.put('a', { east: CLEAN });
    audit.reconcile(api.change('a'));
    await audit.settled();
    api.put('b', { east: CLEAN });
    audit.reconcile(api.change('b'));
    await audit.settled();
    // The same verdict as a full pass: the first by name holds the ID.
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ 'duplicate-cluster-id': 1 });
    expect(api.reads).toBe(1);
    const pass = setup();
    pass.api.put('a', { east: CLEAN });
    pass.api.put('b', { east: CLEAN });
    await pass.audit.runPass();
    expect(await pass.gauge('remote_secret_webhook_noncompliant')).toEqual({ 'duplicate-cluster-id': 1 });

    const deleted = api.change('a', 'delete');
    api.remove('a');
    audit.reconcile(deleted);
    await audit.settled();
    expect(await gauge('remote_secret_webhook_noncompliant')).toEqual({ 'duplicate-cluster-id': 0 });
  });

  it('leaves a burst larger than the queue to one pass', async () => {
    const overflows: number[] = [];
    const api = store();
    const metrics = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
    const audit = new BackgroundAudit({
      ...SETTINGS,
      pass: inProcessPass({ ...SETTINGS, pages: api.pages(2) }),
      read: api.read,
      metrics: metrics.audit,
      log: pino({ level: 'silent' }),
      maxQueued: 3,
      onOverflow: () => overflows.push(1),
    });
    for (const name of ['a', 'b', 'c', 'd']) {
      api.put(name, { [name]: CLEAN });
      audit.reconcile(api.change(name));
    }
    await audit.settled();
    expect(overflows).toHaveLength(1);
  });

  it('ignores secrets of namespaces it does not watch', async () => {
    const { audit, metrics } = setup();
    const elsewhere = JSON.parse('{"metadata":{"name":"x","namespace":"elsewhere"}}') as V1Secret;
    audit.reconcile({ type: 'upsert', secret: elsewhere });
    await audit.settled();
    expect((await metrics.audit.reconciles.get()).values).toEqual([]);
  });
});

describe('PolicyReportWriter', () => {
  it('warns once while the CRD is missing, and says when reports are written again', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      {},
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    let missing = true;
    const results: string[] = [];
    const writer = new PolicyReportWriter({
      log,
      onResult: (result) => results.push(result),
      apply: () =>
        missing
          ? Promise.reject(new KubeError('not-found', 'the server could not find the requested resource'))
          : Promise.resolve(),
    });
    const report = { metadata: { namespace: 'istio-system' } } as PolicyReportManifest;
    for (let pass = 0; pass < 3; pass += 1) expect(await writer.write(report)).toBe(false);
    missing = false;
    expect(await writer.write(report)).toBe(true);
    expect(lines.map((line) => [line['level'], line['msg']])).toEqual([
      [40, expect.stringContaining('the PolicyReport CRD (policyreports.wgpolicyk8s.io) is not installed')],
      [30, 'PolicyReports are written again'],
    ]);
    expect(results).toEqual(['failed', 'failed', 'failed', 'written']);
  });
});

describe('AuditScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Passes end when the test says so (`finish`), so the fake clock never races a pass. */
  function scheduler(options: { hold?: boolean } = {}) {
    vi.useFakeTimers();
    let passes = 0;
    let finish: () => void = () => undefined;
    const schedule = new AuditScheduler({
      run: () => {
        passes += 1;
        if (options.hold !== true) return Promise.resolve();
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
      intervalMs: 60_000,
      debounceMs: 1000,
      maxDelayMs: 10_000,
    });
    return {
      schedule,
      passes: () => passes,
      finish: async () => {
        finish();
        await vi.advanceTimersByTimeAsync(0);
      },
    };
  }

  it('runs once shortly after start, then every interval', async () => {
    const { schedule, passes } = scheduler();
    schedule.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes()).toBe(1);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(passes()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes()).toBe(2);
    await schedule.stop();
  });

  it('makes one pass of a burst of 1,000 changes', async () => {
    const { schedule, passes } = scheduler();
    schedule.start();
    await vi.advanceTimersByTimeAsync(1000);
    for (let change = 0; change < 1000; change += 1) schedule.changed();
    await vi.advanceTimersByTimeAsync(999);
    expect(passes()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes()).toBe(2);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(passes()).toBe(2);
    await schedule.stop();
  });

  it('does not let a steady stream of changes put a pass off beyond maxDelay', async () => {
    const { schedule, passes } = scheduler();
    for (let second = 0; second < 10; second += 1) {
      schedule.changed();
      await vi.advanceTimersByTimeAsync(999);
    }
    expect(passes()).toBe(0);
    schedule.changed();
    await vi.advanceTimersByTimeAsync(10);
    expect(passes()).toBe(1);
    await schedule.stop();
  });

  it('never runs two passes at once; changes during a pass make one more after it', async () => {
    const { schedule, passes, finish } = scheduler({ hold: true });
    schedule.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes()).toBe(1);
    schedule.changed();
    schedule.changed();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(passes()).toBe(1);
    await finish();
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes()).toBe(2);
    await finish();
    await schedule.stop();
  });

  it('runs nothing after stop', async () => {
    const { schedule, passes } = scheduler();
    schedule.start();
    await schedule.stop();
    schedule.changed();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(passes()).toBe(0);
  });
});
