import type { Logger } from 'pino';
import { storedSecretPages } from '../shared/audit/list.ts';
import { withoutUserinfo } from '../shared/audit/probes.ts';
import {
  TokenRenewer,
  type ClusterRenewalState,
  type RenewerReporter,
} from '../shared/controller/token-renewer.ts';
import type { KubeClient } from '../shared/kube/client.ts';
import { KubeError } from '../shared/kube/errors.ts';
import { createGuardedProbe } from '../shared/kube/guarded-probe.ts';
import { primaryRenewStore, storedRemoteSecret } from '../shared/kube/primary.ts';
import { probeTarget } from '../shared/kube/probe.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import type { RenewIo } from '../shared/remote-secret/renew.ts';
import type { RenewalConfig } from './config.ts';
import { renewalFailedEvent, type EventSender } from './events.ts';
import type { RenewalMetrics } from './metrics.ts';

export interface TokenRenewalOptions {
  readonly settings: RenewalConfig;
  readonly namespaces: readonly string[];
  readonly pageSize: number;
  /** The webhook's own client for the primary, aborted on shutdown or loss of leadership. */
  readonly client: KubeClient;
  readonly signal: AbortSignal;
  readonly metrics: RenewalMetrics;
  readonly log: Logger;
  readonly events?: EventSender | undefined;
}

/** --renew-tokens: the leader's renewer, with the webhook's dial rules, metrics and Events. */
export function tokenRenewal(options: TokenRenewalOptions): TokenRenewer {
  const { settings, client, log } = options;
  log.warn(
    {
      intervalSeconds: settings.intervalMs / 1000,
      timeoutSeconds: settings.timeoutMs / 1000,
      allowLoopback: settings.allowLoopback,
    },
    "token renewal on: this replica asks the remotes that renewable secrets name for new tokens, with each secret's own token, and updates those secrets",
  );
  return new TokenRenewer({
    namespaces: options.namespaces,
    pages: (namespace) => {
      const pages = storedSecretPages(client, { namespace }, options.pageSize);
      return async (token) => {
        const page = await pages(token);
        return {
          items: page.items.map((item) => ({ stored: storedRemoteSecret(item), uid: item.metadata?.uid })),
          continueToken: page.continueToken,
        };
      };
    },
    io: renewIo(client, settings, options.signal),
    reporter: renewalReporter(options),
    log,
    intervalMs: settings.intervalMs,
  });
}

/**
 * The remote through the guarded transport the probes use (no redirect followed, no loopback or
 * link-local address dialed, no proxy), each TokenRequest within --renew-timeout; the primary
 * through the webhook's own client. A server's userinfo never reaches a message.
 */
export function renewIo(client: KubeClient, settings: RenewalConfig, signal: AbortSignal): RenewIo {
  return {
    async requestToken(config, policy) {
      const server = probeTarget(config).server;
      const bounded = AbortSignal.any([signal, AbortSignal.timeout(settings.timeoutMs)]);
      let remote: ReturnType<typeof createGuardedProbe> | undefined;
      try {
        remote = createGuardedProbe(config, bounded, {
          requestTimeoutMs: settings.timeoutMs,
          allowLoopback: settings.allowLoopback,
        });
        return await remote.requestToken(policy.namespace, policy.serviceAccount, policy.durationSeconds);
      } catch (error) {
        // Only the message changes (no userinfo); the code stays, for renew's requestReason to map.
        const scrub = (text: string) => text.replaceAll(server, withoutUserinfo(server));
        if (error instanceof RemoteSecretError) {
          throw new RemoteSecretError(error.code, scrub(error.message), {
            ...(error.hint === undefined ? {} : { hint: scrub(error.hint) }),
          });
        }
        throw new KubeError('unreachable', scrub(error instanceof Error ? error.message : String(error)));
      } finally {
        await remote?.close();
      }
    },
    ...primaryRenewStore(client),
  };
}

function renewalReporter(options: TokenRenewalOptions): RenewerReporter {
  const { metrics, log, events } = options;
  /** The gauge series of the last run, to remove those of clusters that went away or recovered. */
  let series = new Map<string, ClusterRenewalState>();
  const labels = (state: { namespace: string; name: string; cluster: string }) => ({
    namespace: state.namespace,
    secret: state.name,
    cluster: state.cluster,
  });
  return {
    renewed(namespace, name, result, seconds) {
      metrics.renewals.inc();
      log.info(
        {
          namespace,
          name,
          secret: `${namespace}/${name}`,
          cluster: result.cluster,
          expired: result.expires,
          expires: result.newExpires,
          seconds,
        },
        'renewed the token of a remote cluster',
      );
    },
    async failed(failure) {
      metrics.failures.inc({ reason: failure.reason });
      log.warn(
        {
          audit: true,
          namespace: failure.namespace,
          name: failure.name,
          secret: `${failure.namespace}/${failure.name}`,
          cluster: failure.cluster,
          reason: failure.reason,
          attempts: failure.attempts,
          retryAt: failure.retryAt.toISOString(),
          hint: failure.hint,
        },
        `could not renew the token of a remote cluster: ${failure.message}`,
      );
      await events?.send(renewalFailedEvent(failure, events.reportingInstance, new Date()));
    },
    state(clusters) {
      const next = new Map<string, ClusterRenewalState>();
      for (const state of clusters) {
        const key = `${state.namespace}/${state.name}/${state.cluster}`;
        const before = series.get(key);
        if (before?.failing !== undefined && before.failing !== state.failing) {
          metrics.failing.remove({ ...labels(before), reason: before.failing });
        }
        if (state.failing !== undefined) metrics.failing.set({ ...labels(state), reason: state.failing }, 1);
        if (state.renewAt === undefined) metrics.due.remove(labels(state));
        else metrics.due.set(labels(state), state.renewAt.getTime() / 1000);
        next.set(key, state);
      }
      for (const [key, before] of series) {
        if (next.has(key)) continue;
        if (before.failing !== undefined)
          metrics.failing.remove({ ...labels(before), reason: before.failing });
        metrics.due.remove(labels(before));
      }
      series = next;
    },
    run(result, seconds) {
      metrics.runs.inc({ result });
      if (result === 'ok') metrics.lastRunDuration.set(seconds);
    },
  };
}
