import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { mapLimited } from '../shared/concurrency.ts';
import { forEachPage, type FetchPage } from '../shared/audit/pages.ts';
import { buildProbeReport } from '../shared/audit/policy-report.ts';
import {
  PROBE_OUTCOMES,
  probeKey,
  probeOutcome,
  ProbeTracker,
  withoutUserinfo,
  type ProbeResult,
} from '../shared/audit/probes.ts';
import { reviewKubeconfig } from '../shared/kubeconfig/review.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import { wireSecret } from '../shared/kube/primary.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import { secretRef, type RemoteCluster, type RemoteSecret } from '../shared/remote-secret/model.ts';
import { verifyCluster, type ProbeFactory } from '../shared/remote-secret/verify.ts';
import type { PolicyReportWriter } from './background-audit.ts';
import { COMPONENT, EVENT_ANNOTATION_PREFIX, probeWorsenedEvent, type EventSender } from './events.ts';
import type { ProbeMetrics } from './metrics.ts';

interface ProbeJob {
  readonly secret: RemoteSecret;
  readonly cluster: RemoteCluster;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
}

export interface RemoteProberOptions {
  readonly namespaces: readonly string[];
  /** Pages of the labelled Secrets of one namespace (the background audit's list). */
  readonly pages: (namespace: string) => FetchPage<V1Secret>;
  /** The webhook's allow-list: only clusters admission would allow are probed. */
  readonly allow: AllowList;
  /** A guarded probe (createGuardedProbe) in the webhook; a stand-in in unit tests. */
  readonly connect: ProbeFactory;
  /** Every call for one cluster is abandoned after this long. */
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly metrics: ProbeMetrics;
  readonly log: Logger;
  readonly events?: EventSender | undefined;
  readonly policyReports?: PolicyReportWriter | undefined;
  readonly now?: () => Date;
  /** Aborted on shutdown or loss of leadership: every probe in flight ends. */
  readonly signal?: AbortSignal;
}

/**
 * --probe-remotes: a round lists the stored remote secrets page by page and, for each cluster
 * whose kubeconfig admission would allow, asks its server (from the primary's network, with the
 * secret's own sanitized credentials) for its version, who the token is and each of Istio's reader
 * permissions, `concurrency` clusters at a time and each within `timeoutMs`. Then it publishes:
 * one gauge series per cluster, a RemoteSecretUnreachable Event for each cluster that got worse,
 * and with --policy-report a PolicyReport per namespace. It keeps results (codes, servers,
 * messages), never a kubeconfig once a page is done.
 */
export class RemoteProber {
  private readonly tracker = new ProbeTracker();
  /** The gauge series of the last round, to remove those of clusters that went away. */
  private series = new Map<string, { labels: Record<string, string>; outcome: string }>();

  constructor(private readonly options: RemoteProberOptions) {}

  /** One round; resolves false when the secrets could not be listed (nothing is published then). */
  async run(): Promise<boolean> {
    const { metrics, log, signal } = this.options;
    const started = performance.now();
    const now = this.options.now?.() ?? new Date();
    const results: ProbeResult[] = [];
    try {
      for (const namespace of this.options.namespaces) {
        await forEachPage(this.options.pages(namespace), async (items) => {
          const jobs = items.flatMap((item) => this.targets(item, namespace));
          results.push(...(await mapLimited(jobs, this.options.concurrency, (job) => this.probe(job, now))));
        });
      }
    } catch (error) {
      if (signal?.aborted === true) return false;
      metrics.runs.inc({ result: 'failed' });
      log.warn({ err: error }, 'remote probes: could not list the remote secrets; the next round retries');
      return false;
    }
    if (signal?.aborted === true) return false;
    const seconds = (performance.now() - started) / 1000;
    metrics.runs.inc({ result: 'ok' });
    metrics.lastRunDuration.set(seconds);
    metrics.lastRunTimestamp.set(Date.now() / 1000);
    this.publishGauges(results);
    const counts = Object.fromEntries(
      PROBE_OUTCOMES.map((outcome) => [
        outcome,
        results.filter((result) => result.outcome === outcome).length,
      ]),
    );
    log.info({ clusters: results.length, seconds, ...counts }, 'remote probes done');
    await this.announce(this.tracker.completeRound(results), now);
    const reports = this.options.policyReports;
    if (reports !== undefined) {
      for (const namespace of this.options.namespaces) {
        await reports.write(
          buildProbeReport(namespace, results, {
            source: COMPONENT,
            now,
            annotationPrefix: EVENT_ANNOTATION_PREFIX,
          }),
        );
      }
    }
    return true;
  }

  /** The clusters of one stored Secret that admission allows, each with its secret. */
  private targets(item: V1Secret, namespace: string): ProbeJob[] {
    const manifest = wireSecret(item);
    const ref = secretRef({
      namespace: item.metadata?.namespace ?? namespace,
      name: item.metadata?.name ?? '',
    });
    const read = readRemoteSecretObject(manifest, ref);
    return read.secrets.flatMap((secret) =>
      secret.clusters
        .filter(
          (cluster) =>
            cluster.kubeconfig.ok &&
            reviewKubeconfig(cluster.kubeconfig.text, { allow: this.options.allow }).allowed,
        )
        .map((cluster) => ({
          secret,
          cluster,
          uid: item.metadata?.uid,
          resourceVersion: item.metadata?.resourceVersion,
        })),
    );
  }

  private async probe(job: ProbeJob, now: Date): Promise<ProbeResult> {
    const started = performance.now();
    const verification = await verifyCluster(
      job.secret,
      job.cluster,
      { timeoutMs: this.options.timeoutMs, signal: this.options.signal, now, parallelReviews: 4 },
      this.options.connect,
    );
    // Allowed only through the allow-list (exec, tokenFile...): the webhook runs and reads nothing.
    const found =
      verification.kubeconfig.status === 'failed'
        ? {
            outcome: 'skipped' as const,
            message: `not probed: the kubeconfig needs what the webhook never does itself (${verification.kubeconfig.violations.map((found) => found.code).join(', ')})`,
            hint: undefined,
          }
        : probeOutcome(verification);
    // Messages and hints quote the server as the kubeconfig has it, password in the URL and all.
    const server = verification.server;
    const shown = server === undefined ? undefined : withoutUserinfo(server);
    const scrub = (text: string): string =>
      server === undefined || shown === undefined ? text : text.replaceAll(server, shown);
    return {
      namespace: job.secret.namespace,
      name: job.secret.name,
      uid: job.uid,
      resourceVersion: job.resourceVersion,
      cluster: job.cluster.id,
      server: shown,
      outcome: found.outcome,
      message: scrub(found.message),
      hint: found.hint === undefined ? undefined : scrub(found.hint),
      seconds: (performance.now() - started) / 1000,
    };
  }

  private publishGauges(results: readonly ProbeResult[]): void {
    const { metrics } = this.options;
    const next = new Map<string, { labels: Record<string, string>; outcome: string }>();
    for (const result of results) {
      const labels = { namespace: result.namespace, secret: result.name, cluster: result.cluster };
      const key = probeKey(result);
      const before = this.series.get(key);
      if (before !== undefined && before.outcome !== result.outcome) {
        metrics.result.remove({ ...labels, result: before.outcome });
      }
      metrics.result.set({ ...labels, result: result.outcome }, 1);
      metrics.duration.set(labels, result.seconds);
      next.set(key, { labels, outcome: result.outcome });
    }
    for (const [key, { labels, outcome }] of this.series) {
      if (next.has(key)) continue;
      metrics.result.remove({ ...labels, result: outcome });
      metrics.duration.remove(labels);
    }
    this.series = next;
  }

  /** A log line and an Event per cluster that got worse; an Event not written is retried next round. */
  private async announce(worse: readonly ProbeResult[], now: Date): Promise<void> {
    const { events, log } = this.options;
    for (const result of worse) {
      log.warn(
        {
          audit: true,
          probe: true,
          namespace: result.namespace,
          name: result.name,
          secret: `${result.namespace}/${result.name}`,
          cluster: result.cluster,
          server: result.server,
          outcome: result.outcome,
          reason: result.message,
        },
        `remote cluster ${result.outcome} from the primary`,
      );
      const written =
        events === undefined
          ? 'created'
          : await events.send(probeWorsenedEvent(result, events.reportingInstance, now));
      if (written === 'created' || written === 'exists') this.tracker.markAnnounced(result);
    }
  }
}
