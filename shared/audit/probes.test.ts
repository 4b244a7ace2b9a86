import { describe, expect, it } from 'vitest';
import type { ClusterVerification } from '../remote-secret/verify.ts';
import {
  probeOutcome,
  ProbeTracker,
  withoutUserinfo,
  type ProbeOutcome,
  type ProbeResult,
} from './probes.ts';

const OK = { status: 'ok' } as const;
const NOT_CHECKED = { status: 'skipped', message: 'not checked' } as const;

function verification(
  steps: Partial<Pick<ClusterVerification, 'reachable' | 'auth' | 'rbac'>>,
): ClusterVerification {
  return {
    source: 'istio-system/istio-remote-secret-east',
    secret: 'istio-system/istio-remote-secret-east',
    cluster: 'east',
    server: 'https://east.example:6443',
    status: 'failed',
    kubeconfig: { status: 'ok', violations: [] },
    reachable: steps.reachable ?? OK,
    auth: steps.auth ?? OK,
    rbac: steps.rbac ?? { status: 'ok', missing: [] },
    expiry: { status: 'ok', expires: null, message: 'never expires' },
  };
}

describe('probeOutcome', () => {
  it.each([
    {
      name: 'an unreachable server',
      steps: {
        reachable: { status: 'failed', message: 'connection refused', hint: 'check the address' },
        auth: NOT_CHECKED,
        rbac: { ...NOT_CHECKED, missing: [] },
      },
      expected: { outcome: 'unreachable', message: 'connection refused', hint: 'check the address' },
    },
    {
      name: 'a cluster not probed',
      steps: {
        reachable: { status: 'skipped', message: 'not checked: proxy-url' },
        auth: NOT_CHECKED,
        rbac: { ...NOT_CHECKED, missing: [] },
      },
      expected: { outcome: 'skipped', message: 'not checked: proxy-url', hint: undefined },
    },
    {
      name: 'a refused token',
      steps: {
        auth: { status: 'failed', message: 'the server refused the token', hint: 'mint a new one' },
        rbac: { ...NOT_CHECKED, missing: [] },
      },
      expected: {
        outcome: 'unauthenticated',
        message: 'the server refused the token',
        hint: 'mint a new one',
      },
    },
    {
      name: 'missing reader permissions',
      steps: {
        rbac: {
          status: 'failed',
          missing: ['list secrets', 'watch services'],
          message: 'missing 2 of the 20 permissions',
          hint: 'restore the binding',
        },
      },
      expected: {
        outcome: 'forbidden',
        message: 'missing 2 of the 20 permissions: list secrets, watch services',
        hint: 'restore the binding',
      },
    },
    {
      name: 'every step passed',
      steps: {},
      expected: { outcome: 'ok', message: '', hint: undefined },
    },
  ] satisfies {
    name: string;
    steps: Partial<Pick<ClusterVerification, 'reachable' | 'auth' | 'rbac'>>;
    expected: ReturnType<typeof probeOutcome>;
  }[])('$name is $expected.outcome', ({ steps, expected }) => {
    expect(probeOutcome(verification(steps))).toEqual(expected);
  });
});

function result(outcome: ProbeOutcome, cluster = 'east'): ProbeResult {
  return {
    namespace: 'istio-system',
    name: 'istio-remote-secret-east',
    uid: 'uid-1',
    resourceVersion: '7',
    cluster,
    server: 'https://east.example:6443',
    outcome,
    message: outcome === 'ok' ? '' : `${outcome} from the primary`,
    hint: undefined,
    seconds: 0.1,
  };
}

/**
 * Rounds of one cluster through a tracker whose Events are all written (markAnnounced), and
 * which of them reported it worse.
 */
function worseRounds(outcomes: readonly ProbeOutcome[]): boolean[] {
  const tracker = new ProbeTracker();
  return outcomes.map((outcome) => {
    const worse = tracker.completeRound([result(outcome)]);
    for (const found of worse) tracker.markAnnounced(found);
    return worse.length > 0;
  });
}

describe('ProbeTracker', () => {
  it.each([
    { name: 'a failing cluster seen first is worse', rounds: ['unreachable'], worse: [true] },
    { name: 'an ok cluster seen first is not', rounds: ['ok'], worse: [false] },
    {
      name: 'the same failure next round is not news',
      rounds: ['forbidden', 'forbidden', 'forbidden'],
      worse: [true, false, false],
    },
    {
      name: 'a relapse after a fix is worse again',
      rounds: ['unreachable', 'ok', 'unreachable'],
      worse: [true, false, true],
    },
    {
      name: 'unreachable after forbidden is worse',
      rounds: ['forbidden', 'unreachable'],
      worse: [true, true],
    },
    {
      name: 'unauthenticated after forbidden is worse, unreachable after that too',
      rounds: ['forbidden', 'unauthenticated', 'unreachable'],
      worse: [true, true, true],
    },
    {
      name: 'forbidden after unreachable is not',
      rounds: ['unreachable', 'forbidden'],
      worse: [true, false],
    },
    {
      name: 'skipped is never worse',
      rounds: ['skipped', 'ok', 'skipped', 'skipped'],
      worse: [false, false, false, false],
    },
    {
      name: 'a failure after a skipped round is worse',
      rounds: ['skipped', 'unreachable'],
      worse: [false, true],
    },
  ] satisfies { name: string; rounds: ProbeOutcome[]; worse: boolean[] }[])('$name', ({ rounds, worse }) => {
    expect(worseRounds(rounds)).toEqual(worse);
  });

  it('reports a worse result again while its Event was not written', () => {
    const tracker = new ProbeTracker();
    // The Event write failed: markAnnounced is not called.
    expect(tracker.completeRound([result('unreachable')])).toHaveLength(1);
    const again = tracker.completeRound([result('unreachable')]);
    expect(again.map((found) => found.outcome)).toEqual(['unreachable']);
    tracker.markAnnounced(again[0] ?? result('ok'));
    expect(tracker.completeRound([result('unreachable')])).toEqual([]);
  });

  it('compares an unannounced worse result with the last one announced', () => {
    const tracker = new ProbeTracker();
    for (const found of tracker.completeRound([result('forbidden')])) tracker.markAnnounced(found);
    // Worse, but not written; and the next round is back at forbidden, which is no news.
    expect(tracker.completeRound([result('unreachable')])).toHaveLength(1);
    expect(tracker.completeRound([result('forbidden')])).toEqual([]);
  });

  it('keeps clusters apart, and forgets one a round no longer has', () => {
    const tracker = new ProbeTracker();
    const first = tracker.completeRound([result('unreachable', 'east'), result('ok', 'west')]);
    expect(first.map((found) => found.cluster)).toEqual(['east']);
    for (const found of first) tracker.markAnnounced(found);
    expect(tracker.completeRound([result('ok', 'west')])).toEqual([]);
    // east went away (its secret was deleted) and came back failing: news again.
    expect(
      tracker
        .completeRound([result('unreachable', 'east'), result('unreachable', 'west')])
        .map((found) => found.cluster),
    ).toEqual(['east', 'west']);
  });
});

describe('withoutUserinfo', () => {
  it.each([
    { server: 'https://reader:hunter2@east.example:6443', shown: 'https://east.example:6443' },
    { server: 'https://reader@east.example:6443/prefix', shown: 'https://east.example:6443/prefix' },
    { server: 'https://a@b:c@[fd00::1]:6443?x=1', shown: 'https://[fd00::1]:6443?x=1' },
    {
      server: 'https://east.example:6443/path@not-userinfo',
      shown: 'https://east.example:6443/path@not-userinfo',
    },
    { server: 'https://east.example:6443', shown: 'https://east.example:6443' },
    { server: 'not a url', shown: 'not a url' },
  ])('$server is shown as $shown', ({ server, shown }) => {
    expect(withoutUserinfo(server)).toBe(shown);
  });
});
