import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../shared/admission/decide.ts';
import { parseAdmissionReview } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { readRejection } from '../shared/audit/rejections.ts';
import { KubeError } from '../shared/kube/errors.ts';
import type { StoredSecretStatus } from '../shared/audit/background.ts';
import { ClusterIdScope } from '../shared/remote-secret/cluster-id-scope.ts';
import {
  ADMITTED_REASON,
  buildEvent,
  buildNonCompliantEvent,
  EventRecorder,
  NONCOMPLIANT_REASON,
  REJECTED_REASON,
  type EventBody,
  type EventResult,
  type EventSink,
} from './events.ts';
import type { Caller } from './caller.ts';

/** A review from the API server, its client certificate verified against --client-ca-file. */
const VERIFIED: Caller = { authenticated: true, subject: 'CN=kube-apiserver-webhook-client' };

function decided(
  mode: 'enforce' | 'warn' | 'audit',
  dryRun = false,
  kubeconfig = 'token-file',
  name = 'istio-remote-secret-east',
) {
  const parsed = parseAdmissionReview(
    admissionReview({
      dryRun,
      object: secretObject({ name, data: { east: kubeconfigFixture(kubeconfig) } }),
    }),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const decision = decideAdmission(parsed.request, {
    mode,
    allow: new Set(),
    clusterIds: new ClusterIdScope(),
  });
  return { request: parsed.request, decision };
}

interface Write {
  readonly kind: 'create' | 'patch';
  readonly name: string;
  readonly count: number;
  readonly message: string;
}

/** A fake API server: records every write; `hold` keeps answers back until `release`. */
function fakeSink(options: { hold?: boolean; patch?: () => Promise<unknown> } = {}) {
  const writes: Write[] = [];
  const held: (() => void)[] = [];
  const answer = (): Promise<unknown> =>
    options.hold === true
      ? new Promise((resolve) =>
          held.push(() => {
            resolve({});
          }),
        )
      : Promise.resolve({});
  const sink: EventSink = {
    create: (event) => {
      writes.push({ kind: 'create', name: event.metadata.name, count: event.count, message: event.message });
      return answer();
    },
    patch: (_namespace, name, patch) => {
      writes.push({ kind: 'patch', name, count: patch.count, message: patch.message });
      return options.patch?.() ?? answer();
    },
  };
  const release = async (): Promise<void> => {
    while (held.length > 0) {
      for (const resolve of held.splice(0)) resolve();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { sink, writes, release };
}

function recorder(options: { hold?: boolean; burst?: number; now?: () => Date } = {}) {
  const fake = fakeSink(options);
  const results: EventResult[] = [];
  const events = new EventRecorder({
    sink: fake.sink,
    onResult: (result) => results.push(result),
    instance: 'webhook-0',
    ...(options.burst === undefined ? {} : { burst: options.burst }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return { events, results, ...fake };
}

describe('EventRecorder', () => {
  it.each([
    { mode: 'enforce', reason: REJECTED_REASON, verb: 'rejected' },
    { mode: 'warn', reason: ADMITTED_REASON, verb: 'admitted (warn mode)' },
    { mode: 'audit', reason: ADMITTED_REASON, verb: 'admitted (audit mode)' },
  ] as const)('writes a Warning Event in the secret namespace ($mode)', async ({ mode, reason, verb }) => {
    const created: EventBody[] = [];
    const events = new EventRecorder({
      sink: {
        create: (event) => {
          created.push(event);
          return Promise.resolve();
        },
        patch: () => Promise.resolve(),
      },
      onResult: () => undefined,
      instance: 'webhook-0',
    });
    const { request, decision } = decided(mode);
    events.record(request, decision, VERIFIED);
    await events.flush();
    expect(created).toHaveLength(1);
    const event = created[0];
    expect(event).toMatchObject({
      metadata: { namespace: 'istio-system' },
      type: 'Warning',
      reason,
      involvedObject: { kind: 'Secret', namespace: 'istio-system', name: 'istio-remote-secret-east' },
      reportingComponent: 'remote-secret-webhook',
      reportingInstance: 'webhook-0',
      count: 1,
    });
    // The wording docs/webhook.md shows: the mode's name, as --mode spells it.
    expect(event?.message).toMatch(
      new RegExp(`^CREATE by jane@example\\.com ${verb.replace(/[()]/g, '\\$&')}: 1 violation: `),
    );
    expect(event?.message).toContain('token-file at east: users[0].user.tokenFile');
    // Names and paths only: the kubeconfig's token file path is not echoed.
    expect(event?.message).not.toContain('/var/run/secrets');
  });

  it('writes nothing for a dry run or a clean secret', async () => {
    const { events, writes } = recorder();
    const dry = decided('enforce', true);
    events.record(dry.request, dry.decision, VERIFIED);
    const clean = decided('enforce', false, 'clean');
    events.record(clean.request, clean.decision, VERIFIED);
    await events.flush();
    expect(writes).toEqual([]);
  });

  it('aggregates 50 identical refusals into one Event with count 50, as client-go does', async () => {
    const { events, writes, results } = recorder();
    const { request, decision } = decided('enforce');
    for (let index = 0; index < 50; index += 1) {
      events.record(request, decision, VERIFIED);
      // One retry after another, as a GitOps loop re-applies: each write is answered first.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await events.flush();
    expect(new Set(writes.map((write) => write.name)).size).toBe(1);
    expect(writes[0]).toMatchObject({ kind: 'create', count: 1 });
    expect(writes.slice(1).every((write) => write.kind === 'patch')).toBe(true);
    expect(writes.at(-1)).toMatchObject({ kind: 'patch', count: 50 });
    // 25 writes (the burst), then 25 repeats counted but held back, then one write at flush.
    expect(writes).toHaveLength(26);
    expect(results.filter((result) => result === 'deferred')).toHaveLength(25);
  });

  it('folds repeats that arrive while a write is in flight into the next write', async () => {
    const { events, writes, release } = recorder({ hold: true });
    const { request, decision } = decided('enforce');
    for (let index = 0; index < 50; index += 1) events.record(request, decision, VERIFIED);
    expect(writes).toEqual([expect.objectContaining({ kind: 'create', count: 1 })]);
    await release();
    await events.flush();
    expect(writes.map(({ kind, count }) => ({ kind, count }))).toEqual([
      { kind: 'create', count: 1 },
      { kind: 'patch', count: 50 },
    ]);
  });

  it.each([
    { name: 'another user', change: { user: 'mallory' } },
    { name: 'other codes', change: { kubeconfig: 'exec' } },
    { name: 'another secret', change: { secret: 'istio-remote-secret-west' } },
    { name: 'another reason (warn mode admits)', change: { mode: 'warn' as const } },
  ])('starts a new Event for $name', async ({ change }) => {
    const { events, writes } = recorder();
    const first = decided('enforce');
    events.record(first.request, first.decision, VERIFIED);
    const other = decided(change.mode ?? 'enforce', false, change.kubeconfig ?? 'token-file', change.secret);
    const request =
      change.user === undefined
        ? other.request
        : { ...other.request, userInfo: { ...other.request.userInfo, username: change.user } };
    events.record(request, other.decision, VERIFIED);
    await events.flush();
    expect(writes.map((write) => write.kind)).toEqual(['create', 'create']);
    expect(writes[0]?.name).not.toBe(writes[1]?.name);
  });

  it('rate-limits writes per secret and writes the held-back count when a token is back', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    const { events, writes, results } = recorder({ burst: 2, now: () => now });
    const { request, decision } = decided('enforce');
    for (let index = 0; index < 5; index += 1) {
      events.record(request, decision, VERIFIED);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(writes.map((write) => write.count)).toEqual([1, 2]);
    expect(results.filter((result) => result === 'deferred')).toHaveLength(3);
    now = new Date(now.getTime() + 10_000);
    events.record(request, decision, VERIFIED);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.map((write) => write.count)).toEqual([1, 2, 6]);
  });

  it('creates the Event again, with the whole count, when the API server let it expire', async () => {
    const fake = fakeSink({
      patch: () => Promise.reject(new KubeError('not-found', 'events "x" not found')),
    });
    const events = new EventRecorder({ sink: fake.sink, onResult: () => undefined });
    const { request, decision } = decided('enforce');
    events.record(request, decision, VERIFIED);
    await events.flush();
    events.record(request, decision, VERIFIED);
    await events.flush();
    expect(fake.writes.map(({ kind, count }) => ({ kind, count }))).toEqual([
      { kind: 'create', count: 1 },
      { kind: 'patch', count: 2 },
      { kind: 'create', count: 2 },
    ]);
  });

  it('drops and counts writes beyond 100 in flight instead of queueing without bound', () => {
    const { events, writes, results } = recorder({ hold: true });
    for (let index = 0; index < 105; index += 1) {
      const { request, decision } = decided('enforce', false, 'token-file', `istio-remote-secret-${index}`);
      events.record(request, decision, VERIFIED);
    }
    expect(writes).toHaveLength(100);
    expect(results.filter((result) => result === 'dropped')).toHaveLength(5);
  });

  it('carries who, what and the codes as annotations that `audit --rejections` reads back', () => {
    const { request, decision } = decided('enforce');
    const event = buildEvent(request, decision, VERIFIED, 'webhook-0');
    expect(event.metadata.annotations).toMatchObject({
      'remote-secret-webhook/user': 'jane@example.com',
      'remote-secret-webhook/operation': 'CREATE',
      'remote-secret-webhook/violation-codes': 'token-file',
      'remote-secret-webhook/clusters': 'east',
    });
    expect(readRejection(event)).toEqual({
      time: event.lastTimestamp.toISOString(),
      user: 'jane@example.com',
      operation: 'CREATE',
      secret: 'istio-system/istio-remote-secret-east',
      clusters: ['east'],
      codes: ['token-file'],
      violations: [{ cluster: 'east', code: 'token-file', path: 'users[0].user.tokenFile' }],
      count: 1,
      authenticated: true,
      verdict: 'rejected',
      source: 'event',
      // The same uid is in the API server's audit log: `--audit-log` counts the refusal once.
      requestUid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    });
    expect(event.metadata.annotations).toMatchObject({
      'remote-secret-webhook/authenticated': 'true',
      'remote-secret-webhook/caller': 'CN=kube-apiserver-webhook-client',
    });
  });

  it('marks an Event from an unauthenticated review, in its annotations and its message', () => {
    const { request, decision } = decided('enforce');
    const event = buildEvent(request, decision, { authenticated: false }, 'webhook-0');
    expect(event.metadata.annotations['remote-secret-webhook/authenticated']).toBe('false');
    expect(event.metadata.annotations).not.toHaveProperty('remote-secret-webhook/caller');
    expect(event.message).toMatch(/^CREATE by jane@example\.com \(unauthenticated caller\) rejected: /);
    expect(readRejection(event)).toMatchObject({ user: 'jane@example.com', authenticated: false });
    // Read from the message alone, too.
    const bare = { ...event, metadata: { name: event.metadata.name, namespace: event.metadata.namespace } };
    expect(readRejection(bare)).toMatchObject({ user: 'jane@example.com', authenticated: false });
  });

  it('bounds unauthenticated writes across secrets (100, then one a second), and not authenticated ones', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    const run = async (caller: Caller) => {
      const { events, writes } = recorder({ now: () => now });
      for (let index = 0; index < 300; index += 1) {
        const { request, decision } = decided(
          'enforce',
          false,
          'exec',
          `istio-remote-secret-${String(index)}`,
        );
        events.record(request, decision, caller);
        await new Promise((resolve) => setImmediate(resolve));
      }
      return { events, writes };
    };
    const verified = await run(VERIFIED);
    expect(verified.writes).toHaveLength(300);
    const forged = await run({ authenticated: false });
    expect(forged.writes).toHaveLength(100);
    expect(new Set(forged.writes.map((write) => write.name)).size).toBe(100);
    // Ten seconds on, ten more shared tokens: the next unauthenticated write goes out.
    now = new Date(now.getTime() + 10_000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const { request, decision } = decided('enforce', false, 'exec', 'istio-remote-secret-late');
    forged.events.record(request, decision, { authenticated: false });
    expect(forged.writes).toHaveLength(101);
  });

  it('makes unauthenticated reviews of one secret one series, whatever user each claims', async () => {
    const { events, writes } = recorder();
    const { request, decision } = decided('enforce');
    for (let index = 0; index < 200; index += 1) {
      const forged = { ...request, userInfo: { ...request.userInfo, username: `forged-${String(index)}` } };
      events.record(forged, decision, { authenticated: false });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await events.flush();
    expect(new Set(writes.map((write) => write.name)).size).toBe(1);
    // The burst of 25, then one write of the held-back count at flush.
    expect(writes).toHaveLength(26);
    expect(writes.at(-1)).toMatchObject({ kind: 'patch', count: 200 });
    expect(writes.at(-1)?.message).toContain('forged-199 (unauthenticated caller) rejected');
  });

  it('is read back from its message alone, as an older webhook wrote it', () => {
    const { request, decision } = decided('enforce');
    const event = buildEvent(request, decision, VERIFIED, 'webhook-0');
    const old = { ...event, metadata: { name: event.metadata.name, namespace: event.metadata.namespace } };
    expect(readRejection(old)).toMatchObject({
      user: 'jane@example.com',
      operation: 'CREATE',
      clusters: ['east'],
      codes: ['token-file'],
      violations: [{ cluster: 'east', code: 'token-file', path: 'users[0].user.tokenFile' }],
    });
  });
});

describe('EventRecorder.send', () => {
  const event = (name: string) => buildNonCompliantEvent(status({ name }), 'webhook-0', NOW);

  it.each([
    { answer: () => Promise.resolve({}), result: 'created' },
    { answer: () => Promise.reject(new KubeError('already-exists', 'exists')), result: 'exists' },
    { answer: () => Promise.reject(new KubeError('forbidden', 'forbidden')), result: 'failed' },
  ])('resolves $result and reports it', async ({ answer, result }) => {
    const results: string[] = [];
    const events = new EventRecorder({
      sink: { create: answer, patch: () => Promise.resolve() },
      onResult: (found) => results.push(found),
    });
    expect(await events.send(event('a'))).toBe(result);
    expect(results).toEqual([result]);
  });
});

const NOW = new Date('2026-06-01T00:00:00Z');

function status(fields: Partial<StoredSecretStatus> = {}): StoredSecretStatus {
  const name = fields.name ?? 'istio-remote-secret-east';
  return {
    namespace: 'istio-system',
    name,
    secret: `istio-system/${name}`,
    uid: 'uid-1',
    resourceVersion: '42',
    clusters: ['east', 'west'],
    violations: [
      { cluster: 'east', code: 'exec', path: 'users[0].user.exec' },
      { cluster: 'west', code: 'token-file', path: 'users[0].user.tokenFile' },
    ],
    risks: [],
    hints: ['re-create it with `kubectl remote-secret create`'],
    tokenExpiry: [],
    ...fields,
  };
}

describe('buildNonCompliantEvent', () => {
  it('points at the Secret and names clusters, codes, paths and the fix', () => {
    const event = buildNonCompliantEvent(status(), 'webhook-0', NOW);
    expect(event).toMatchObject({
      type: 'Warning',
      reason: NONCOMPLIANT_REASON,
      action: 'Audit',
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: 'istio-system',
        name: 'istio-remote-secret-east',
        uid: 'uid-1',
      },
      reportingComponent: 'remote-secret-webhook',
      reportingInstance: 'webhook-0',
      count: 1,
    });
    expect(event.message).toBe(
      'stored remote secret istio-system/istio-remote-secret-east is non-compliant: 2 violations in 2 clusters: exec at east: users[0].user.exec; token-file at west: users[0].user.tokenFile; fix: re-create it with `kubectl remote-secret create`',
    );
    expect(event.metadata.annotations).toEqual({
      'remote-secret-webhook/found-by': 'background-audit',
      'remote-secret-webhook/violation-codes': 'exec,token-file',
      'remote-secret-webhook/clusters': 'east,west',
      'remote-secret-webhook/violations':
        '[{"cluster":"east","code":"exec","path":"users[0].user.exec"},{"cluster":"west","code":"token-file","path":"users[0].user.tokenFile"}]',
      'remote-secret-webhook/resource-version': '42',
    });
    // Not a rejection: `audit --rejections` does not list it.
    expect(readRejection(event)).toBeUndefined();
  });

  it('is named after the secret and its state: the same state, the same name', () => {
    const name = (fields: Partial<StoredSecretStatus> = {}) =>
      buildNonCompliantEvent(status(fields), 'webhook-1', new Date()).metadata.name;
    expect(name()).toMatch(/^istio-remote-secret-east\.[0-9a-f]{16}$/);
    expect(name()).toBe(buildNonCompliantEvent(status(), 'webhook-0', NOW).metadata.name);
    expect(name({ resourceVersion: '43' })).not.toBe(name());
    expect(name({ uid: 'uid-2' })).not.toBe(name());
    expect(name({ violations: [{ cluster: 'east', code: 'exec', path: 'users[0].user.exec' }] })).not.toBe(
      name(),
    );
  });

  it('keeps the name a DNS subdomain of at most 253 characters for the longest secret names', () => {
    const long = `${'a'.repeat(235)}-${'b'.repeat(17)}`;
    const { name } = buildNonCompliantEvent(status({ name: long }), 'webhook-0', NOW).metadata;
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  });

  it('says "the secret" for a secret-level violation and clips the message at 1 KiB', () => {
    const unreadable = buildNonCompliantEvent(
      status({ clusters: [], violations: [{ cluster: '', code: 'invalid-secret', path: '' }], hints: [] }),
      'webhook-0',
      NOW,
    );
    expect(unreadable.message).toBe(
      'stored remote secret istio-system/istio-remote-secret-east is non-compliant: 1 violation: invalid-secret at (secret)',
    );
    const many = Array.from({ length: 60 }, (_, index) => ({
      cluster: `cluster-${String(index)}`,
      code: 'exec' as const,
      path: 'users[0].user.exec',
    }));
    expect(buildNonCompliantEvent(status({ violations: many }), 'webhook-0', NOW).message.length).toBe(1024);
  });
});
