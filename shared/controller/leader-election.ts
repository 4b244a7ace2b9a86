import type { Logger } from 'pino';
import { errorCode } from '../errors.ts';

/**
 * What a coordination.k8s.io/v1 Lease's spec holds for leader election (client-go's
 * `resourcelock.LeaderElectionRecord`). An empty holder means nobody leads (a released lease).
 */
export interface LeaderElectionRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date | undefined;
  readonly renewTime: Date | undefined;
  readonly leaseTransitions: number;
}

/** A Lease as read or written: its record and the resourceVersion that the next update names. */
export interface StoredLease {
  readonly record: LeaderElectionRecord;
  readonly resourceVersion: string;
}

/**
 * The Lease API for one Lease (client-go's `LeaseLock`). `update` sends `resourceVersion`, so the
 * API server refuses it (409, a KubeError with code `conflict`) when anyone wrote the Lease since
 * it was read: the elector then reads it again, and never overwrites what another replica wrote.
 */
export interface LeaseLock {
  /** namespace/name, for log lines. */
  readonly description: string;
  /** The Lease, or undefined when there is none (404). */
  get: (signal: AbortSignal) => Promise<StoredLease | undefined>;
  /** Create it (409 `already-exists` when another replica was first). */
  create: (record: LeaderElectionRecord, signal: AbortSignal) => Promise<StoredLease>;
  update: (
    record: LeaderElectionRecord,
    resourceVersion: string,
    signal: AbortSignal,
  ) => Promise<StoredLease>;
}

export interface LeaderElectorOptions {
  readonly lock: LeaseLock;
  /** This replica's identity: unique per process (the pod name and a random suffix). */
  readonly identity: string;
  /** How long others wait, from when they last saw the Lease change, before taking it over. */
  readonly leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it gives leadership up. */
  readonly renewDeadlineMs: number;
  /** Between attempts to acquire (jittered, as client-go's by up to 1.2 times) and to renew. */
  readonly retryPeriodMs: number;
  /** This replica now leads. */
  readonly onStartedLeading: () => void;
  /**
   * This replica stopped leading: `lost` (renew failed past the deadline, or another holder took
   * it), or `released` (stop). Awaited before the Lease is released, so that no two replicas do
   * the leader's work at once.
   */
  readonly onStoppedLeading: (reason: 'lost' | 'released') => void | Promise<void>;
  /** The holder seen on the Lease changed (`''`: nobody). */
  readonly onNewLeader?: (identity: string) => void;
  readonly log: Logger;
  /** The local clock; the only one that decides expiry (the holder's renewTime is never trusted). */
  readonly now?: () => number;
  readonly random?: () => number;
}

/** client-go's `JitterFactor` for the acquire loop. */
const JITTER_FACTOR = 1.2;

/**
 * Leader election on a Lease, with client-go's `tools/leaderelection` semantics:
 *
 * - `tryAcquireOrRenew`: create the Lease when there is none; otherwise take it only when its
 *   holder is empty (released) or it has not changed for its `leaseDurationSeconds` as measured
 *   by *our* clock from when we first saw this version (`observedTime`), so a holder whose clock
 *   is skewed neither keeps nor loses the Lease by it. Taking it from another holder counts a
 *   `leaseTransitions`; renewing keeps `acquireTime` and the count.
 * - The leader renews every retry period; if no renew succeeds within the renew deadline it
 *   stops leading (and contends again, as a follower).
 * - `ReleaseOnCancel`: `stop` ends the work (awaiting `onStoppedLeading`) and then writes the
 *   Lease with an empty holder and `leaseDurationSeconds: 1`, so another replica takes it at its
 *   next attempt instead of waiting out the lease duration.
 *
 * Two differences, both towards never having two leaders at work: client-go calls
 * OnStoppedLeading after the release, here the work is stopped first; and a leader that reads
 * another holder on the Lease stops at once instead of retrying until its renew deadline.
 */
export class LeaderElector {
  private observed: LeaderElectionRecord | undefined;
  private observedKey = '';
  private observedTime = 0;
  private resourceVersion: string | undefined;
  private leading = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    if (!(options.renewDeadlineMs < options.leaseDurationMs))
      throw new RangeError('the renew deadline must be shorter than the lease duration');
    if (!(options.retryPeriodMs < options.renewDeadlineMs))
      throw new RangeError('the retry period must be shorter than the renew deadline');
  }

  get identity(): string {
    return this.options.identity;
  }

  /** True between `onStartedLeading` and `onStoppedLeading`. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease (`''`: nobody), or undefined before the first read. */
  get observedLeader(): string | undefined {
    return this.observed?.holderIdentity;
  }

  /** Contend, lead, renew, and contend again after a loss, until `stop`. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stop contending; a leader stops its work, then releases the Lease. Never throws. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.loop;
      return;
    }
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      await this.stoppedLeading('released');
      await this.release();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!(await this.acquire())) return;
      this.leading = true;
      this.options.log.info(
        { identity: this.identity, lease: this.options.lock.description },
        'became the leader: running the background work',
      );
      this.options.onStartedLeading();
      if (!(await this.renew())) return;
      this.leading = false;
      this.options.log.warn(
        { identity: this.identity, lease: this.options.lock.description },
        this.observed?.holderIdentity === this.identity
          ? `lost the leadership (no renew within ${String(this.options.renewDeadlineMs / 1000)}s): background work stopped, contending again`
          : 'lost the leadership (another replica holds the Lease): background work stopped, contending again',
      );
      await this.stoppedLeading('lost');
    }
  }

  /** Until this replica holds the Lease (true), or `stop` (false). */
  private async acquire(): Promise<boolean> {
    for (;;) {
      if (this.stopped) return false;
      if (await this.tryAcquireOrRenew(this.abort.signal)) return true;
      const random = this.options.random ?? Math.random;
      await this.sleep(this.options.retryPeriodMs * (1 + random() * JITTER_FACTOR));
    }
  }

  /** Renew every retry period; false when stopped, true when a renew deadline passed without one. */
  private async renew(): Promise<boolean> {
    for (;;) {
      await this.sleep(this.options.retryPeriodMs);
      if (this.halted()) return false;
      const renewed = await this.renewWithinDeadline();
      if (this.halted()) return false;
      if (!renewed) return true;
    }
  }

  /** client-go's PollImmediateUntil: try now, then every retry period, until the renew deadline. */
  private async renewWithinDeadline(): Promise<boolean> {
    const deadline = this.now() + this.options.renewDeadlineMs;
    const signal = AbortSignal.any([this.abort.signal, this.timeout(this.options.renewDeadlineMs)]);
    for (;;) {
      if (await this.tryAcquireOrRenew(signal)) return true;
      // Another holder wrote it (it saw ours unrenewed for a lease duration): stop now, not at
      // the deadline, so that two replicas do not both work meanwhile.
      if (this.observed !== undefined && this.observed.holderIdentity !== this.identity) return false;
      const left = deadline - this.now();
      if (this.halted() || left <= 0) return false;
      await this.sleep(Math.min(this.options.retryPeriodMs, left));
      if (this.halted() || this.now() >= deadline) return false;
    }
  }

  /** A method, not the field: `stop` may set it while an attempt is awaited. */
  private halted(): boolean {
    return this.stopped;
  }

  /** One attempt: read the Lease, then create, take over or renew it. False on any failure. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { lock, identity } = this.options;
    const now = this.now();
    const leaseDurationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    try {
      const current = await raced(lock.get(signal), signal);
      if (current === undefined) {
        const created = await raced(
          lock.create(
            {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: new Date(now),
              renewTime: new Date(now),
              leaseTransitions: 0,
            },
            signal,
          ),
          signal,
        );
        this.observe(created, now);
        return true;
      }
      this.observe(current, now);
      const { record } = current;
      if (record.holderIdentity !== '' && record.holderIdentity !== identity) {
        const expiresAt = this.observedTime + record.leaseDurationSeconds * 1000;
        if (expiresAt > now) return false;
      }
      const ours = record.holderIdentity === identity;
      const updated = await raced(
        lock.update(
          {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: ours ? (record.acquireTime ?? new Date(now)) : new Date(now),
            renewTime: new Date(now),
            leaseTransitions: ours ? record.leaseTransitions : record.leaseTransitions + 1,
          },
          current.resourceVersion,
          signal,
        ),
        signal,
      );
      this.observe(updated, now);
      return true;
    } catch (error) {
      if (!this.stopped) {
        const code = errorCode(error);
        // A conflict is another replica's write: read again next time, never overwrite it.
        this.options.log.debug(
          { code, err: code === undefined ? error : undefined, lease: lock.description },
          code === 'conflict' || code === 'already-exists'
            ? 'the Lease changed under us; reading it again'
            : 'could not acquire or renew the Lease',
        );
      }
      return false;
    }
  }

  /** Remember the Lease; a record we have not seen before restarts the expiry on our clock. */
  private observe(lease: StoredLease, now: number): void {
    this.resourceVersion = lease.resourceVersion;
    const key = recordKey(lease.record);
    if (key === this.observedKey) return;
    const previous = this.observed?.holderIdentity;
    this.observed = lease.record;
    this.observedKey = key;
    this.observedTime = now;
    if (previous !== lease.record.holderIdentity) this.options.onNewLeader?.(lease.record.holderIdentity);
  }

  /** ReleaseOnCancel: an empty holder and a 1 s lease, if the Lease is still as we last wrote it. */
  private async release(): Promise<void> {
    const { lock } = this.options;
    if (this.resourceVersion === undefined || this.observed?.holderIdentity !== this.identity) return;
    const now = new Date(this.now());
    const signal = this.timeout(this.options.renewDeadlineMs);
    try {
      await raced(
        lock.update(
          {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: this.observed.leaseTransitions,
          },
          this.resourceVersion,
          signal,
        ),
        signal,
      );
      this.options.log.info({ identity: this.identity, lease: lock.description }, 'released the leadership');
    } catch (error) {
      // A conflict means another replica already wrote it: leave its record alone.
      this.options.log.warn(
        { code: errorCode(error), lease: lock.description },
        'could not release the Lease; another replica takes over once it expires',
      );
    }
  }

  private async stoppedLeading(reason: 'lost' | 'released'): Promise<void> {
    try {
      await this.options.onStoppedLeading(reason);
    } catch (error) {
      this.options.log.error({ err: error }, 'stopping the background work failed');
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A timer's abort signal that follows the faked clock in tests (AbortSignal.timeout does not). */
  private timeout(ms: number): AbortSignal {
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(new Error(`no answer within ${String(ms)} ms`));
    }, ms).unref();
    return controller.signal;
  }

  /** Wait, or less when `stop` is called. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** The call, or its signal's abort, whichever comes first (a hung request must not hold a renew). */
function raced<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted)
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const aborted = (): void => {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', aborted, { once: true });
    promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', aborted);
    });
  });
}

function recordKey(record: LeaderElectionRecord): string {
  return JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds,
    record.acquireTime?.getTime(),
    record.renewTime?.getTime(),
    record.leaseTransitions,
  ]);
}
