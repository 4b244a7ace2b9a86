import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the webhook exports on /metrics; one registry per server, made in `main` or a test. */
export interface WebhookMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation' | 'verdict'>;
  readonly violations: Counter<'code'>;
  readonly duration: Histogram<'operation'>;
  readonly httpErrors: Counter<'status' | 'reason'>;
  readonly certificateExpiry: Gauge;
  readonly tlsReloads: Counter<'result'>;
  readonly events: Counter<'result'>;
  /** Open TCP connections to the HTTPS port (TLS handshakes under way included). */
  readonly connections: Gauge;
  /** Connections closed as they were accepted, over --max-connections. */
  readonly connectionsRefused: Counter;
  /** Times the memory of a burst of closed connections was given back (malloc_trim). */
  readonly memoryTrims: Counter;
  readonly audit: BackgroundAuditMetrics;
  /** 1 while this replica holds the Lease and runs the background audit, else 0 (--leader-elect). */
  readonly leader: Gauge<'identity'>;
  /** This replica's changes of leadership: acquired, lost (renew deadline passed), released. */
  readonly leaderTransitions: Counter<'change'>;
  readonly probes: ProbeMetrics;
  readonly renewal: RenewalMetrics;
}

/** --renew-tokens: the leader's renewals of renewable remote secrets' tokens. */
export interface RenewalMetrics {
  /** Clusters whose token was renewed. */
  readonly renewals: Counter;
  /** Failed attempts, by reason (unreachable, forbidden, unauthorized, expired, conflict...). */
  readonly failures: Counter<'reason'>;
  /** 1 for each cluster whose last attempt failed, with why; gone once it renews. */
  readonly failing: Gauge<'namespace' | 'secret' | 'cluster' | 'reason'>;
  /** When each cluster's token is next due for renewal (Unix time). */
  readonly due: Gauge<'namespace' | 'secret' | 'cluster'>;
  readonly runs: Counter<'result'>;
  readonly lastRunDuration: Gauge;
}

/** --probe-remotes: each remote as the leader last reached it from the primary. */
export interface ProbeMetrics {
  /** 1 for the last result of each cluster (ok, forbidden, unauthenticated, unreachable, skipped). */
  readonly result: Gauge<'namespace' | 'secret' | 'cluster' | 'result'>;
  readonly duration: Gauge<'namespace' | 'secret' | 'cluster'>;
  readonly runs: Counter<'result'>;
  readonly lastRunTimestamp: Gauge;
  readonly lastRunDuration: Gauge;
}

/** The background audit's view of the stored secrets, as of its last pass or reconcile. */
export interface BackgroundAuditMetrics {
  /** Stored secrets having each violation code; a code that went away stays, at 0. */
  readonly noncompliant: Gauge<'code'>;
  readonly noncompliantSecrets: Gauge;
  readonly secrets: Gauge;
  readonly runs: Counter<'result'>;
  /** Changed secrets the informer handed over, by what came of each. */
  readonly reconciles: Counter<'result'>;
  readonly lastRunTimestamp: Gauge;
  readonly lastRunDuration: Gauge;
  /** How late the event loop ran during the last pass (p99 and max): what it cost admission. */
  readonly lastRunEventLoopDelay: Gauge<'quantile'>;
  readonly policyReports: Counter<'result'>;
  /** When each stored remote secret's token expires, per cluster (tokens with an `exp` only). */
  readonly tokenExpiry: Gauge<'namespace' | 'secret' | 'cluster'>;
}

export interface IndexSize {
  readonly secretCount: number;
  readonly clusterCount: number;
  /** The informer's watch of each namespace: is the index current? */
  readonly watches?: readonly WatchHealth[];
}

export interface WatchHealth {
  readonly namespace: string;
  readonly connected: boolean;
  /** When the current outage began (ms since the epoch); undefined while connected. */
  readonly failingSince: number | undefined;
}

export function createMetrics(
  index: () => IndexSize,
  options: { defaultMetrics?: boolean } = {},
): WebhookMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const metrics: WebhookMetrics = {
    registry,
    requests: new Counter({
      name: 'remote_secret_webhook_admission_requests_total',
      help: 'AdmissionReview requests answered, by operation and verdict (skipped, allowed, rejected, warned, audited)',
      labelNames: ['operation', 'verdict'],
      registers: [registry],
    }),
    violations: new Counter({
      name: 'remote_secret_webhook_violations_total',
      help: 'Violations found in admitted or rejected remote secrets, by code',
      labelNames: ['code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'remote_secret_webhook_admission_duration_seconds',
      help: 'Time from a parsed AdmissionReview to its response being queued (written with the others of its event-loop turn)',
      labelNames: ['operation'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    httpErrors: new Counter({
      name: 'remote_secret_webhook_http_errors_total',
      help: 'Requests refused before a decision (malformed, too large, timed out, not ready), by status and reason',
      labelNames: ['status', 'reason'],
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'remote_secret_webhook_tls_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (Unix time)',
      registers: [registry],
    }),
    tlsReloads: new Counter({
      name: 'remote_secret_webhook_tls_reloads_total',
      help: 'Serving certificate reloads after the files changed, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    events: new Counter({
      name: 'remote_secret_webhook_events_total',
      help: 'Event writes for secrets with violations, by result (created, patched: written; exists; deferred: held back by a rate limit, per secret or the one unauthenticated reviews share, written later; failed; dropped)',
      labelNames: ['result'],
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'remote_secret_webhook_connections',
      help: 'Open connections to the HTTPS port, TLS handshakes under way included',
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'remote_secret_webhook_connections_refused_total',
      help: 'Connections closed as they were accepted, before any TLS work, because --max-connections were open',
      registers: [registry],
    }),
    memoryTrims: new Counter({
      name: 'remote_secret_webhook_memory_trims_total',
      help: 'Times the memory of a burst of closed connections was given back to the system (glibc malloc_trim)',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'remote_secret_webhook_leader',
      help: 'Whether this replica leads (1) and runs the background audit, or follows (0); the label is its Lease identity',
      labelNames: ['identity'],
      registers: [registry],
    }),
    leaderTransitions: new Counter({
      name: 'remote_secret_webhook_leader_transitions_total',
      help: 'Changes of leadership of this replica: acquired, lost (no renew within the deadline), released (shutdown)',
      labelNames: ['change'],
      registers: [registry],
    }),
    probes: {
      result: new Gauge({
        name: 'remote_secret_webhook_remote_probe_result',
        help: 'The last probe of each remote cluster from the primary (--probe-remotes): 1 for its result (ok, forbidden: missing reader permissions, unauthenticated, unreachable, skipped: not probed, for example a proxy-url)',
        labelNames: ['namespace', 'secret', 'cluster', 'result'],
        registers: [registry],
      }),
      duration: new Gauge({
        name: 'remote_secret_webhook_remote_probe_duration_seconds',
        help: 'How long the last probe of each remote cluster took (--probe-remotes)',
        labelNames: ['namespace', 'secret', 'cluster'],
        registers: [registry],
      }),
      runs: new Counter({
        name: 'remote_secret_webhook_probe_runs_total',
        help: 'Rounds of remote probes (--probe-remotes), by result (ok, failed: the secrets could not be listed)',
        labelNames: ['result'],
        registers: [registry],
      }),
      lastRunTimestamp: new Gauge({
        name: 'remote_secret_webhook_probe_last_run_timestamp_seconds',
        help: 'When the last complete round of remote probes ended (Unix time)',
        registers: [registry],
      }),
      lastRunDuration: new Gauge({
        name: 'remote_secret_webhook_probe_last_run_duration_seconds',
        help: 'How long the last complete round of remote probes took',
        registers: [registry],
      }),
    },
    renewal: {
      renewals: new Counter({
        name: 'remote_secret_webhook_token_renewals_total',
        help: 'Remote clusters whose token the leader renewed (--renew-tokens)',
        registers: [registry],
      }),
      failures: new Counter({
        name: 'remote_secret_webhook_token_renewal_failures_total',
        help: 'Failed token renewals (--renew-tokens), by reason (unreachable, forbidden: the Role is gone, unauthorized: the token was revoked, expired, conflict, store-failed, refused, not-renewable, ...)',
        labelNames: ['reason'],
        registers: [registry],
      }),
      failing: new Gauge({
        name: 'remote_secret_webhook_token_renewal_failing',
        help: '1 for each remote cluster whose last token renewal failed, with the reason; the series goes once it renews (--renew-tokens)',
        labelNames: ['namespace', 'secret', 'cluster', 'reason'],
        registers: [registry],
      }),
      due: new Gauge({
        name: 'remote_secret_webhook_token_renewal_due_timestamp_seconds',
        help: "When each renewable remote secret's token is next due for renewal (Unix time; --renew-tokens)",
        labelNames: ['namespace', 'secret', 'cluster'],
        registers: [registry],
      }),
      runs: new Counter({
        name: 'remote_secret_webhook_token_renewal_runs_total',
        help: 'Runs of the token renewer (--renew-tokens), by result (ok, failed: the secrets could not be listed)',
        labelNames: ['result'],
        registers: [registry],
      }),
      lastRunDuration: new Gauge({
        name: 'remote_secret_webhook_token_renewal_last_run_duration_seconds',
        help: 'How long the last run of the token renewer took',
        registers: [registry],
      }),
    },
    audit: {
      noncompliant: new Gauge({
        name: 'remote_secret_webhook_noncompliant',
        help: 'Stored remote secrets with this violation code, as the background audit knows them (0 once none has it)',
        labelNames: ['code'],
        registers: [registry],
      }),
      noncompliantSecrets: new Gauge({
        name: 'remote_secret_webhook_noncompliant_secrets',
        help: 'Stored remote secrets with at least one violation, as the background audit knows them',
        registers: [registry],
      }),
      secrets: new Gauge({
        name: 'remote_secret_webhook_audit_secrets',
        help: 'Stored remote secrets the background audit knows (from its passes and reconciles)',
        registers: [registry],
      }),
      runs: new Counter({
        name: 'remote_secret_webhook_audit_runs_total',
        help: 'Background audit passes, by result (ok, failed)',
        labelNames: ['result'],
        registers: [registry],
      }),
      reconciles: new Counter({
        name: 'remote_secret_webhook_audit_reconciles_total',
        help: 'Changed secrets reconciled one at a time, by result (decided; unchanged: same data hash, skipped; deleted; failed; overflow: a burst too large for the queue, left to a pass)',
        labelNames: ['result'],
        registers: [registry],
      }),
      lastRunTimestamp: new Gauge({
        name: 'remote_secret_webhook_audit_last_run_timestamp_seconds',
        help: 'When the last complete background audit ended (Unix time)',
        registers: [registry],
      }),
      lastRunDuration: new Gauge({
        name: 'remote_secret_webhook_audit_last_run_duration_seconds',
        help: 'How long the last complete background audit took, list and decide',
        registers: [registry],
      }),
      lastRunEventLoopDelay: new Gauge({
        name: 'remote_secret_webhook_audit_last_run_event_loop_delay_seconds',
        help: 'How late the event loop ran during the last complete background audit (quantile 0.99 and 1, the worst): admission requests waited at most this long behind it',
        labelNames: ['quantile'],
        registers: [registry],
      }),
      tokenExpiry: new Gauge({
        name: 'remote_secret_webhook_remote_token_expiry_timestamp_seconds',
        help: "When the token of each stored remote secret's cluster expires (Unix time, the JWT's exp, read unverified), as the background audit knows them; no series for a token that never expires",
        labelNames: ['namespace', 'secret', 'cluster'],
        registers: [registry],
      }),
      policyReports: new Counter({
        name: 'remote_secret_webhook_audit_policy_reports_total',
        help: 'PolicyReport writes (--policy-report), by result (written, failed)',
        labelNames: ['result'],
        registers: [registry],
      }),
    },
  };
  new Gauge({
    name: 'remote_secret_webhook_index_secrets',
    help: 'Remote secrets in the cluster ID index',
    registers: [registry],
    collect() {
      this.set(index().secretCount);
    },
  });
  new Gauge({
    name: 'remote_secret_webhook_index_clusters',
    help: 'Cluster IDs in the cluster ID index',
    registers: [registry],
    collect() {
      this.set(index().clusterCount);
    },
  });
  new Gauge({
    name: 'remote_secret_webhook_index_watch_up',
    help: "1 while the informer's watch of the namespace is connected (the index is current), 0 while it fails or before it first connects",
    labelNames: ['namespace'],
    registers: [registry],
    collect() {
      for (const watch of index().watches ?? [])
        this.set({ namespace: watch.namespace }, watch.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'remote_secret_webhook_index_watch_failing_seconds',
    help: "Seconds since the informer's watch of the namespace last failed without reconnecting (how stale the index may be); 0 while connected",
    labelNames: ['namespace'],
    registers: [registry],
    collect() {
      const now = Date.now();
      for (const watch of index().watches ?? []) {
        this.set(
          { namespace: watch.namespace },
          watch.failingSince === undefined ? 0 : Math.max(0, (now - watch.failingSince) / 1000),
        );
      }
    },
  });
  return metrics;
}
