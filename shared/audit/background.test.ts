import { describe, expect, it } from 'vitest';
import { kubeconfigFixture } from '../admission/testdata/reviews.ts';
import { readRemoteSecretObject } from '../remote-secret/manifests.ts';
import { Auditor } from './audit.ts';
import {
  ComplianceTracker,
  storedSecretStatus,
  unreadableSecretStatus,
  withDuplicates,
  type StoredSecretStatus,
} from './background.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from './risk-notes.ts';
import { expIn, kubeconfigText, NOW } from './testdata/kubeconfigs.ts';

const options = {
  allow: new Set<string>(),
  localClusterId: 'primary',
  now: NOW,
  expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS,
};

/**
 * Decide stored secrets page by page with the shared Auditor, then add the duplicates found
 * once every claimant is known, as the webhook's pass does.
 */
function statuses(...secrets: { name: string; data: Record<string, string>; uid?: string }[]) {
  const auditor = new Auditor(options, { keepFindings: false });
  const decided = secrets.map(({ name, data, uid }) => {
    const read = readRemoteSecretObject(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'istio-system', labels: { 'istio/multiCluster': 'true' } },
        data: Object.fromEntries(
          Object.entries(data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
        ),
      },
      `istio-system/${name}`,
    );
    const findings = auditor.add(read.secrets, read.errors);
    return storedSecretStatus({ namespace: 'istio-system', name, uid: uid ?? `uid-${name}` }, findings);
  });
  const duplicates = auditor.duplicates();
  return decided.map((status) =>
    withDuplicates(
      status,
      duplicates.filter((found) => found.name === status.name),
    ),
  );
}

const CLEAN = kubeconfigText();
const EXEC = kubeconfigText({ exec: true });
const names = (list: readonly StoredSecretStatus[]) => list.map((status) => status.name);

describe('storedSecretStatus', () => {
  it('keeps codes, clusters, paths and fixes, and nothing of the kubeconfig', () => {
    const [status] = statuses({
      name: 'a',
      data: { east: EXEC, west: kubeconfigText({ token: { exp: expIn(-1) } }), primary: CLEAN },
    });
    expect(status).toMatchObject({
      secret: 'istio-system/a',
      namespace: 'istio-system',
      name: 'a',
      uid: 'uid-a',
      clusters: ['east', 'west', 'primary'],
      violations: [
        { cluster: 'east', code: 'exec', path: 'users[0].user.exec' },
        { cluster: 'primary', code: 'local-cluster-id', path: 'data.primary' },
      ],
      risks: [{ cluster: 'west', code: 'token-expired', path: 'users[0].user.token' }],
    });
    expect(status?.hints.length).toBeGreaterThan(0);
    expect(JSON.stringify(status)).not.toContain('/bin/sh');
    expect(JSON.stringify(status)).not.toContain('eyJ');
  });

  it('finds a cluster ID held by another secret of the pass (duplicate-cluster-id)', () => {
    const found = statuses({ name: 'a', data: { east: CLEAN } }, { name: 'b', data: { east: CLEAN } });
    expect(found.map((status) => status.violations.map((entry) => entry.code))).toEqual([
      [],
      ['duplicate-cluster-id'],
    ]);
  });

  it('makes an unreadable secret non-compliant with invalid-secret', () => {
    expect(unreadableSecretStatus({ namespace: 'istio-system', name: 'x' })).toMatchObject({
      secret: 'istio-system/x',
      violations: [{ cluster: '', code: 'invalid-secret', path: '' }],
    });
  });
});

describe('ComplianceTracker', () => {
  it('announces a non-compliant secret once while it stays non-compliant', () => {
    const tracker = new ComplianceTracker();
    const pass = statuses({ name: 'a', data: { east: EXEC } }, { name: 'b', data: { west: CLEAN } });
    const first = tracker.completePass(pass);
    expect(names(first.toAnnounce)).toEqual(['a']);
    for (const status of first.toAnnounce) tracker.markAnnounced(status);
    for (let round = 0; round < 3; round += 1) {
      expect(tracker.completePass(pass).toAnnounce).toEqual([]);
    }
    expect(tracker.announcedCount).toBe(1);
  });

  it.each<{ name: string; passes: Record<string, string>[]; announced: string[][] }>([
    {
      name: 'compliant, then non-compliant: announced when it turns',
      passes: [{ a: CLEAN }, { a: EXEC }],
      announced: [[], ['a']],
    },
    {
      name: 'non-compliant, compliant, non-compliant again: announced twice',
      passes: [{ a: EXEC }, { a: CLEAN }, { a: EXEC }],
      announced: [['a'], [], ['a']],
    },
    {
      name: 'deleted while non-compliant, then stored again: announced again',
      passes: [{ a: EXEC }, {}, { a: EXEC }],
      announced: [['a'], [], ['a']],
    },
    {
      name: 'its codes change while it stays non-compliant: not announced again',
      passes: [{ a: EXEC }, { a: kubeconfigFixture('token-file') }, { a: EXEC }],
      announced: [['a'], [], []],
    },
  ])('$name', ({ passes, announced }) => {
    const tracker = new ComplianceTracker();
    passes.forEach((secrets, index) => {
      const pass = Object.entries(secrets).flatMap(([name, text]) =>
        statuses({ name, data: { east: text } }),
      );
      const result = tracker.completePass(pass);
      expect(names(result.toAnnounce), `pass ${String(index + 1)}`).toEqual(announced[index]);
      for (const status of result.toAnnounce) tracker.markAnnounced(status);
    });
  });

  it('announces again a secret whose announcement failed', () => {
    const tracker = new ComplianceTracker();
    const pass = statuses({ name: 'a', data: { east: EXEC } });
    expect(names(tracker.completePass(pass).toAnnounce)).toEqual(['a']);
    // No markAnnounced: the Event could not be written.
    expect(names(tracker.completePass(pass).toAnnounce)).toEqual(['a']);
  });

  it('treats a secret created again under the same name (new uid) as a new one', () => {
    const tracker = new ComplianceTracker();
    const before = statuses({ name: 'a', data: { east: EXEC }, uid: 'one' });
    for (const status of tracker.completePass(before).toAnnounce) tracker.markAnnounced(status);
    const after = statuses({ name: 'a', data: { east: EXEC }, uid: 'two' });
    expect(names(tracker.completePass(after).toAnnounce)).toEqual(['a']);
  });

  it('counts secrets per code, once per secret, and keeps codes that went away at 0', () => {
    const tracker = new ComplianceTracker();
    const first = tracker.completePass(
      statuses(
        { name: 'a', data: { east: EXEC, west: EXEC } },
        { name: 'b', data: { north: EXEC, primary: CLEAN } },
        { name: 'c', data: { south: CLEAN } },
      ),
    );
    expect(Object.fromEntries(first.counts)).toEqual({ exec: 2, 'local-cluster-id': 1 });
    expect(first.nonCompliant).toBe(2);
    const second = tracker.completePass(statuses({ name: 'a', data: { east: CLEAN } }));
    expect(Object.fromEntries(second.counts)).toEqual({ exec: 0, 'local-cluster-id': 0 });
    expect(second.nonCompliant).toBe(0);
  });

  it('may be given the non-compliant secrets only', () => {
    const tracker = new ComplianceTracker();
    const all = statuses({ name: 'a', data: { east: EXEC } }, { name: 'b', data: { west: CLEAN } });
    const result = tracker.completePass(all.filter((status) => status.violations.length > 0));
    expect(result).toMatchObject({ nonCompliant: 1 });
    expect(names(result.toAnnounce)).toEqual(['a']);
  });
});
