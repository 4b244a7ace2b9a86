import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../shared/admission/decide.ts';
import { parseAdmissionReview } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { readRejection } from '../shared/audit/rejections.ts';
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
} from './events.ts';

function decided(mode: 'enforce' | 'warn' | 'audit', dryRun = false, kubeconfig = 'token-file') {
  const parsed = parseAdmissionReview(
    admissionReview({ dryRun, object: secretObject({ data: { east: kubeconfigFixture(kubeconfig) } }) }),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const decision = decideAdmission(parsed.request, {
    mode,
    allow: new Set(),
    clusterIds: new ClusterIdScope(),
  });
  return { request: parsed.request, decision };
}

function recorder() {
  const sent: { namespace: string; event: EventBody }[] = [];
  const results: string[] = [];
  const events = new EventRecorder({
    create: (namespace, event) => {
      sent.push({ namespace, event });
      return new Promise(() => undefined); // the API server never answers: Events pile up
    },
    onResult: (result) => results.push(result),
    instance: 'webhook-0',
  });
  return { events, sent, results };
}

describe('EventRecorder', () => {
  it.each([
    { mode: 'enforce', reason: REJECTED_REASON },
    { mode: 'warn', reason: ADMITTED_REASON },
    { mode: 'audit', reason: ADMITTED_REASON },
  ] as const)('writes a Warning Event in the secret namespace ($mode)', ({ mode, reason }) => {
    const { events, sent } = recorder();
    const { request, decision } = decided(mode);
    events.record(request, decision);
    expect(sent).toHaveLength(1);
    const { namespace, event } = sent[0] ?? { namespace: '', event: undefined };
    expect(namespace).toBe('istio-system');
    expect(event).toMatchObject({
      type: 'Warning',
      reason,
      involvedObject: { kind: 'Secret', namespace: 'istio-system', name: 'istio-remote-secret-east' },
      reportingComponent: 'remote-secret-webhook',
      reportingInstance: 'webhook-0',
    });
    expect(event?.message).toContain('CREATE by jane@example.com');
    expect(event?.message).toContain('token-file at east: users[0].user.tokenFile');
    // Names and paths only: the kubeconfig's token file path is not echoed.
    expect(event?.message).not.toContain('/var/run/secrets');
  });

  it('writes nothing for a dry run or a clean secret', () => {
    const { events, sent } = recorder();
    const dry = decided('enforce', true);
    events.record(dry.request, dry.decision);
    const clean = decided('enforce', false, 'clean');
    events.record(clean.request, clean.decision);
    expect(sent).toEqual([]);
  });

  it('drops and counts Events beyond 100 pending instead of queueing without bound', () => {
    const { events, sent, results } = recorder();
    const { request, decision } = decided('enforce');
    for (let index = 0; index < 105; index += 1) events.record(request, decision);
    expect(sent).toHaveLength(100);
    expect(results.filter((result) => result === 'dropped')).toHaveLength(5);
  });

  it('carries who, what and the codes as annotations that `audit --rejections` reads back', () => {
    const { request, decision } = decided('enforce');
    const event = buildEvent(request, decision, 'webhook-0');
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
    });
  });

  it('is read back from its message alone, as an older webhook wrote it', () => {
    const { request, decision } = decided('enforce');
    const event = buildEvent(request, decision, 'webhook-0');
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
    {
      answer: () => Promise.reject(Object.assign(new Error('AlreadyExists'), { code: 409 })),
      result: 'exists',
    },
    { answer: () => Promise.reject(Object.assign(new Error('Forbidden'), { code: 403 })), result: 'failed' },
  ])('resolves $result and reports it', async ({ answer, result }) => {
    const results: string[] = [];
    const events = new EventRecorder({ create: answer, onResult: (found) => results.push(found) });
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
