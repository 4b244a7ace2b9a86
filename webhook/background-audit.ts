import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Auditor } from '../shared/audit/audit.ts';
import {
  ComplianceTracker,
  isNonCompliant,
  storedSecretStatus,
  unreadableSecretStatus,
  type StoredSecretRef,
  type StoredSecretStatus,
} from '../shared/audit/background.ts';
import { forEachPage, type FetchPage } from '../shared/audit/pages.ts';
import {
  buildPolicyReport,
  POLICY_REPORT_GROUP,
  POLICY_REPORT_VERSION,
  type PolicyReportManifest,
} from '../shared/audit/policy-report.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from '../shared/audit/risk-notes.ts';
import { errorCode } from '../shared/errors.ts';
import { wireSecret } from '../shared/kube/primary.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import { secretRef } from '../shared/remote-secret/model.ts';
import {
  buildNonCompliantEvent,
  COMPONENT,
  EVENT_ANNOTATION_PREFIX,
  type EventBody,
  type EventResult,
} from './events.ts';
import type { BackgroundAuditMetrics } from './metrics.ts';

/** At most this many Events per pass; the rest are announced by the next passes. */
export const MAX_EVENTS_PER_PASS = 250;
/** Events in flight at once, well under the recorder's bound of 100 kept for admissions. */
const EVENT_CONCURRENCY = 4;

export interface BackgroundAuditOptions {
  readonly namespaces: readonly string[];
  /** Pages of the labelled Secrets of one namespace, listed with the operator's own kubeconfig. */
  readonly pages: (namespace: string) => FetchPage<V1Secret>;
  readonly allow: AllowList;
  readonly localClusterId: string | undefined;
  readonly metrics: BackgroundAuditMetrics;
  readonly log: Logger;
  /** Writes Events; undefined with --no-events (newly non-compliant secrets are then logged only). */
  readonly events?:
    { send(event: EventBody): Promise<EventResult>; readonly reportingInstance: string } | undefined;
  /** With --policy-report. */
  readonly policyReports?: PolicyReportWriter | undefined;
  readonly now?: () => Date;
  readonly maxEventsPerPass?: number;
  /** Aborted on shutdown: a pass cut short then is not worth a warning. */
  readonly signal?: AbortSignal;
}

/**
 * One pass: list the stored remote secrets page by page, decide each with the shared `Auditor`
 * (the plugin's `audit` decision), keep codes and paths per secret and drop the page, then
 * publish gauges, announce newly non-compliant secrets (log line and one Event each) and, if
 * asked, write PolicyReports. Nothing of a kubeconfig outlives its page.
 */
export class BackgroundAudit {
  private readonly tracker = new ComplianceTracker();

  constructor(private readonly options: BackgroundAuditOptions) {}

  /** Resolves true when the pass completed; a failed pass changes no gauge and forgets nothing. */
  async runPass(): Promise<boolean> {
    const { metrics, log } = this.options;
    const now = this.options.now?.() ?? new Date();
    const started = performance.now();
    const auditor = new Auditor(
      {
        allow: this.options.allow,
        localClusterId: this.options.localClusterId,
        now,
        expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS,
      },
      { keepFindings: false },
    );
    const nonCompliant: StoredSecretStatus[] = [];
    // Every secret's status is needed for a report's pass results; without reports, only these.
    const byNamespace = new Map<string, StoredSecretStatus[]>();
    let secrets = 0;
    try {
      for (const namespace of this.options.namespaces) {
        const kept: StoredSecretStatus[] = [];
        byNamespace.set(namespace, kept);
        await forEachPage(this.options.pages(namespace), (items) => {
          for (const item of items) {
            const status = decideStored(item, namespace, auditor);
            if (status === undefined) continue;
            secrets += 1;
            if (isNonCompliant(status)) nonCompliant.push(status);
            if (this.options.policyReports !== undefined) kept.push(status);
          }
        });
      }
    } catch (error) {
      if (this.options.signal?.aborted === true) return false;
      metrics.runs.inc({ result: 'failed' });
      log.warn({ err: error }, 'background audit pass failed; the next one retries');
      return false;
    }
    const seconds = (performance.now() - started) / 1000;
    const result = this.tracker.completePass(nonCompliant);
    for (const [code, count] of result.counts) metrics.noncompliant.set({ code }, count);
    metrics.noncompliantSecrets.set(result.nonCompliant);
    metrics.secrets.set(secrets);
    metrics.lastRunDuration.set(seconds);
    metrics.lastRunTimestamp.set(Date.now() / 1000);
    metrics.runs.inc({ result: 'ok' });
    log.debug(
      { secrets, nonCompliant: result.nonCompliant, newlyNonCompliant: result.toAnnounce.length, seconds },
      'background audit pass done',
    );

    await this.announce(result.toAnnounce);
    const reports = this.options.policyReports;
    if (reports !== undefined) {
      for (const [namespace, statuses] of byNamespace) {
        await reports.write(
          buildPolicyReport(namespace, statuses, {
            source: COMPONENT,
            now,
            annotationPrefix: EVENT_ANNOTATION_PREFIX,
          }),
        );
      }
    }
    return true;
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

/** One listed Secret, decided; undefined if it is no remote secret after all. */
function decideStored(item: V1Secret, namespace: string, auditor: Auditor): StoredSecretStatus | undefined {
  const metadata = item.metadata;
  const ref: StoredSecretRef = {
    namespace: metadata?.namespace ?? namespace,
    name: metadata?.name ?? '',
    uid: metadata?.uid,
    resourceVersion: metadata?.resourceVersion,
  };
  const read = readRemoteSecretObject(wireSecret(item), secretRef(ref));
  const findings = auditor.add(read.secrets, read.errors);
  if (read.secrets.length > 0) return storedSecretStatus(ref, findings);
  return read.errors.length > 0 ? unreadableSecretStatus(ref) : undefined;
}

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

  start(): void {
    this.schedule(this.options.debounceMs);
  }

  /** The stored secrets changed: a pass soon, after the burst. */
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
