import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SecretChange } from '../shared/controller/remote-secret-controller.ts';
import { ComplianceTracker, type StoredSecretStatus } from '../shared/audit/background.ts';
import {
  buildPolicyReport,
  POLICY_REPORT_GROUP,
  POLICY_REPORT_VERSION,
  type PolicyReportManifest,
} from '../shared/audit/policy-report.ts';
import { errorCode } from '../shared/errors.ts';
import { secretRef } from '../shared/remote-secret/model.ts';
import { buildNonCompliantEvent, COMPONENT, EVENT_ANNOTATION_PREFIX, type EventSender } from './events.ts';
import type { BackgroundAuditMetrics } from './metrics.ts';
import {
  addDuplicates,
  auditorFor,
  contentHash,
  decideStored,
  storedObject,
  type AuditSettings,
  type KnownSecret,
  type RunPass,
  type StoredObject,
} from './audit-pass.ts';

/** At most this many Events per pass; the rest are announced by the next passes. */
export const MAX_EVENTS_PER_PASS = 250;
/** Events in flight at once, well under the recorder's bound of 100 kept for admissions. */
const EVENT_CONCURRENCY = 4;

export interface BackgroundAuditOptions extends AuditSettings {
  /**
   * One full pass over the labelled Secrets of every namespace, listed with the operator's own
   * kubeconfig: in a worker thread in the webhook (workerPass), on this thread in tests.
   */
  readonly pass: RunPass;
  /**
   * One Secret by name (undefined when it is gone), for the other claimants of a cluster ID when
   * one of them changes: they are decided again together, as a pass would.
   */
  readonly read: (namespace: string, name: string) => Promise<V1Secret | undefined>;
  readonly metrics: BackgroundAuditMetrics;
  readonly log: Logger;
  /** Writes Events; undefined with --no-events (newly non-compliant secrets are then logged only). */
  readonly events?: EventSender | undefined;
  /** With --policy-report. */
  readonly policyReports?: PolicyReportWriter | undefined;
  readonly now?: () => Date;
  readonly maxEventsPerPass?: number;
  /**
   * Changed secrets waiting to be reconciled, at most; a larger burst (a namespace restored at
   * once) is dropped for one paged pass instead, so the kubeconfigs held meanwhile stay bounded.
   */
  readonly maxQueued?: number;
  /** Called when the queue overflowed: start a pass soon. */
  readonly onOverflow?: () => void;
  /** Aborted on shutdown: a pass cut short then is not worth a warning. */
  readonly signal?: AbortSignal;
}

/** How often the pass samples the event loop's delay (perf_hooks.monitorEventLoopDelay). */
const LOOP_SAMPLE_MS = 2;

type Known = KnownSecret;

/**
 * The background audit's view of the stored remote secrets, kept up to date two ways:
 *
 * - `reconcile`: as Istio's secret controller `processItem`, the informer feeds a queue of keys;
 *   each changed secret is decided alone, and skipped when the hash of its data is the one
 *   already decided (a resync, a label or annotation change). Other secrets that share one of its
 *   cluster IDs are read again and decided with it, in the order a pass would, since which of
 *   them holds the ID can change.
 * - `runPass`: every --audit-interval, and after a burst too large for the queue, list the
 *   stored remote secrets page by page and decide them all (token expiry moves with the clock).
 *
 * Both use the shared `Auditor` (the plugin's `audit` decision) and keep codes and paths per
 * secret, never a kubeconfig; both then publish gauges, announce newly non-compliant secrets (a
 * log line and one Event each) and, if asked, write PolicyReports. They never run at once.
 */
export class BackgroundAudit {
  private readonly tracker = new ComplianceTracker();
  private known = new Map<string, Known>();
  /** Key -> the latest object the informer gave (null: deleted), until it is reconciled. */
  private readonly queue = new Map<string, StoredObject | null>();
  private draining = false;
  /** Passes and reconciles, one after another. */
  private lane: Promise<unknown> = Promise.resolve();
  /** The token-expiry series published last, to remove those of clusters that went away. */
  private tokenSeries = new Map<string, PublishedTokens>();

  constructor(private readonly options: BackgroundAuditOptions) {}

  /**
   * The informer changed one secret: queue it (the latest version of a key wins) and reconcile
   * the queue soon. Keeps a reference to the secret's data until then; never throws.
   */
  reconcile(change: SecretChange): void {
    const { metadata } = change.secret;
    const namespace = metadata?.namespace ?? '';
    if (!this.options.namespaces.includes(namespace)) return;
    const key = secretRef({ namespace, name: metadata?.name ?? '' });
    if (!this.queue.has(key) && this.queue.size >= (this.options.maxQueued ?? MAX_QUEUED)) {
      this.queue.clear();
      this.options.metrics.reconciles.inc({ result: 'overflow' });
      this.options.onOverflow?.();
      return;
    }
    // Copied now: the controller removes `data` from the cached object after this call.
    this.queue.set(key, change.type === 'delete' ? null : storedObject(change.secret, namespace));
    if (this.draining) return;
    this.draining = true;
    this.lane = this.lane.then(() => this.drain());
  }

  /** Resolves true when the pass completed; a failed pass changes no gauge and forgets nothing. */
  runPass(): Promise<boolean> {
    const run = this.lane.then(() => this.pass());
    this.lane = run.catch(() => undefined);
    return run;
  }

  /** Resolves when the queue is empty and every reconcile published (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.lane;
  }

  private async pass(): Promise<boolean> {
    const { metrics, log } = this.options;
    const now = this.options.now?.() ?? new Date();
    const started = performance.now();
    // How late this thread, which answers admission, runs while the pass is under way.
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
    loopDelay.enable();
    let known: ReadonlyMap<string, Known>;
    try {
      known = await this.options.pass(now, this.options.signal);
    } catch (error) {
      if (this.options.signal?.aborted === true) return false;
      metrics.runs.inc({ result: 'failed' });
      log.warn({ err: error }, 'background audit pass failed; the next one retries');
      return false;
    } finally {
      loopDelay.disable();
    }
    this.known = new Map(known);
    const seconds = (performance.now() - started) / 1000;
    // What the pass cost admission: how late the event loop ran, at worst and at p99. The
    // histogram records the time between its timer's callbacks, the sampling interval included
    // (an idle loop shows it at p50), so that interval is taken off.
    const late = (recordedNs: number): number => Math.max(0, recordedNs / 1e9 - LOOP_SAMPLE_MS / 1000);
    const delayP99 = late(loopDelay.percentile(99));
    const delayMax = late(loopDelay.max);
    metrics.lastRunDuration.set(seconds);
    metrics.lastRunTimestamp.set(Date.now() / 1000);
    metrics.lastRunEventLoopDelay.set({ quantile: '0.99' }, delayP99);
    metrics.lastRunEventLoopDelay.set({ quantile: '1' }, delayMax);
    metrics.runs.inc({ result: 'ok' });
    log.debug(
      {
        secrets: known.size,
        seconds,
        eventLoopDelayP99Ms: delayP99 * 1000,
        eventLoopDelayMaxMs: delayMax * 1000,
      },
      'background audit pass done',
    );
    await this.publish(now, this.options.namespaces);
    return true;
  }

  private async drain(): Promise<void> {
    const now = this.options.now?.() ?? new Date();
    const touched = new Set<string>();
    try {
      while (this.queue.size > 0) {
        const batch = [...this.queue];
        this.queue.clear();
        for (const [key, secret] of batch) await this.processItem(key, secret, now, touched);
      }
    } finally {
      this.draining = false;
    }
    if (touched.size > 0) await this.publish(now, [...touched]);
  }

  /** One key: forget it, skip it (same hash), or decide it with whatever shares its cluster IDs. */
  private async processItem(
    key: string,
    secret: StoredObject | null,
    now: Date,
    touched: Set<string>,
  ): Promise<void> {
    const { metrics, log } = this.options;
    const previous = this.known.get(key);
    const namespace = key.slice(0, key.indexOf('/'));
    if (secret === null) {
      this.known.delete(key);
      metrics.reconciles.inc({ result: 'deleted' });
      touched.add(namespace);
      if (previous !== undefined) await this.decideAgain(namespace, previous.status.clusters, now);
      return;
    }
    const hash = contentHash(secret);
    if (previous?.hash === hash) {
      metrics.reconciles.inc({ result: 'unchanged' });
      return;
    }
    touched.add(namespace);
    const clusters = [
      ...new Set([...Object.keys(secret.manifest.data ?? {}), ...(previous?.status.clusters ?? [])]),
    ];
    try {
      await this.decideAgain(namespace, clusters, now, secret);
      metrics.reconciles.inc({ result: 'decided' });
    } catch (error) {
      if (this.options.signal?.aborted === true) return;
      metrics.reconciles.inc({ result: 'failed' });
      log.warn({ err: error, secret: key }, 'could not reconcile a changed secret; the next pass retries');
    }
  }

  /**
   * Decide `changed` (if given) and every known secret of the namespace that shares a cluster ID
   * with it, directly or through another, together, as a pass would: the claimant created first
   * holds each ID (ClusterIdScope).
   */
  private async decideAgain(
    namespace: string,
    clusters: readonly string[],
    now: Date,
    changed?: StoredObject,
  ): Promise<void> {
    const except = changed === undefined ? undefined : secretRef(changed.ref);
    const items: StoredObject[] = changed === undefined ? [] : [changed];
    for (const key of this.sharing(namespace, clusters, except)) {
      const item = await this.options.read(namespace, key.slice(namespace.length + 1));
      if (item === undefined) this.known.delete(key);
      else items.push(storedObject(item, namespace));
    }
    const auditor = auditorFor(this.options, now);
    const decided = new Map<string, Known>();
    for (const item of items) {
      const status = decideStored(item, auditor);
      if (status === undefined) this.known.delete(secretRef(item.ref));
      else decided.set(status.secret, { status, hash: contentHash(item) });
    }
    addDuplicates(decided, auditor);
    for (const [key, entry] of decided) this.known.set(key, entry);
  }

  /** Known secrets of `namespace` (other than `except`) linked to `clusters` by shared IDs. */
  private sharing(namespace: string, clusters: readonly string[], except: string | undefined): Set<string> {
    const found = new Set<string>();
    const ids = new Set(clusters);
    for (let grew = true; grew;) {
      grew = false;
      for (const [key, { status }] of this.known) {
        if (key === except || found.has(key) || status.namespace !== namespace) continue;
        if (!status.clusters.some((id) => ids.has(id))) continue;
        found.add(key);
        for (const id of status.clusters) ids.add(id);
        grew = true;
      }
    }
    return found;
  }

  /** Gauges from every known secret, then Events for the newly non-compliant, then reports. */
  private async publish(now: Date, namespaces: readonly string[]): Promise<void> {
    const { metrics, log } = this.options;
    const statuses = [...this.known.values()].map((entry) => entry.status);
    const result = this.tracker.completePass(statuses);
    for (const [code, count] of result.counts) metrics.noncompliant.set({ code }, count);
    metrics.noncompliantSecrets.set(result.nonCompliant);
    metrics.secrets.set(statuses.length);
    this.publishTokenExpiry(statuses);
    log.debug(
      {
        secrets: statuses.length,
        nonCompliant: result.nonCompliant,
        newlyNonCompliant: result.toAnnounce.length,
      },
      'background audit published',
    );
    await this.announce(result.toAnnounce);
    const reports = this.options.policyReports;
    if (reports === undefined) return;
    for (const namespace of namespaces) {
      const inNamespace = statuses.filter((status) => status.namespace === namespace);
      await reports.write(
        buildPolicyReport(namespace, inNamespace, {
          source: COMPONENT,
          now,
          annotationPrefix: EVENT_ANNOTATION_PREFIX,
        }),
      );
    }
  }

  private publishTokenExpiry(statuses: readonly StoredSecretStatus[]): void {
    const { tokenExpiry } = this.options.metrics;
    const next = new Map<string, PublishedTokens>();
    for (const status of statuses) {
      const previous = this.tokenSeries.get(status.secret);
      // A status a pass left unchanged is the same object: nothing to set. (Setting a labelled
      // gauge hashes its labels; at 10,000 secrets, setting them all again held the main
      // thread, and admission, for tens of ms after every pass.)
      if (previous?.status === status) {
        next.set(status.secret, previous);
        continue;
      }
      const series: TokenSeries[] = [];
      for (const { cluster, expires } of status.tokenExpiry) {
        const labels = { namespace: status.namespace, secret: status.name, cluster };
        tokenExpiry.set(labels, expires);
        series.push(labels);
      }
      for (const old of previous?.series ?? [])
        if (!series.some(({ cluster }) => cluster === old.cluster)) tokenExpiry.remove(old);
      next.set(status.secret, { status, series });
    }
    for (const [secret, { series }] of this.tokenSeries)
      if (!next.has(secret)) for (const labels of series) tokenExpiry.remove(labels);
    this.tokenSeries = next;
  }

  /** A log line and an Event per secret; only a written (or already written) Event counts as told. */
  private async announce(statuses: readonly StoredSecretStatus[]): Promise<void> {
    const max = this.options.maxEventsPerPass ?? MAX_EVENTS_PER_PASS;
    const batch = statuses.slice(0, max);
    if (statuses.length > batch.length) {
      this.options.log.info(
        { deferred: statuses.length - batch.length },
        `more than ${max} newly non-compliant secrets; the rest are announced by the next passes`,
      );
    }
    const queue = [...batch];
    const worker = async (): Promise<void> => {
      for (let status = queue.shift(); status !== undefined; status = queue.shift()) {
        logNonCompliant(this.options.log, status);
        const events = this.options.events;
        const result =
          events === undefined
            ? 'created'
            : await events.send(
                buildNonCompliantEvent(status, events.reportingInstance, this.options.now?.() ?? new Date()),
              );
        if (result === 'created' || result === 'exists') this.tracker.markAnnounced(status);
      }
    };
    await Promise.all(Array.from({ length: EVENT_CONCURRENCY }, worker));
  }
}

/** The labels of one published series of the token-expiry gauge. */
interface TokenSeries {
  readonly namespace: string;
  readonly secret: string;
  readonly cluster: string;
}

/** What one secret's status published to the token-expiry gauge. */
interface PublishedTokens {
  readonly status: StoredSecretStatus;
  readonly series: readonly TokenSeries[];
}

/** The changed secrets the queue holds at most before it gives way to a pass. */
const MAX_QUEUED = 1000;

/** The audit line for a newly non-compliant stored secret: who (which secret) and what, no values. */
function logNonCompliant(log: Logger, status: StoredSecretStatus): void {
  log.warn(
    {
      audit: true,
      backgroundAudit: true,
      namespace: status.namespace,
      name: status.name,
      secret: status.secret,
      uid: status.uid,
      resourceVersion: status.resourceVersion,
      clusters: [...new Set(status.violations.map((found) => found.cluster).filter((id) => id !== ''))],
      codes: [...new Set(status.violations.map((found) => found.code))],
      violations: status.violations,
    },
    'stored remote secret is non-compliant',
  );
}

export type ApplyPolicyReport = (report: PolicyReportManifest) => Promise<unknown>;

export interface PolicyReportWriterOptions {
  readonly apply: ApplyPolicyReport;
  readonly log: Logger;
  readonly onResult: (result: 'written' | 'failed') => void;
}

/**
 * Writes PolicyReports and says once, clearly, when it cannot (no CRD, no RBAC rule), and once
 * when it can again, instead of a warning every pass.
 */
export class PolicyReportWriter {
  private problem: string | undefined;

  constructor(private readonly options: PolicyReportWriterOptions) {}

  async write(report: PolicyReportManifest): Promise<boolean> {
    const { log } = this.options;
    try {
      await this.options.apply(report);
    } catch (error) {
      this.options.onResult('failed');
      const code = errorCode(error) ?? 'error';
      if (code !== this.problem) {
        this.problem = code;
        log.warn(
          { err: error, code, namespace: report.metadata.namespace },
          `cannot write PolicyReports (${POLICY_REPORT_GROUP}/${POLICY_REPORT_VERSION}): ${advice(code)}; the background audit goes on without them`,
        );
      }
      return false;
    }
    this.options.onResult('written');
    if (this.problem !== undefined) {
      this.problem = undefined;
      log.info({ namespace: report.metadata.namespace }, 'PolicyReports are written again');
    }
    return true;
  }
}

function advice(code: string): string {
  if (code === 'not-found') {
    return 'the PolicyReport CRD (policyreports.wgpolicyk8s.io) is not installed; install it (Kyverno and the wg-policy prototypes ship it) or drop --policy-report';
  }
  if (code === 'forbidden') {
    return 'the webhook may not patch policyreports; enable the policyreports rule in manifests/base/rbac.yaml';
  }
  return 'the API server refused or could not be reached';
}

export interface AuditSchedulerOptions {
  /** One pass; it should not reject (a rejection is treated as a failed pass). */
  readonly run: () => Promise<unknown>;
  readonly intervalMs: number;
  /** Quiet time after the last change before a pass starts: 1,000 adds in a burst make one pass. */
  readonly debounceMs: number;
  /** Longest a change waits, however steady the stream of changes. */
  readonly maxDelayMs: number;
}

/**
 * When passes run: one shortly after start, then every `intervalMs` after the previous one
 * ended, and sooner, debounced, when the informer sees a change. Never two at once: a change
 * during a pass makes one more pass after it.
 */
export class AuditScheduler {
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt: number | undefined;
  private running: Promise<void> | undefined;
  private changedWhileRunning = false;
  private stopped = false;

  constructor(private readonly options: AuditSchedulerOptions) {}

  /** The first pass after `delayMs` (by default soon), then one every interval. */
  start(delayMs = this.options.debounceMs): void {
    this.schedule(delayMs);
  }

  /** A pass soon, after the burst (a burst of changes too large to reconcile one by one). */
  changed(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.changedWhileRunning = true;
      return;
    }
    const now = Date.now();
    this.firstChangeAt ??= now;
    const deadline = this.firstChangeAt + this.options.maxDelayMs;
    this.schedule(Math.max(0, Math.min(this.options.debounceMs, deadline - now)));
  }

  /** No more passes; waits for one in progress (abort its requests first to make that quick). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.fire();
    }, delayMs);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.firstChangeAt = undefined;
    this.running = this.options.run().then(
      () => undefined,
      () => undefined,
    );
    await this.running;
    this.running = undefined;
    if (this.stopped) return;
    if (this.changedWhileRunning) {
      this.changedWhileRunning = false;
      this.changed();
    } else {
      this.schedule(this.options.intervalMs);
    }
  }
}
