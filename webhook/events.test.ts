import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../shared/admission/decide.ts';
import { parseAdmissionReview } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { ADMITTED_REASON, EventRecorder, REJECTED_REASON, type EventBody } from './events.ts';

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
});
