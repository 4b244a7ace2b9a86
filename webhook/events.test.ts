import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../shared/admission/decide.ts';
import { parseAdmissionReview } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { readRejection } from '../shared/audit/rejections.ts';
import { ADMITTED_REASON, buildEvent, EventRecorder, REJECTED_REASON, type EventBody } from './events.ts';

function decided(mode: 'enforce' | 'warn' | 'audit', dryRun = false, kubeconfig = 'token-file') {
  const parsed = parseAdmissionReview(
    admissionReview({ dryRun, object: secretObject({ data: { east: kubeconfigFixture(kubeconfig) } }) }),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const decision = decideAdmission(parsed.request, { mode, allow: new Set(), holderOf: () => undefined });
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
