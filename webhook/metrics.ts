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
}

export interface IndexSize {
  readonly secretCount: number;
  readonly clusterCount: number;
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
      help: 'Time from a parsed AdmissionReview to its response being written',
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
      help: 'Kubernetes Events for secrets with violations, by result (created, failed, dropped)',
      labelNames: ['result'],
      registers: [registry],
    }),
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
  return metrics;
}
