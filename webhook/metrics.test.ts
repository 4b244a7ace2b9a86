import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.ts';

describe('the webhook metrics', () => {
  it('all start remote_secret_webhook_, beside prom-client default process_ and nodejs_ ones', () => {
    const own = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
    const names = own.registry.getMetricsAsArray().map((metric) => metric.name);
    // Every family registers here: admission, index, audit, probes, leader election and renewal.
    expect(names).toEqual(
      expect.arrayContaining([
        'remote_secret_webhook_admission_requests_total',
        'remote_secret_webhook_remote_probe_result',
        'remote_secret_webhook_leader',
        'remote_secret_webhook_token_renewals_total',
      ]),
    );
    expect(names.filter((name) => !name.startsWith('remote_secret_webhook_'))).toEqual([]);

    const all = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }));
    const defaults = all.registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .filter((name) => !names.includes(name));
    expect(defaults.length).toBeGreaterThan(0);
    expect(defaults.filter((name) => !/^(?:process|nodejs)_/.test(name))).toEqual([]);
  });
});
