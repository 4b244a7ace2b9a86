import { mapLimited } from '../concurrency.ts';
import { forEachPage, type FetchPage } from '../audit/pages.ts';
import {
  renewSecret,
  type ClusterRenewal,
  type RenewFailure,
  type RenewIo,
  type StoredRemoteSecret,
} from '../remote-secret/renew.ts';
import { RENEW_SERVICE_ACCOUNT_ANNOTATION } from '../remote-secret/renewal.ts';
import type { ControllerLogger } from './remote-secret-controller.ts';

/** The first retry after a failed renewal; each further failure doubles it. */
export const RETRY_INITIAL_MS = 10_000;
/** The longest wait between two attempts for one secret. */
export const RETRY_MAX_MS = 300_000;
/** Retries come at most a quarter of the token's remaining life apart: several before it expires. */
const RETRY_SHARE_OF_REMAINING = 1 / 4;
/** Secrets renewed at once: each is one TokenRequest per cluster and one update. */
const CONCURRENCY = 4;

/** A cluster of a secret that was not renewed, with what the operator needs to fix it. */
export interface RenewalFailure {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly cluster: string;
  readonly reason: RenewFailure;
  readonly message: string;
  readonly hint: string;
  /** How many attempts in a row have failed for this secret. */
  readonly attempts: number;
  /** When the next attempt comes. */
  readonly retryAt: Date;
}

/** What the renewer reports; the webhook turns it into metrics, Events and log lines. */
export interface RenewerReporter {
  /** `seconds`: how long the secret's renewal took, its TokenRequests and the update together. */
  renewed(namespace: string, name: string, result: ClusterRenewal, seconds: number): void;
  /** A failure, on every failed attempt (Events aggregate repeats; the metric counts each). */
  failed(failure: RenewalFailure): void | Promise<void>;
  /**
   * The state of every cluster after a run: when its next renewal is due, and whether it is failing.
   * Clusters not in `clusters` went away (the secret was deleted or is no longer renewable).
   */
  state(clusters: readonly ClusterRenewalState[]): void;
  run(result: 'ok' | 'failed', seconds: number): void;
}

export interface ClusterRenewalState {
  readonly namespace: string;
  readonly name: string;
  readonly cluster: string;
  /** When the cluster's token is due (undefined when its schedule is unknown: failed, no expiry). */
  readonly renewAt: Date | undefined;
  readonly failing: RenewFailure | undefined;
}

export interface TokenRenewerOptions {
  readonly namespaces: readonly string[];
  /** Pages of the labelled Secrets of one namespace; only the renewable ones are renewed. */
  readonly pages: (namespace: string) => FetchPage<StoredSecretItem>;
  readonly io: RenewIo;
  readonly reporter: RenewerReporter;
  readonly log: ControllerLogger;
  /** The longest wait between two runs (a due token or a retry wakes it sooner). */
  readonly intervalMs: number;
  readonly now?: () => Date;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
}

/** A listed Secret as the renewer reads it. */
export interface StoredSecretItem {
  readonly stored: StoredRemoteSecret;
  readonly uid: string | undefined;
}

interface Backoff {
  readonly attempts: number;
  readonly retryAt: number;
}

/**
 * The webhook leader's renewer (--renew-tokens). Each run lists the labelled Secrets of the
 * watched namespaces, and for each renewable one (`create --renew`) whose token has passed its
 * share of life (or whose last attempt failed and whose retry is due) renews it with renewSecret:
 * a TokenRequest to the remote through the sanitized kubeconfig, then an update of the Secret
 * conditional on the version read. The next run comes when the earliest token is due or the
 * earliest retry, and at most `intervalMs` later, so a new secret is found within an interval.
 * A failure is reported on every attempt and retried with doubling backoff (10 s to 5 min), never
 * more than a quarter of the token's remaining life apart. It holds schedules and counts, never a
 * token or kubeconfig after a run.
 */
export class TokenRenewer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly backoff = new Map<string, Backoff>();
  /** Each secret's clusters after its last attempt, reported again while it waits for a retry. */
  private readonly lastStates = new Map<string, readonly ClusterRenewalState[]>();

  constructor(private readonly options: TokenRenewerOptions) {}

  /** The first run after `delayMs` (by default at once), then as the schedule says. */
  start(delayMs = 0): void {
    this.schedule(delayMs);
  }

  /** No more runs; waits for one in progress (abort its requests first to make that quick). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * One run; resolves with the milliseconds until the next. Exposed for tests and for `renew`-like
   * callers; the timer calls it otherwise.
   */
  async runOnce(): Promise<number> {
    const { options } = this;
    const now = options.now?.() ?? new Date();
    const started = performance.now();
    const retryInitial = options.retryInitialMs ?? RETRY_INITIAL_MS;
    let next = now.getTime() + options.intervalMs;
    const states: ClusterRenewalState[] = [];
    const seen = new Set<string>();
    try {
      for (const namespace of options.namespaces) {
        await forEachPage(options.pages(namespace), async (items) => {
          const renewable = items.filter(
            ({ stored }) =>
              stored.manifest.metadata.annotations?.[RENEW_SERVICE_ACCOUNT_ANNOTATION] !== undefined,
          );
          await mapLimited(renewable, CONCURRENCY, async (item) => {
            const { namespace: ns = namespace, name = '' } = item.stored.manifest.metadata;
            const key = `${ns}/${name}`;
            seen.add(key);
            const waiting = this.backoff.get(key);
            if (waiting !== undefined && waiting.retryAt > now.getTime()) {
              next = Math.min(next, waiting.retryAt);
              states.push(...(this.lastStates.get(key) ?? []));
              return;
            }
            const began = performance.now();
            const results = await renewSecret(item.stored, { now, force: false, dryRun: false }, options.io);
            const took = (performance.now() - began) / 1000;
            const failures = results.filter((result) => result.status === 'failed');
            let retryAt: number | undefined;
            if (failures.length > 0) {
              const attempts = (waiting?.attempts ?? 0) + 1;
              retryAt = now.getTime() + this.retryDelay(attempts, failures, now);
              this.backoff.set(key, { attempts, retryAt });
              next = Math.min(next, retryAt);
              for (const failure of failures) {
                await options.reporter.failed({
                  namespace: ns,
                  name,
                  uid: item.uid,
                  resourceVersion: item.stored.resourceVersion,
                  cluster: failure.cluster,
                  reason: failure.reason ?? 'remote-error',
                  message: failure.message ?? '',
                  hint: failure.hint ?? '',
                  attempts,
                  retryAt: new Date(retryAt),
                });
              }
            } else {
              this.backoff.delete(key);
            }
            const secretStates: ClusterRenewalState[] = [];
            for (const result of results) {
              if (result.status === 'renewed') options.reporter.renewed(ns, name, result, took);
              const renewAt = result.status === 'not-due' ? dateOf(result.renewAt) : undefined;
              if (renewAt !== undefined) next = Math.min(next, renewAt.getTime());
              // A renewed token is checked again on the next run, which reads its new schedule.
              if (result.status === 'renewed') next = Math.min(next, now.getTime() + retryInitial);
              secretStates.push({
                namespace: ns,
                name,
                cluster: result.cluster,
                renewAt,
                failing: result.status === 'failed' ? (result.reason ?? 'remote-error') : undefined,
              });
            }
            this.lastStates.set(key, secretStates);
            states.push(...secretStates);
          });
        });
      }
    } catch (error) {
      options.reporter.run('failed', (performance.now() - started) / 1000);
      options.log.warn(
        { err: error },
        'token renewal: could not list the remote secrets; the next run retries',
      );
      return retryInitial;
    }
    for (const key of this.backoff.keys()) if (!seen.has(key)) this.backoff.delete(key);
    for (const key of this.lastStates.keys()) if (!seen.has(key)) this.lastStates.delete(key);
    options.reporter.state(states);
    options.reporter.run('ok', (performance.now() - started) / 1000);
    return Math.max(0, next - now.getTime());
  }

  /**
   * Doubling from the first retry to the longest, and never more than a quarter of the remaining
   * life of the token that expires first, so a remote that comes back is used before the token ends.
   */
  private retryDelay(attempts: number, failures: readonly ClusterRenewal[], now: Date): number {
    const initial = this.options.retryInitialMs ?? RETRY_INITIAL_MS;
    const max = this.options.retryMaxMs ?? RETRY_MAX_MS;
    const doubled = Math.min(max, initial * 2 ** Math.min(attempts - 1, 30));
    const remaining = failures
      .map((failure) => dateOf(failure.expires)?.getTime())
      .filter((expires): expires is number => expires !== undefined && expires > now.getTime())
      .map((expires) => (expires - now.getTime()) * RETRY_SHARE_OF_REMAINING);
    return Math.max(initial, Math.min(doubled, ...remaining));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.fire();
    }, delayMs);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    let delay: number;
    try {
      delay = await this.runOnce();
    } catch (error) {
      // The reporter threw: log it and keep the schedule going.
      this.options.log.warn({ err: error }, 'token renewal: a run failed; the next run retries');
      delay = this.options.retryInitialMs ?? RETRY_INITIAL_MS;
    }
    this.running = undefined;
    this.schedule(delay);
  }
}

function dateOf(iso: string | undefined): Date | undefined {
  if (iso === undefined) return undefined;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
