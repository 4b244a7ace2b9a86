import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeError } from '../kube/errors.ts';
import {
  LeaderElector,
  type LeaderElectionRecord,
  type LeaseLock,
  type StoredLease,
} from './leader-election.ts';

/**
 * A fake Lease API for one Lease, as the API server keeps it: a resourceVersion bumped on every
 * write, 409 on a stale update or a second create. `failing` makes every call fail (an outage).
 */
function fakeLease() {
  let lease: StoredLease | undefined;
  let version = 0;
  const state = { failing: false, writes: [] as LeaderElectionRecord[], conflicts: 0 };
  const write = (record: LeaderElectionRecord): StoredLease => {
    version += 1;
    lease = { record, resourceVersion: String(version) };
    state.writes.push(record);
    return lease;
  };
  const outage = () => {
    if (state.failing) throw new KubeError('unreachable', 'get Lease: connection refused');
  };
  const lock: LeaseLock = {
    description: 'remote-secret-webhook/remote-secret-webhook',
    get: () => {
      outage();
      return Promise.resolve(lease);
    },
    create: (record) => {
      outage();
      if (lease !== undefined) throw new KubeError('already-exists', 'create Lease: already exists');
      return Promise.resolve(write(record));
    },
    update: (record, resourceVersion) => {
      outage();
      if (lease?.resourceVersion !== resourceVersion) {
        state.conflicts += 1;
        throw new KubeError('conflict', 'update Lease: the object has been modified');
      }
      return Promise.resolve(write(record));
    },
  };
  return {
    lock,
    state,
    get record() {
      return lease?.record;
    },
    /** Another replica writes the Lease (its clock: `at`). */
    writeAs(holderIdentity: string, at: Date, leaseTransitions = 0) {
      write({ holderIdentity, leaseDurationSeconds: 15, acquireTime: at, renewTime: at, leaseTransitions });
    },
  };
}

const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;

function elector(lease: ReturnType<typeof fakeLease>, identity = 'me') {
  const events: string[] = [];
  const elector = new LeaderElector({
    lock: lease.lock,
    identity,
    leaseDurationMs: LEASE,
    renewDeadlineMs: RENEW,
    retryPeriodMs: RETRY,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: (reason) => {
      events.push(`stopped:${reason}`);
    },
    onNewLeader: (holder) => events.push(`leader:${holder}`),
    log: pino({ level: 'silent' }),
    random: () => 0,
  });
  return { elector, events };
}

describe('LeaderElector', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-12-02T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('creates the Lease when there is none and leads at once', async () => {
    const lease = fakeLease();
    const { elector: me, events } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(me.isLeader).toBe(true);
    expect(events).toEqual(['leader:me', 'started']);
    expect(lease.record).toMatchObject({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    await me.stop();
  });

  it('does not take a Lease that another holder renews', async () => {
    const lease = fakeLease();
    lease.writeAs('other', new Date());
    const { elector: me, events } = elector(lease);
    me.start();
    for (let second = 0; second < 60; second += 2) {
      lease.writeAs('other', new Date());
      await vi.advanceTimersByTimeAsync(2_000);
    }
    expect(me.isLeader).toBe(false);
    expect(me.observedLeader).toBe('other');
    expect(events).toEqual(['leader:other']);
    await me.stop();
    expect(lease.record?.holderIdentity).toBe('other');
  });

  it('takes over a Lease that has not changed for its duration on our clock, counting the transition', async () => {
    const lease = fakeLease();
    lease.writeAs('other', new Date(), 3);
    const { elector: me } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(14_000);
    expect(me.isLeader).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(me.isLeader).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: 'me', leaseTransitions: 4 });
    expect(lease.record?.acquireTime).toEqual(new Date('2026-12-02T12:00:16Z'));
    await me.stop();
  });

  it.each([
    { skew: 'an hour behind', renewTime: new Date('2026-12-02T11:00:00Z') },
    { skew: 'an hour ahead', renewTime: new Date('2026-12-02T13:00:00Z') },
  ])(
    "ignores the holder's clock ($skew): expiry runs from when we saw the Lease change",
    async ({ renewTime }) => {
      const lease = fakeLease();
      lease.writeAs('other', renewTime);
      const { elector: me } = elector(lease);
      me.start();
      // Renewed (by its skewed clock) every 2 s: never ours, however old its renewTime reads.
      for (let i = 0; i < 10; i += 1) {
        lease.writeAs('other', new Date(renewTime.getTime() + i * 2_000));
        await vi.advanceTimersByTimeAsync(2_000);
      }
      expect(me.isLeader).toBe(false);
      // It stops renewing: ours a lease duration later, however new its renewTime reads.
      await vi.advanceTimersByTimeAsync(12_000);
      expect(me.isLeader).toBe(false);
      await vi.advanceTimersByTimeAsync(4_000);
      expect(me.isLeader).toBe(true);
      await me.stop();
    },
  );

  it('renews every retry period, keeping its acquireTime and transitions', async () => {
    const lease = fakeLease();
    const { elector: me } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    const acquired = lease.record?.acquireTime;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lease.state.writes).toHaveLength(6);
    expect(lease.record).toMatchObject({ holderIdentity: 'me', leaseTransitions: 0, acquireTime: acquired });
    expect(lease.record?.renewTime).toEqual(new Date('2026-12-02T12:00:10Z'));
    await me.stop();
  });

  it('keeps leading through failed renews shorter than the renew deadline, and stops past it', async () => {
    const lease = fakeLease();
    const { elector: me, events } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    lease.state.failing = true;
    await vi.advanceTimersByTimeAsync(8_000);
    expect(me.isLeader).toBe(true);
    lease.state.failing = false;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(me.isLeader).toBe(true);
    lease.state.failing = true;
    // The next renew starts 2 s after the last success; 10 s of failures later it gives up.
    await vi.advanceTimersByTimeAsync(11_000);
    expect(me.isLeader).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(me.isLeader).toBe(false);
    expect(events).toEqual(['leader:me', 'started', 'stopped:lost']);
    // It contends again, and leads again once the API answers (the Lease still names it).
    lease.state.failing = false;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(me.isLeader).toBe(true);
    expect(events).toEqual(['leader:me', 'started', 'stopped:lost', 'started']);
    await me.stop();
  });

  it('stops leading when another holder took the Lease, and does not overwrite it', async () => {
    const lease = fakeLease();
    const { elector: me, events } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    lease.writeAs('other', new Date(), 1);
    // Its next renew reads the other holder: it stops at once, not at the renew deadline.
    await vi.advanceTimersByTimeAsync(2_000);
    expect(me.isLeader).toBe(false);
    for (let i = 0; i < 8; i += 1) {
      lease.writeAs('other', new Date(), 1);
      await vi.advanceTimersByTimeAsync(2_000);
    }
    expect(me.isLeader).toBe(false);
    expect(events).toEqual(['leader:me', 'started', 'leader:other', 'stopped:lost']);
    expect(lease.state.writes.filter((write) => write.holderIdentity === 'me')).toHaveLength(1);
    await me.stop();
    expect(lease.record?.holderIdentity).toBe('other');
  });

  it('re-reads after a conflict instead of overwriting, and two electors never both lead', async () => {
    const lease = fakeLease();
    const a = elector(lease, 'a');
    const b = elector(lease, 'b');
    // Both read "no Lease" before either creates it: one create wins, the other gets a 409.
    a.elector.start();
    b.elector.start();
    for (let i = 0; i < 30; i += 1) {
      await vi.advanceTimersByTimeAsync(1_000);
      expect(a.elector.isLeader && b.elector.isLeader).toBe(false);
    }
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('a stale resourceVersion is a conflict, and the elector reads again', async () => {
    const lease = fakeLease();
    const { elector: me } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    // Someone bumps the version between our read and write once: the renew fails on 409.
    const update = lease.lock.update;
    let raced = false;
    lease.lock.update = (record, resourceVersion, signal) => {
      if (!raced) {
        raced = true;
        lease.writeAs('me', new Date());
      }
      return update(record, resourceVersion, signal);
    };
    await vi.advanceTimersByTimeAsync(2_000);
    expect(lease.state.conflicts).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(me.isLeader).toBe(true);
    expect(lease.record?.holderIdentity).toBe('me');
    await me.stop();
  });

  it('on stop, stops the work first, then releases: empty holder, a 1 s lease, transitions kept', async () => {
    const lease = fakeLease();
    const order: string[] = [];
    const me = new LeaderElector({
      lock: lease.lock,
      identity: 'me',
      leaseDurationMs: LEASE,
      renewDeadlineMs: RENEW,
      retryPeriodMs: RETRY,
      onStartedLeading: () => undefined,
      onStoppedLeading: async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        order.push(`work stopped, holder ${lease.record?.holderIdentity ?? ''}`);
      },
      log: pino({ level: 'silent' }),
    });
    me.start();
    await vi.advanceTimersByTimeAsync(0);
    const stopped = me.stop();
    await vi.advanceTimersByTimeAsync(500);
    await stopped;
    expect(order).toEqual(['work stopped, holder me']);
    expect(lease.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
  });

  it('a released Lease is taken at the next attempt, not a lease duration later', async () => {
    const lease = fakeLease();
    const first = elector(lease, 'first');
    const second = elector(lease, 'second');
    first.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    second.elector.start();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(second.elector.isLeader).toBe(false);
    await first.elector.stop();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(second.elector.isLeader).toBe(true);
    expect(lease.record).toMatchObject({ holderIdentity: 'second', leaseTransitions: 1 });
    await second.elector.stop();
  });

  it('a follower stopping leaves the Lease alone', async () => {
    const lease = fakeLease();
    lease.writeAs('other', new Date());
    const { elector: me, events } = elector(lease);
    me.start();
    await vi.advanceTimersByTimeAsync(2_000);
    const writes = lease.state.writes.length;
    await me.stop();
    expect(lease.state.writes).toHaveLength(writes);
    expect(events).not.toContain('stopped:released');
  });

  it('refuses a renew deadline not under the lease duration, or a retry period not under the deadline', () => {
    const lease = fakeLease();
    const base = {
      lock: lease.lock,
      identity: 'me',
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
      log: pino({ level: 'silent' }),
    };
    expect(
      () =>
        new LeaderElector({
          ...base,
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
        }),
    ).toThrow('renew deadline');
    expect(
      () =>
        new LeaderElector({ ...base, leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
    ).toThrow('retry period');
  });
});
