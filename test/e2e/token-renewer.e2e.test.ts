import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type KeptTestCluster, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  kubeconfigOf as kubeconfigIn,
  storedSecret,
  tokenOf,
  type StoredSecret,
} from '../harness/stored-secret.ts';
import {
  eventually,
  registerShippedWebhook,
  scrapeMetric,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * --renew-tokens on two real kube-apiservers: the webhook's leader renews a secret made by
 * `create --token-duration 10m --renew --renew-after 0.01` on its schedule (due 6 s after each
 * token is minted: the schedule is driven by the share, nobody waits 10 minutes), three times in a
 * row, each update admitted by the same webhook registered with the primary; the old tokens keep
 * working, nothing else of the secret changes. The RoleBinding removed on the remote gives a
 * Warning Event and the metric, a stopped remote gives retries, and neither loses the secret; each
 * recovers by itself once the cause is gone.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const SECRET = 'istio-remote-secret-east';
const BINDING = 'istio-reader-service-account-token-renewer';

interface EventJson {
  reason: string;
  type: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string };
}

describe.skipIf(binaryPath === null)(
  "the webhook leader's token renewer, on a real primary and remote",
  () => {
    let primary: TestCluster;
    let remote: KeptTestCluster;
    let tls: TlsFixture;
    let webhook: WebhookProcess | undefined;
    let dir = '';
    let savedBinding = '';
    const onPrimary = (...args: string[]) => kubectl(primary.kubeconfigPath, args);
    const onRemote = (...args: string[]) => kubectl(remote.kubeconfigPath, args);
    const stored = () => storedSecret(primary.kubeconfigPath, NAMESPACE, SECRET);
    const kubeconfigOf = (secret: StoredSecret) => kubeconfigIn(secret, 'east');
    const works = async (kubeconfig: string, name: string) => {
      const file = join(dir, name);
      writeFileSync(file, kubeconfig);
      return (await kubectl(file, ['get', '--raw', '/version'])).status === 0;
    };
    const metric = async (name: string) => {
      if (webhook === undefined) throw new Error('no webhook');
      return scrapeMetric(webhook, tls, name);
    };
    const sum = (samples: Record<string, number>, labels = '') =>
      Object.entries(samples)
        .filter(([key]) => key.includes(labels))
        .reduce((total, [, value]) => total + value, 0);
    const renewalEvents = async (): Promise<EventJson[]> => {
      const listed = await onPrimary(
        ...['get', 'events', '-n', NAMESPACE, '--field-selector', 'reason=RemoteSecretRenewalFailed'],
        ...['-o', 'json'],
      );
      expect(listed.status, listed.stderr).toBe(0);
      return (JSON.parse(listed.stdout) as { items: EventJson[] }).items;
    };
    /** Wait for the next renewal and return the secret after it. */
    const nextRenewal = async (after: StoredSecret, timeoutMs = 60_000): Promise<StoredSecret> => {
      let now = after;
      await eventually(async () => {
        now = await stored();
        return tokenOf(kubeconfigOf(now)) !== tokenOf(kubeconfigOf(after));
      }, timeoutMs);
      return now;
    };

    beforeAll(async () => {
      for (const script of ['build', 'bundle:webhook']) {
        const built = spawnSync('npm', ['run', script], { cwd: REPO_ROOT, encoding: 'utf8' });
        expect(built.status, built.stderr).toBe(0);
      }
      tls = writeTlsFixture();
      dir = mkdtempSync(join(tmpdir(), 'token-renewer-e2e-'));
      const options = binaryPath === null ? {} : { binaryPath };
      [primary, remote] = await Promise.all([
        startCluster('renewer-primary', options),
        startCluster('renewer-remote', { ...options, keepData: true }),
      ]);
      expect((await onPrimary('create', 'namespace', NAMESPACE)).status).toBe(0);
      const created = await runPluginAsync([
        ...['create', '--kubeconfig', remote.kubeconfigPath, '--name', 'east'],
        ...['--token-duration', '10m', '--renew', '--renew-after', '0.01'],
      ]);
      expect(created.status, created.stderr).toBe(0);
      webhook = await startWebhookProcess({
        kubeconfigPath: primary.kubeconfigPath,
        tls,
        mode: 'enforce',
        localClusterId: 'primary',
        namespace: NAMESPACE,
        extraArgs: [
          ...['--no-leader-elect', '--audit-interval', '3600'],
          ...['--renew-tokens', '--renew-interval', '2', '--renew-allow-loopback'],
        ],
      });
      // Every write to the secret, the renewer's included, goes through this webhook.
      await registerShippedWebhook(primary.kubeconfigPath, webhook, tls, NAMESPACE);
      const applied = await kubectl(primary.kubeconfigPath, ['apply', '-f', '-'], { input: created.stdout });
      expect(applied.status, applied.stderr).toBe(0);
      const binding = await onRemote('get', 'rolebinding', BINDING, '-n', NAMESPACE, '-o', 'json');
      expect(binding.status, binding.stderr).toBe(0);
      savedBinding = binding.stdout;
    }, 180_000);

    afterAll(async () => {
      await stopWebhookProcess(webhook);
      await stopAllClusters();
      rmSync(dir, { recursive: true, force: true });
    });

    it('renews three times in a row on its schedule, through admission, the old tokens still valid', async () => {
      const first = await stored();
      const tokens = [tokenOf(kubeconfigOf(first))];
      let previous = first;
      for (let round = 1; round <= 3; round += 1) {
        const now = await nextRenewal(previous);
        const kubeconfig = kubeconfigOf(now);
        const token = tokenOf(kubeconfig);
        expect(tokens).not.toContain(token);
        // Only the token moved.
        expect(kubeconfig).toBe(kubeconfigOf(previous).replace(tokenOf(kubeconfigOf(previous)), token));
        expect(now.metadata.labels).toEqual(first.metadata.labels);
        expect(now.metadata.annotations).toEqual(first.metadata.annotations);
        expect(Object.keys(now.data)).toEqual(['east']);
        expect(await works(kubeconfig, `new-${String(round)}.kubeconfig`)).toBe(true);
        tokens.push(token);
        previous = now;
      }
      for (const [index, token] of tokens.entries()) {
        const old = kubeconfigOf(first).replace(tokenOf(kubeconfigOf(first)), token);
        expect(await works(old, `old-${String(index)}.kubeconfig`), `token ${String(index)}`).toBe(true);
      }
      expect(sum(await metric('remote_secret_webhook_token_renewals_total'))).toBeGreaterThanOrEqual(3);
      const output = webhook?.output() ?? '';
      const renewed = output
        .split('\n')
        .filter((line) => line.includes('renewed the token of a remote cluster'))
        .map((line) => (JSON.parse(line) as { seconds: number }).seconds);
      expect(renewed.length).toBeGreaterThanOrEqual(3);
      // The same webhook admitted each update (the API server asked it: UPDATE, allowed).
      const admitted = await metric('remote_secret_webhook_admission_requests_total');
      expect(sum(admitted, 'operation="UPDATE",verdict="allowed"')).toBeGreaterThanOrEqual(3);
      expect(output).not.toContain(tokens[1]);
      process.stderr.write(
        `token renewer: ${String(renewed.length)} renewals, ${renewed.map((seconds) => seconds.toFixed(3)).join(', ')} s each (TokenRequest and update)\n`,
      );
    });

    it('the RoleBinding removed on the remote: a Warning Event with the fix and the metric, the secret kept, and it recovers', async () => {
      const removed = await onRemote('delete', 'rolebinding', BINDING, '-n', NAMESPACE);
      expect(removed.status, removed.stderr).toBe(0);
      // A renewal already in flight may still land; from the next one on, the remote refuses.
      await new Promise((resolve) => setTimeout(resolve, 8000));
      const before = await stored();
      await eventually(async () => {
        const events = await renewalEvents();
        return events.some(
          (event) =>
            event.type === 'Warning' &&
            event.involvedObject.name === SECRET &&
            event.message.includes(`${BINDING} is gone`) &&
            event.message.includes('fix: restore it with `kubectl remote-secret create'),
        );
      }, 60_000);
      const failing = await metric('remote_secret_webhook_token_renewal_failing');
      expect(Object.keys(failing).join()).toContain('reason="forbidden"');
      expect(
        sum(await metric('remote_secret_webhook_token_renewal_failures_total'), 'forbidden'),
      ).toBeGreaterThan(0);
      expect(await stored()).toEqual(before);
      const restored = await kubectl(remote.kubeconfigPath, ['apply', '-f', '-'], { input: savedBinding });
      expect(restored.status, restored.stderr).toBe(0);
      // The next retry (the backoff is at 10 s, doubling) renews, and the failing series goes.
      await nextRenewal(before, 90_000);
      await eventually(
        async () => Object.keys(await metric('remote_secret_webhook_token_renewal_failing')).length === 0,
      );
    });

    it('a stopped remote: retries with backoff, the secret kept, and renewed once it is back', async () => {
      const failuresBefore = sum(
        await metric('remote_secret_webhook_token_renewal_failures_total'),
        'unreachable',
      );
      await remote.stopKeepingData();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const before = await stored();
      await eventually(
        async () =>
          sum(await metric('remote_secret_webhook_token_renewal_failures_total'), 'unreachable') >=
          failuresBefore + 2,
        60_000,
      );
      expect(Object.keys(await metric('remote_secret_webhook_token_renewal_failing')).join()).toContain(
        'reason="unreachable"',
      );
      expect(await stored()).toEqual(before);
      const retries = (webhook?.output() ?? '')
        .split('\n')
        .filter((line) => line.includes('could not renew') && line.includes('"reason":"unreachable"'))
        .map((line) => (JSON.parse(line) as { attempts: number }).attempts);
      expect(retries.slice(-2)).toEqual([retries.at(-2), (retries.at(-2) ?? 0) + 1]);
      await remote.startAgain();
      await nextRenewal(before, 120_000);
    });
  },
);
