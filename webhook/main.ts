import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  MULTICLUSTER_SELECTOR,
  RemoteSecretController,
  type SecretChange,
} from '../shared/controller/remote-secret-controller.ts';
import { LeaderElector } from '../shared/controller/leader-election.ts';
import { kubeLeaseLock } from '../shared/controller/lease-lock.ts';
import { isDns1123Label } from '../shared/kube/names.ts';
import { ReviewCache } from '../shared/remote-secret/review-cache.ts';
import { rawSecretPage, storedSecretPages } from '../shared/audit/list.ts';
import {
  POLICY_REPORT_GROUP,
  POLICY_REPORT_PLURAL,
  POLICY_REPORT_VERSION,
} from '../shared/audit/policy-report.ts';
import { asModel, KubeClient } from '../shared/kube/client.ts';
import { createLogger, logDecision } from './audit.ts';
import { workerPass } from './audit-pass.ts';
import { AuditScheduler, BackgroundAudit, PolicyReportWriter } from './background-audit.ts';
import { RemoteProber } from './remote-probes.ts';
import { tokenRenewal } from './token-renewal.ts';
import { createGuardedProbe } from '../shared/kube/guarded-probe.ts';
import { ConfigError, parseCommandLine, type WebhookConfig } from './config.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE } from '../shared/exit-status.ts';
import { COMPONENT, EventRecorder, type EventSink } from './events.ts';
import { Lifecycle } from './lifecycle.ts';
import {
  ConnectionMemoryTrimmer,
  loadMallocTrim,
  TRIM_AFTER_CLOSED,
  TRIM_MAX_DELAY_MS,
  TRIM_QUIET_MS,
} from './memory-trim.ts';
import { createMetrics, type WebhookMetrics } from './metrics.ts';
import { createWebhookApp, createWebhookServer } from './server.ts';
import { readClientCa, readKeyPair, TlsReloader } from './tls.ts';
import { allowListWarnings } from '../shared/kubeconfig/allow-list.ts';

/**
 * `remote-secret-webhook`: read the configuration once, build every part, serve until SIGTERM.
 * Resolves with the exit status; configuration errors are one line on stderr and status 2.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config: WebhookConfig;
  try {
    const parsed = await parseCommandLine(argv, env);
    if (parsed.kind === 'exit') return EXIT_OK;
    config = parsed.config;
  } catch (error) {
    if (!(error instanceof RemoteSecretError) || error.code !== 'invalid-config') throw error;
    process.stderr.write(`error: ${error.message}\nRun 'remote-secret-webhook --help' for usage.\n`);
    return EXIT_USAGE;
  }
  const log = createLogger(config.logLevel);
  try {
    return await serve(config, log, env);
  } catch (error) {
    if (error instanceof RemoteSecretError) {
      switch (error.code) {
        case 'invalid-config':
        case 'invalid-tls-files':
          log.fatal({ code: error.code }, error.message);
          return EXIT_USAGE;
      }
    }
    log.fatal({ err: error }, 'the webhook failed');
    return EXIT_FINDINGS;
  }
}

/** The operator's own kubeconfig (trusted): --kubeconfig, or the in-cluster service account. */
function loadKubeConfig(config: WebhookConfig, env: NodeJS.ProcessEnv): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig !== undefined) {
    kubeConfig.loadFromFile(config.kubeconfig);
    if (config.context !== undefined) kubeConfig.setCurrentContext(config.context);
  } else {
    if ((env['KUBERNETES_SERVICE_HOST'] ?? '') === '') {
      throw new ConfigError('not running in a cluster: pass --kubeconfig to reach the API server');
    }
    kubeConfig.loadFromCluster();
  }
  if (kubeConfig.getCurrentCluster() === null) {
    throw new ConfigError(`--kubeconfig ${config.kubeconfig ?? ''}: no current cluster (check --context)`);
  }
  return kubeConfig;
}

async function serve(config: WebhookConfig, log: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  const keyPair = readKeyPair(config.tlsCertFile, config.tlsKeyFile);
  const clientCa = config.clientCaFile === undefined ? undefined : readClientCa(config.clientCaFile);
  const kubeConfig = loadKubeConfig(config, env);
  if (config.localClusterId === undefined) {
    log.warn(
      '--local-cluster-id is not set: a remote secret claiming the primary cluster ID will not be caught',
    );
  }

  // Every call to the API server goes through this one client: the same timeout, the same
  // errors (KubeError codes), and one abort for all of them on shutdown.
  const abort = new AbortController();
  const client = new KubeClient(k8s, kubeConfig, {
    requestTimeoutMs: API_REQUEST_TIMEOUT_MS,
    signal: abort.signal,
  });
  // The background audit reconciles each secret the informer changes (bound once it exists).
  const changes = { notify: (_change: SecretChange): void => undefined };
  const controller = new RemoteSecretController({
    kubeConfig,
    namespaces: config.namespaces,
    log: log.child({ component: 'controller' }),
    list: (namespace) =>
      client.call(`list Secrets labelled ${MULTICLUSTER_SELECTOR} in namespace ${namespace}`, (options) =>
        client.core.listNamespacedSecret({ namespace, labelSelector: MULTICLUSTER_SELECTOR }, options),
      ),
    onChange: (change) => {
      changes.notify(change);
    },
  });
  const metrics = createMetrics(() => ({
    secretCount: controller.clusterIds.secretCount,
    clusterCount: controller.clusterIds.clusterCount,
    watches: controller.watches,
  }));
  metrics.certificateExpiry.set(keyPair.notAfter.getTime() / 1000);
  const eventLog = log.child({ component: 'events' });
  const events = config.events
    ? new EventRecorder({
        sink: eventSink(client),
        onResult: (result, error) => {
          metrics.events.inc({ result });
          if (result === 'failed' || result === 'dropped')
            eventLog.warn({ err: error, result }, 'could not record an Event');
        },
      })
    : undefined;
  // The background audit runs on one replica, the leader (on this one with --no-leader-elect);
  // a follower's informer and index still run, admission needs them.
  let scheduler: BackgroundAuditRun | undefined;
  let renewer: { stop(): Promise<void> } | undefined;
  changes.notify = (change) => {
    scheduler?.reconcile(change);
  };
  const startAudit = (soon: boolean): void => {
    scheduler = backgroundAudit(config, client, log, metrics, events);
    scheduler?.start(soon);
    renewer = startRenewal(config, client, log, metrics, events);
  };
  const stopAudit = async (): Promise<void> => {
    const running = [scheduler, renewer];
    scheduler = undefined;
    renewer = undefined;
    // Lists and calls are aborted; Events or a PolicyReport still being written get a second at most.
    await Promise.race([
      Promise.all(running.flatMap((work) => (work === undefined ? [] : [work.stop()]))),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
  };
  const elector =
    (config.auditIntervalMs === 0 && config.renewal === undefined) || !config.leaderElection.enabled
      ? undefined
      : leaderElector(config, client, log, metrics, env, {
          onStartedLeading: () => {
            // Soon, not an interval later: a change made while nobody led is found now.
            startAudit(true);
          },
          onStoppedLeading: stopAudit,
        });
  const lifecycle = new Lifecycle({
    notReady: () => (controller.synced ? undefined : 'the cluster ID index has not synced'),
  });
  const app = createWebhookApp({
    admission: {
      mode: config.mode,
      allow: config.allow,
      localClusterId: config.localClusterId,
      cache: new ReviewCache(),
      clusterIds: controller.clusterIds,
      staleIndex: (namespace) => controller.staleFor(namespace, config.indexMaxStalenessMs),
    },
    clientAuth: clientCa !== undefined,
    indexSynced: () => controller.synced,
    readiness: lifecycle,
    metrics,
    log: log.child({ component: 'http' }),
    record: (request, decision, caller) => {
      logDecision(log, request, decision, caller);
      events?.record(request, decision, caller);
    },
    requestTimeoutMs: config.requestTimeoutMs,
  });
  // After a burst of connections, give their memory back (glibc keeps it otherwise).
  const mallocTrim = await loadMallocTrim();
  const memoryLog = log.child({ component: 'memory' });
  const trimmer =
    mallocTrim === undefined
      ? undefined
      : new ConnectionMemoryTrimmer(mallocTrim, {
          minClosed: TRIM_AFTER_CLOSED,
          quietMs: TRIM_QUIET_MS,
          maxDelayMs: TRIM_MAX_DELAY_MS,
          onTrim: ({ rssBefore, rssAfter, open }) => {
            metrics.memoryTrims.inc();
            memoryLog.debug({ rssBefore, rssAfter, open }, 'returned the memory of closed connections');
          },
        });
  if (trimmer === undefined)
    memoryLog.debug('malloc_trim is not available: memory of closed connections stays with the allocator');
  const server = createWebhookServer(app, {
    keyPair,
    clientCa: clientCa?.pem,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    maxConnections: config.maxConnections,
    onConnectionRefused: () => {
      metrics.connectionsRefused.inc();
    },
    onConnections: (delta) => {
      metrics.connections.inc(delta);
      trimmer?.onConnections(delta);
    },
    onClientError: (status, reason) => {
      metrics.httpErrors.inc({ status: String(status), reason });
    },
  });
  lifecycle.track(server);
  const tlsLog = log.child({ component: 'tls' });
  const reloader = new TlsReloader(
    {
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      clientCaFile: config.clientCaFile,
      intervalMs: config.tlsReloadIntervalMs,
      apply: (options) => {
        server.setSecureContext(options);
      },
      onReload: (result) => {
        metrics.tlsReloads.inc({ result: result.ok ? 'ok' : 'failed' });
        if (result.ok) {
          metrics.certificateExpiry.set(result.pair.notAfter.getTime() / 1000);
          tlsLog.info({ notAfter: result.pair.notAfter.toISOString() }, 'serving certificate reloaded');
        } else {
          tlsLog.error({ code: result.error.code }, `kept the previous certificate: ${result.error.message}`);
        }
      },
      onClientCaReload: (result) => {
        metrics.tlsReloads.inc({ result: result.ok ? 'ok' : 'failed' });
        if (result.ok) tlsLog.info({ clientCa: result.clientCa.subjects }, 'client CA reloaded');
        else
          tlsLog.error({ code: result.error.code }, `kept the previous client CA: ${result.error.message}`);
      },
    },
    keyPair,
    clientCa,
  );

  server.listen(config.port, config.address);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  log.info(
    {
      address: config.address,
      port,
      mode: config.mode,
      namespaces: config.namespaces,
      localClusterId: config.localClusterId,
      allow: [...config.allow],
    },
    'remote-secret-webhook listening',
  );
  for (const warning of allowListWarnings(config.allow)) log.warn({ allow: [...config.allow] }, warning);
  if (clientCa === undefined) {
    log.warn(
      { authenticated: false },
      `POST /validate is unauthenticated: anyone who reaches port ${String(port)} can send a review, and its Events and log lines are marked authenticated: false; set --client-ca-file to the CA of the API server's client certificate (docs/install-webhook.md#who-may-call-the-webhook)`,
    );
  } else {
    log.info({ clientCa: clientCa.subjects }, 'POST /validate needs a client certificate from this CA');
  }
  reloader.start();
  if (elector === undefined) startAudit(false);
  else elector.start();
  void controller.start().catch((error: unknown) => {
    log.error({ err: error }, 'the remote secret informer could not start');
  });

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info(
    { signal, delayMs: config.shutdownDelayMs },
    'shutting down: readiness fails, in-flight requests finish',
  );
  // During the drain: the leader stops its work and releases the Lease, so another replica
  // takes over at its next retry instead of a lease duration later.
  const released = elector?.stop();
  const drained = await lifecycle.drain(server, {
    delayMs: config.shutdownDelayMs,
    timeoutMs: config.shutdownTimeoutMs,
  });
  reloader.stop();
  await released;
  await stopAudit();
  await controller.stop();
  await Promise.race([events?.flush(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  abort.abort();
  // clean: nothing cut off (no request unanswered, no connection destroyed at the timeout).
  log.info(drained, 'stopped');
  return drained.clean ? EXIT_OK : EXIT_FINDINGS;
}

/**
 * How long any one call to the API server may take: a list page, an Event, a PolicyReport. A
 * page of 250 remote secrets is about 1 MB.
 */
const API_REQUEST_TIMEOUT_MS = 30_000;

/** Events through the webhook's one client: a create, or a JSON merge patch of a repeat's count. */
function eventSink(client: KubeClient): EventSink {
  return {
    create: (event) =>
      client.call(`create Event ${event.metadata.namespace}/${event.metadata.name}`, (options) =>
        client.core.createNamespacedEvent(
          { namespace: event.metadata.namespace, body: asModel(k8s.CoreV1Event, event) },
          options,
        ),
      ),
    patch: (namespace, name, patch) =>
      client.call(
        `patch Event ${namespace}/${name}`,
        (options) => client.core.patchNamespacedEvent({ namespace, name, body: patch }, options),
        { name: 'Content-Type', value: k8s.PatchStrategy.MergePatch },
      ),
  };
}

/** The leader election of --leader-elect: its Lease, identity and metrics. */
function leaderElector(
  config: WebhookConfig,
  client: KubeClient,
  log: Logger,
  metrics: WebhookMetrics,
  env: NodeJS.ProcessEnv,
  work: { onStartedLeading: () => void; onStoppedLeading: () => Promise<void> },
): LeaderElector {
  const { leaderElection } = config;
  const namespace = leaseNamespace(leaderElection.namespace, client.kubeConfig, env);
  // The pod name, and a random suffix: a restarted container is a new candidate, not the old holder.
  const identity = `${nonEmpty(env['HOSTNAME']) ?? hostname()}_${randomUUID()}`;
  const electionLog = log.child({ component: 'leader-election' });
  metrics.leader.set({ identity }, 0);
  electionLog.info(
    { identity, lease: `${namespace}/${leaderElection.leaseName}` },
    'contending for the leadership: only the leader runs the background audit',
  );
  return new LeaderElector({
    lock: kubeLeaseLock(client, namespace, leaderElection.leaseName),
    identity,
    leaseDurationMs: leaderElection.leaseDurationMs,
    renewDeadlineMs: leaderElection.renewDeadlineMs,
    retryPeriodMs: leaderElection.retryPeriodMs,
    log: electionLog,
    onStartedLeading: () => {
      metrics.leader.set({ identity }, 1);
      metrics.leaderTransitions.inc({ change: 'acquired' });
      work.onStartedLeading();
    },
    onStoppedLeading: async (reason) => {
      metrics.leader.set({ identity }, 0);
      metrics.leaderTransitions.inc({ change: reason });
      await work.onStoppedLeading();
    },
    onNewLeader: (holder) => {
      if (holder !== identity)
        electionLog.info(
          { leader: holder === '' ? null : holder },
          holder === '' ? 'nobody leads' : 'following the leader',
        );
    },
  });
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The Lease's namespace: --leader-elect-namespace, else the pod's (POD_NAMESPACE from the
 * downward API, else the service account's namespace file), else, outside a cluster, the
 * --kubeconfig context's namespace, else `default`.
 */
export function leaseNamespace(
  flag: string | undefined,
  kubeConfig: KubeConfig,
  env: NodeJS.ProcessEnv,
  readNamespaceFile: () => string = () => readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8'),
): string {
  if (flag !== undefined) return flag;
  const fromEnv = nonEmpty(env['POD_NAMESPACE']);
  if (fromEnv !== undefined) {
    if (!isDns1123Label(fromEnv))
      throw new ConfigError(
        `POD_NAMESPACE ${JSON.stringify(fromEnv)}: not a namespace name (or set --leader-elect-namespace)`,
      );
    return fromEnv;
  }
  let fromFile: string | undefined;
  try {
    fromFile = nonEmpty(readNamespaceFile().trim());
  } catch {
    fromFile = undefined;
  }
  if (fromFile !== undefined) return fromFile;
  return nonEmpty(kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace) ?? 'default';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

interface BackgroundAuditRun {
  start(soon: boolean): void;
  reconcile(change: SecretChange): void;
  stop(): Promise<void>;
}

/** The background audit and what starts its passes, or undefined with --audit-interval 0. */
function backgroundAudit(
  config: WebhookConfig,
  client: KubeClient,
  log: Logger,
  metrics: WebhookMetrics,
  events: EventRecorder | undefined,
): BackgroundAuditRun | undefined {
  if (config.auditIntervalMs === 0) return undefined;
  const auditLog = log.child({ component: 'background-audit' });
  // Aborted on shutdown, so a pass in the middle of a long list does not hold the exit up.
  const abort = new AbortController();
  const auditClient = client.abortedBy(abort.signal);
  const customObjects = client.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  // The audit's and the probes' reports each say once when they cannot be written.
  const policyReports = (): PolicyReportWriter | undefined =>
    config.policyReport
      ? new PolicyReportWriter({
          log: auditLog,
          onResult: (result) => {
            metrics.audit.policyReports.inc({ result });
          },
          apply: (report) =>
            auditClient.call(
              `apply PolicyReport ${report.metadata.namespace}/${report.metadata.name}`,
              (options) =>
                customObjects.patchNamespacedCustomObject(
                  {
                    group: POLICY_REPORT_GROUP,
                    version: POLICY_REPORT_VERSION,
                    plural: POLICY_REPORT_PLURAL,
                    namespace: report.metadata.namespace,
                    name: report.metadata.name,
                    body: report,
                    fieldManager: COMPONENT,
                    force: true,
                  },
                  options,
                ),
              { name: 'Content-Type', value: k8s.PatchStrategy.ServerSideApply },
            ),
        })
      : undefined;
  const settings = {
    namespaces: config.namespaces,
    allow: config.allow,
    localClusterId: config.localClusterId,
  };
  const audit = new BackgroundAudit({
    ...settings,
    // Listed and decided in a worker thread, so that admission never waits behind a pass.
    pass: workerPass({
      ...settings,
      pageSize: config.auditPageSize,
      connect: () => auditClient.directConnection(),
      fetchPage: (namespace, token) => rawSecretPage(auditClient, namespace, config.auditPageSize, token),
      onDone: (worker) => {
        auditLog.debug({ worker }, 'background audit worker done');
      },
      signal: abort.signal,
    }),
    read: (namespace, name) =>
      auditClient.read(`get Secret ${namespace}/${name}`, (options) =>
        auditClient.core.readNamespacedSecret({ namespace, name }, options),
      ),
    onOverflow: () => {
      scheduler.changed();
    },
    metrics: metrics.audit,
    log: auditLog,
    signal: abort.signal,
    events,
    policyReports: policyReports(),
  });
  const scheduler = new AuditScheduler({
    run: () => audit.runPass(),
    intervalMs: config.auditIntervalMs,
    debounceMs: Math.min(1000, config.auditIntervalMs),
    maxDelayMs: Math.min(10_000, config.auditIntervalMs),
  });
  auditLog.info(
    { intervalSeconds: config.auditIntervalMs / 1000, policyReport: config.policyReport },
    'background audit on',
  );
  const probes = remoteProbes(config, auditClient, log, metrics, events, abort.signal, policyReports());
  return {
    // Without leader election, the informer's first list reconciles every secret and the first
    // pass comes an interval later; a new leader's informer listed while it followed: a pass soon.
    start: (soon) => {
      scheduler.start(soon ? undefined : config.auditIntervalMs);
      probes?.start();
    },
    reconcile: (change) => {
      audit.reconcile(change);
    },
    stop: async () => {
      abort.abort();
      await Promise.all([scheduler.stop(), probes?.stop()]);
    },
  };
}

/** --renew-tokens: the leader's token renewer, started at once; undefined when off. */
function startRenewal(
  config: WebhookConfig,
  client: KubeClient,
  log: Logger,
  metrics: WebhookMetrics,
  events: EventRecorder | undefined,
): { stop(): Promise<void> } | undefined {
  if (config.renewal === undefined) return undefined;
  const abort = new AbortController();
  const renewer = tokenRenewal({
    settings: config.renewal,
    namespaces: config.namespaces,
    pageSize: config.auditPageSize,
    client: client.abortedBy(abort.signal),
    signal: abort.signal,
    metrics: metrics.renewal,
    log: log.child({ component: 'token-renewal' }),
    events,
  });
  renewer.start();
  return {
    stop: async () => {
      abort.abort();
      await renewer.stop();
    },
  };
}

/** --probe-remotes: the leader's rounds of probes, on their own schedule beside the audit's. */
function remoteProbes(
  config: WebhookConfig,
  client: KubeClient,
  log: Logger,
  metrics: WebhookMetrics,
  events: EventRecorder | undefined,
  signal: AbortSignal,
  policyReports: PolicyReportWriter | undefined,
): AuditScheduler | undefined {
  const settings = config.probes;
  if (settings === undefined) return undefined;
  const probeLog = log.child({ component: 'remote-probes' });
  const prober = new RemoteProber({
    namespaces: config.namespaces,
    pages: (namespace) => storedSecretPages(client, { namespace }, config.auditPageSize),
    allow: config.allow,
    connect: (sanitized, probeSignal) =>
      createGuardedProbe(sanitized, probeSignal, {
        requestTimeoutMs: settings.timeoutMs,
        allowLoopback: settings.allowLoopback,
      }),
    timeoutMs: settings.timeoutMs,
    concurrency: settings.concurrency,
    metrics: metrics.probes,
    log: probeLog,
    events,
    policyReports,
    signal,
  });
  probeLog.warn(
    {
      intervalSeconds: settings.intervalMs / 1000,
      timeoutSeconds: settings.timeoutMs / 1000,
      concurrency: settings.concurrency,
      allowLoopback: settings.allowLoopback,
    },
    'remote probes on: this replica dials the servers that remote secrets name, with their credentials, as istiod does',
  );
  return new AuditScheduler({
    run: () => prober.run(),
    intervalMs: settings.intervalMs,
    debounceMs: Math.min(1000, settings.intervalMs),
    maxDelayMs: settings.intervalMs,
  });
}
