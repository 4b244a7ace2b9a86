import { describe, expect, it } from 'vitest';
import { ConfigError, parseCommandLine } from './config.ts';

// Any readable file passes the start-up check; the certificate itself is read later.
const FILES = ['--tls-cert-file', '/etc/hostname', '--tls-key-file', '/etc/hostname'];

async function config(args: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = await parseCommandLine([...FILES, ...args], env, () => undefined);
  if (parsed.kind !== 'run') throw new Error('expected a configuration');
  return parsed.config;
}

describe('background audit flags', () => {
  it('defaults to a pass a minute, 250 secrets a page, no PolicyReport', async () => {
    expect(await config([])).toMatchObject({
      auditIntervalMs: 60_000,
      auditPageSize: 100,
      policyReport: false,
    });
  });

  it.each([
    { args: ['--audit-interval', '0'], env: {}, expected: { auditIntervalMs: 0 } },
    { args: ['--audit-interval', '2.5'], env: {}, expected: { auditIntervalMs: 2500 } },
    {
      args: [],
      env: { REMOTE_SECRET_WEBHOOK_AUDIT_INTERVAL: '300' },
      expected: { auditIntervalMs: 300_000 },
    },
    { args: [], env: { REMOTE_SECRET_WEBHOOK_POLICY_REPORT: 'true' }, expected: { policyReport: true } },
    { args: ['--policy-report'], env: {}, expected: { policyReport: true } },
    { args: [], env: { REMOTE_SECRET_WEBHOOK_AUDIT_PAGE_SIZE: '50' }, expected: { auditPageSize: 50 } },
  ])('reads $args $env', async ({ args, env, expected }) => {
    expect(await config(args, env)).toMatchObject(expected);
  });

  it.each([
    {
      args: ['--audit-interval', '0.5'],
      message:
        '--audit-interval 0.5 is out of range; use a number of seconds from 1 to 86400 (or 0 to turn it off)',
    },
    {
      args: ['--audit-interval', 'soon'],
      message: '--audit-interval "soon" is not a number; use a number of seconds',
    },
    {
      args: ['--port', 'https'],
      message: '--port "https" is not a whole number; use a whole number from 0 to 65535',
    },
    {
      args: ['--request-timeout', '2s'],
      message: '--request-timeout "2s" is not a number; use a number of seconds',
    },
    { args: ['--audit-interval', '-1'], message: '--audit-interval -1' },
    {
      args: ['--audit-page-size', '0'],
      message: '--audit-page-size 0 is out of range; use a whole number from 1 to 10000',
    },
    { args: ['--audit-page-size', '2.5'], message: '--audit-page-size "2.5" is not a whole number' },
    {
      args: ['--audit-interval', '0', '--policy-report'],
      message: '--policy-report needs the background audit: set --audit-interval above 0',
    },
  ])('refuses $args', async ({ args, message }) => {
    const parsed = config(args);
    await expect(parsed).rejects.toBeInstanceOf(ConfigError);
    await expect(parsed).rejects.toThrow(message);
  });
});

describe('--client-ca-file', () => {
  it.each([
    { args: [], env: {}, expected: undefined },
    { args: ['--client-ca-file', '/etc/hostname'], env: {}, expected: '/etc/hostname' },
    { args: [], env: { REMOTE_SECRET_WEBHOOK_CLIENT_CA_FILE: '/etc/hostname' }, expected: '/etc/hostname' },
  ])('reads $args $env', async ({ args, env, expected }) => {
    expect((await config(args, env)).clientCaFile).toBe(expected);
  });

  it.each([
    {
      args: ['--client-ca-file', '/nonexistent'],
      env: {},
      message: '--client-ca-file /nonexistent: cannot read it (ENOENT)',
    },
    {
      args: [],
      env: { REMOTE_SECRET_WEBHOOK_CLIENT_CA_FILE: '' },
      message: '--client-ca-file is empty: name a file, or leave it unset',
    },
  ])('refuses $args $env', async ({ args, env, message }) => {
    const parsed = config(args, env);
    await expect(parsed).rejects.toBeInstanceOf(ConfigError);
    await expect(parsed).rejects.toThrow(message);
  });
});

describe('leader election flags', () => {
  it("defaults to client-go's periods (15 s, 10 s, 2 s), on, the Lease remote-secret-webhook", async () => {
    expect((await config([])).leaderElection).toEqual({
      enabled: true,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      leaseName: 'remote-secret-webhook',
      namespace: undefined,
    });
  });

  it.each([
    { args: ['--no-leader-elect'], env: {}, expected: { enabled: false } },
    { args: [], env: { REMOTE_SECRET_WEBHOOK_LEADER_ELECT: 'false' }, expected: { enabled: false } },
    {
      args: ['--leader-elect-lease-duration', '30', '--leader-elect-renew-deadline', '20'],
      env: {},
      expected: { leaseDurationMs: 30_000, renewDeadlineMs: 20_000 },
    },
    {
      args: ['--leader-elect-namespace', 'remote-secret-webhook', '--leader-elect-lease-name', 'my.lease'],
      env: {},
      expected: { namespace: 'remote-secret-webhook', leaseName: 'my.lease' },
    },
  ])('reads $args $env', async ({ args, env, expected }) => {
    expect((await config(args, env)).leaderElection).toMatchObject(expected);
  });

  it.each([
    {
      args: ['--leader-elect-renew-deadline', '15'],
      message: '--leader-elect-renew-deadline (15s) must be shorter than --leader-elect-lease-duration (15s)',
    },
    {
      args: ['--leader-elect-retry-period', '10'],
      message: '--leader-elect-retry-period (10s) must be shorter than --leader-elect-renew-deadline (10s)',
    },
    {
      args: ['--leader-elect-lease-duration', '15s'],
      message: '--leader-elect-lease-duration "15s" is not a number; use a number of seconds',
    },
    {
      args: ['--leader-elect-namespace', 'Istio_System'],
      message: '--leader-elect-namespace "Istio_System": not a namespace name',
    },
    {
      args: ['--leader-elect-lease-name', 'a lease'],
      message: '--leader-elect-lease-name "a lease": not a valid object name',
    },
  ])('refuses $args', async ({ args, message }) => {
    const parsed = config(args);
    await expect(parsed).rejects.toBeInstanceOf(ConfigError);
    await expect(parsed).rejects.toThrow(message);
  });
});

describe('remote probe flags', () => {
  it('are off by default', async () => {
    expect((await config([])).probes).toBeUndefined();
  });

  it('read the interval, timeout, concurrency and the loopback escape hatch, from flags or the environment', async () => {
    expect(await config(['--probe-remotes'])).toMatchObject({
      probes: { intervalMs: 300_000, timeoutMs: 5000, concurrency: 8, allowLoopback: false },
    });
    expect(
      await config(
        ['--probe-remotes', '--probe-interval', '60', '--probe-timeout', '2.5', '--probe-allow-loopback'],
        {
          REMOTE_SECRET_WEBHOOK_PROBE_CONCURRENCY: '16',
        },
      ),
    ).toMatchObject({
      probes: { intervalMs: 60_000, timeoutMs: 2500, concurrency: 16, allowLoopback: true },
    });
    expect(await config([], { REMOTE_SECRET_WEBHOOK_PROBE_REMOTES: 'true' })).toMatchObject({
      probes: { intervalMs: 300_000 },
    });
  });

  it.each([
    {
      args: ['--probe-remotes', '--audit-interval', '0'],
      message:
        '--probe-remotes runs beside the background audit, on its leader: set --audit-interval above 0',
    },
    {
      args: ['--probe-remotes', '--probe-concurrency', '0'],
      message: '--probe-concurrency 0 is out of range; use a whole number from 1 to 256',
    },
    {
      args: ['--probe-remotes', '--probe-timeout', 'soon'],
      message: '--probe-timeout "soon" is not a number; use a number of seconds from 0.1 to 300',
    },
  ])('refuses $args', async ({ args, message }) => {
    await expect(config(args)).rejects.toThrow(new ConfigError(message));
  });
});
