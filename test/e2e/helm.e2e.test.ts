import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { parseCommandLine, type WebhookConfig } from '../../webhook/config.ts';
import { createMetrics } from '../../webhook/metrics.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { CHART_DIR, helmRun, helmTemplate, RELEASE, renderChart } from '../harness/helm.ts';
import { kubectl } from '../harness/kubectl.ts';
import { runProcess } from '../harness/process.ts';
import { onlyObject, renderManifests, type RenderedManifests } from '../harness/manifests.ts';
import {
  eventually,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * charts/remote-secret-webhook with the real Helm (helm.sh/helm/v4 from test/helm/go.mod): it
 * lints, renders the same objects as the matching kustomization of manifests/ for every mode and
 * certificate source, refuses values it cannot work with, and installs into a real API server
 * whose webhook then refuses an exec remote secret.
 */
const helmBinary = inject('helmBinary');
const binaryPath = inject('kubeTestenvBinary');
const promRulesBinary = inject('promRulesBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin', import.meta.url));
/** istiod's default CLUSTER_ID, which manifests/base sets. */
const BASE = { localClusterId: 'Kubernetes' } as const;

/** Each kustomization a user applies, and the chart values meant to render the same objects. */
const PAIRS: readonly { readonly dir: string; readonly values: Record<string, unknown> }[] = [
  { dir: 'manifests', values: BASE },
  { dir: 'manifests/overlays/warn', values: { ...BASE, mode: 'warn' } },
  { dir: 'manifests/overlays/audit', values: { ...BASE, mode: 'audit' } },
  { dir: 'manifests/overlays/cert-manager', values: { ...BASE, certificates: { source: 'certManager' } } },
  {
    dir: 'manifests/overlays/cert-manager-warn',
    values: { ...BASE, mode: 'warn', certificates: { source: 'certManager' } },
  },
  {
    dir: 'manifests/overlays/cert-manager-audit',
    values: { ...BASE, mode: 'audit', certificates: { source: 'certManager' } },
  },
  // The opt-in components for who may call the webhook, as docs/install-webhook.md writes them.
  {
    dir: 'test/testdata/kustomize/network-policy',
    values: { ...BASE, networkPolicy: { enabled: true, apiServerCIDRs: ['198.51.100.0/24'] } },
  },
  {
    dir: 'test/testdata/kustomize/client-ca',
    values: { ...BASE, clientCA: { existingSecret: 'remote-secret-webhook-client-ca' } },
  },
  // Token renewal: the Role, the ValidatingAdmissionPolicy and its binding (docs/webhook.md#token-renewal).
  { dir: 'test/testdata/kustomize/renewal', values: { ...BASE, renewal: { enabled: true } } },
];

/** `mode=warn b.c=2` for a test title (localClusterId, the same everywhere, left out). */
function describeValues(values: Record<string, unknown>, prefix = ''): string {
  const text = Object.entries(values)
    .filter(([name]) => name !== 'localClusterId')
    .map(([name, value]) =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? describeValues(value as Record<string, unknown>, `${prefix}${name}.`)
        : `${prefix}${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
    )
    .join(' ');
  return text === '' && prefix === '' ? '(defaults)' : text;
}

const key = (object: KubernetesObject): string =>
  `${object.kind ?? ''}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;

/**
 * The webhook's settings as it would run them: the container's args and env through the
 * webhook's own parser, with the mounted /tls files mapped to real ones (the parser checks that
 * they are readable).
 */
async function effectiveConfig(container: ContainerSettings, tls: TlsFixture): Promise<WebhookConfig> {
  const args = (container.args ?? []).map((arg) =>
    arg.replace('/tls/tls.crt', tls.certFile).replace('/tls/tls.key', tls.keyFile),
  );
  // The client CA is the file both renders mount from a Secret; the test CA stands in for it.
  const env = Object.fromEntries(
    (container.env ?? []).map((entry) => [
      entry.name,
      entry.value === '/client-ca/ca.crt' ? clientCaFile(tls) : (entry.value ?? ''),
    ]),
  );
  const parsed = await parseCommandLine(args, env, () => undefined);
  if (parsed.kind !== 'run') throw new Error('the container args asked for --help');
  return parsed.config;
}

/** The fixture's CA as a file (a CA certificate, as --client-ca-file wants). */
function clientCaFile(tls: TlsFixture): string {
  const path = join(tls.dir, 'client-ca.crt');
  writeFileSync(path, tls.ca.certificatePem);
  return path;
}

interface TlsSecret extends KubernetesObject {
  type?: string;
  data?: Record<string, string>;
}

interface ContainerSettings {
  args?: string[] | undefined;
  env?: { name: string; value?: string | undefined }[] | undefined;
}

/**
 * What must be the same in both renders. Labels and annotations are the tool's own (Helm adds
 * its standard labels, the chart its instance label to selectors) and are left out, except the
 * cert-manager annotation that fills caBundle; each selector is checked against the pod labels
 * and replaced by a marker; the container's args and env become the settings they mean.
 */
async function comparable(rendered: RenderedManifests, tls: TlsFixture): Promise<Record<string, unknown>> {
  const manifests = { ...rendered, objects: structuredClone(rendered.objects) };
  const deployment = onlyObject(manifests, 'Deployment');
  const podLabels = { ...deployment.spec?.template.metadata?.labels };
  const selects = (selector: Record<string, string> | undefined): Record<string, string> => {
    expect(Object.keys(selector ?? {}).length).toBeGreaterThan(0);
    expect(podLabels).toMatchObject(selector ?? {});
    return { '<selects>': 'the webhook pods' };
  };
  const service = onlyObject(manifests, 'Service');
  if (service.spec !== undefined) service.spec.selector = selects(service.spec.selector);
  const budget = onlyObject(manifests, 'PodDisruptionBudget');
  if (budget.spec?.selector) budget.spec.selector.matchLabels = selects(budget.spec.selector.matchLabels);
  for (const policy of manifests.objects.filter((object) => object.kind === 'NetworkPolicy')) {
    const policySpec = (policy as { spec?: { podSelector?: { matchLabels?: Record<string, string> } } }).spec;
    if (policySpec?.podSelector)
      policySpec.podSelector.matchLabels = selects(policySpec.podSelector.matchLabels);
  }
  const spec = deployment.spec;
  if (spec === undefined) throw new Error('a Deployment without spec');
  spec.selector.matchLabels = selects(spec.selector.matchLabels);
  delete spec.template.metadata;
  for (const constraint of spec.template.spec?.topologySpreadConstraints ?? []) {
    if (constraint.labelSelector) {
      constraint.labelSelector.matchLabels = selects(constraint.labelSelector.matchLabels);
    }
  }
  const settings: Record<string, WebhookConfig> = {};
  for (const container of spec.template.spec?.containers ?? []) {
    settings[container.name] = await effectiveConfig(container, tls);
    delete container.args;
    delete container.env;
  }
  const out: Record<string, unknown> = { 'webhook settings': settings };
  for (const object of manifests.objects) {
    const annotation = object.metadata?.annotations?.['cert-manager.io/inject-ca-from'];
    const { metadata, ...rest } = object;
    out[key(object)] = {
      ...rest,
      name: metadata?.name,
      namespace: metadata?.namespace,
      injectCaFrom: annotation,
    };
  }
  return out;
}

describe.skipIf(helmBinary === null)('the Helm chart, rendered by the real Helm', () => {
  const helm = helmBinary ?? '';
  let tls: TlsFixture;
  let home: string;

  beforeAll(() => {
    tls = writeTlsFixture();
    home = mkdtempSync(join(tmpdir(), 'helm-home-'));
  });
  afterAll(() => {
    rmSync(tls.dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('helm lint --strict passes, for every mode and certificate source, and with monitoring', async () => {
    const more = [
      { ...BASE, certificates: { source: 'selfSigned' } },
      {
        ...BASE,
        metrics: {
          serviceMonitor: { enabled: true },
          prometheusRule: { enabled: true },
          grafanaDashboard: { enabled: true },
        },
      },
    ];
    for (const { values } of [...PAIRS, ...more.map((entry) => ({ values: entry }))]) {
      const sets = Object.entries(values).flatMap(([name, value]) => [
        '--set-json',
        `${name}=${JSON.stringify(value)}`,
      ]);
      const result = await helmRun(helm, home, ['lint', '--strict', CHART_DIR, ...sets]);
      expect(result.status, `${JSON.stringify(values)}: ${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  it.each(PAIRS.map((pair) => ({ ...pair, set: describeValues(pair.values) })))(
    'helm template with $set renders the objects of kubectl kustomize $dir',
    async ({ dir, values }) => {
      const chart = renderChart(helm, values);
      const kustomize = renderManifests(`${REPO}/${dir}`);
      // The one intended difference: Helm installs into a namespace it does not own (created with
      // --create-namespace or beforehand, docs/install-webhook.md), so the chart has no Namespace.
      const namespaces = kustomize.objects.filter((object) => object.kind === 'Namespace');
      expect(namespaces.map((object) => object.metadata?.name)).toEqual([RELEASE.namespace]);
      const expected = await comparable(
        { ...kustomize, objects: kustomize.objects.filter((object) => object.kind !== 'Namespace') },
        tls,
      );
      const actual = await comparable(chart, tls);
      expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
      for (const name of Object.keys(expected)) expect(actual[name], name).toEqual(expected[name]);
    },
  );

  it('every object carries the extra labels and annotations; the pods get their own', () => {
    const chart = renderChart(helm, {
      ...BASE,
      commonLabels: { team: 'mesh' },
      commonAnnotations: { 'example.com/owner': 'mesh' },
      podLabels: { tier: 'admission' },
      podAnnotations: { 'example.com/pod': 'yes' },
    });
    for (const object of chart.objects) {
      expect(object.metadata?.labels, key(object)).toMatchObject({ team: 'mesh' });
      expect(object.metadata?.annotations, key(object)).toMatchObject({ 'example.com/owner': 'mesh' });
    }
    const pod = onlyObject(chart, 'Deployment').spec?.template.metadata;
    expect(pod?.labels).toMatchObject({ tier: 'admission' });
    expect(pod?.annotations).toEqual({ 'example.com/pod': 'yes' });
  });

  it('the operator settings reach the webhook as the settings it runs with', async () => {
    const chart = renderChart(helm, {
      localClusterId: 'west',
      mode: 'warn',
      allow: ['exec,tokenFile', 'certificateAuthority'],
      watchedNamespaces: ['istio-system', 'istio-config'],
      backgroundAudit: { intervalSeconds: 300, pageSize: 50 },
      policyReport: true,
      events: false,
      logLevel: 'debug',
      replicaCount: 3,
      image: { repository: 'registry.example/rsw', tag: '9.9.9' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mesh', effect: 'NoSchedule' }],
      resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '384Mi' } },
    });
    const deployment = onlyObject(chart, 'Deployment');
    const container = deployment.spec?.template.spec?.containers[0];
    if (container === undefined) throw new Error('no container');
    const config = await effectiveConfig(container, tls);
    expect(config).toMatchObject({
      localClusterId: 'west',
      mode: 'warn',
      namespaces: ['istio-system', 'istio-config'],
      auditIntervalMs: 300_000,
      auditPageSize: 50,
      policyReport: true,
      events: false,
      logLevel: 'debug',
    });
    expect(config.allow).toEqual(
      (
        await effectiveConfig(
          {
            args: [
              '--tls-cert-file=/tls/tls.crt',
              '--tls-key-file=/tls/tls.key',
              '--allow=exec,tokenFile',
              '--allow=certificateAuthority',
            ],
          },
          tls,
        )
      ).allow,
    );
    expect(deployment.spec?.replicas).toBe(3);
    expect(container.image).toBe('registry.example/rsw:9.9.9');
    expect(container.resources).toEqual({
      requests: { cpu: '100m', memory: '192Mi' },
      limits: { memory: '384Mi' },
    });
    expect(deployment.spec?.template.spec?.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(deployment.spec?.template.spec?.tolerations).toHaveLength(1);
    // One Role per watched namespace, with the PolicyReport rule; the webhook guards both. (The
    // leader election Role, in the release namespace, is the base's and compared above.)
    const roles = chart.objects.filter(
      (object) => object.kind === 'Role' && !(object.metadata?.name ?? '').endsWith('-leader-election'),
    ) as (KubernetesObject & {
      rules: { apiGroups: string[]; verbs: string[] }[];
    })[];
    expect(roles.map((role) => role.metadata?.namespace)).toEqual(['istio-system', 'istio-config']);
    for (const role of roles) {
      expect(role.rules.find((rule) => rule.apiGroups.includes('wgpolicyk8s.io'))?.verbs).toEqual([
        'create',
        'patch',
      ]);
    }
    const [webhook] = onlyObject(chart, 'ValidatingWebhookConfiguration').webhooks ?? [];
    expect(webhook?.namespaceSelector?.matchExpressions?.[0]?.values).toEqual([
      'istio-system',
      'istio-config',
    ]);
  });

  it('selfSigned: a Secret with a CA and a serving certificate for the Service, whose CA is the caBundle', () => {
    const chart = renderChart(helm, { ...BASE, certificates: { source: 'selfSigned' } });
    const secret = chart.objects.find(
      (object): object is TlsSecret => object.kind === 'Secret' && 'data' in object,
    );
    const volume = onlyObject(chart, 'Deployment').spec?.template.spec?.volumes?.[0];
    expect(secret?.metadata?.name).toBe(volume?.secret?.secretName);
    expect(secret?.type).toBe('kubernetes.io/tls');
    const data = secret?.data ?? {};
    const pem = (name: string): string => Buffer.from(data[name] ?? '', 'base64').toString('utf8');
    const ca = new X509Certificate(pem('ca.crt'));
    const leaf = new X509Certificate(pem('tls.crt'));
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(pem('tls.key')))).toBe(true);
    expect(leaf.subjectAltName).toContain('DNS:remote-secret-webhook.remote-secret-webhook.svc');
    const [webhook] = onlyObject(chart, 'ValidatingWebhookConfiguration').webhooks ?? [];
    expect(webhook?.clientConfig.caBundle).toBe(data['ca.crt']);
  });

  it("certManager with an issuerRef of the operator's: one serving Certificate from it, no Issuers of the chart's", () => {
    const issuerRef = { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' };
    const chart = renderChart(helm, {
      ...BASE,
      certificates: { source: 'certManager', certManager: { issuerRef } },
    });
    const issued = chart.objects.filter(
      (object) => object.apiVersion === 'cert-manager.io/v1',
    ) as (KubernetesObject & {
      spec: { secretName: string; issuerRef: unknown };
    })[];
    expect(issued.map((object) => object.kind)).toEqual(['Certificate']);
    expect(issued[0]?.spec.issuerRef).toEqual(issuerRef);
    const volume = onlyObject(chart, 'Deployment').spec?.template.spec?.volumes?.[0];
    expect(issued[0]?.spec.secretName).toBe(volume?.secret?.secretName);
  });

  it('without localClusterId the render fails, saying what to set', () => {
    const result = helmTemplate(helm, {});
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      "localClusterId is required: set it to istiod's CLUSTER_ID for this cluster",
    );
    expect(result.stdout).toBe('');
  });

  it.each([
    {
      values: { ...BASE, policyReport: true, backgroundAudit: { intervalSeconds: 0 } },
      says: 'policyReport needs the background audit: set backgroundAudit.intervalSeconds above 0',
    },
    {
      values: { ...BASE, webhook: { testOnlyUrl: 'https://127.0.0.1:8443/validate' } },
      says: 'webhook.testOnlyUrl needs webhook.testOnlyCaBundle',
    },
    {
      values: { ...BASE, networkPolicy: { enabled: true } },
      says: 'networkPolicy.apiServerCIDRs is required with networkPolicy.enabled',
    },
  ])('values that cannot work together fail the render: $says', ({ values, says }) => {
    const result = helmTemplate(helm, values);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(says);
    expect(result.stdout).toBe('');
  });

  it.each(
    [
      { values: { ...BASE, replicas: 3 }, says: "additional properties 'replicas' not allowed" },
      {
        values: { ...BASE, backgroundAudit: { interval: 30 } },
        says: "additional properties 'interval' not allowed",
      },
      { values: { ...BASE, mode: 'enforced' }, says: 'mode' },
      { values: { ...BASE, certificates: { source: 'cert-manager' } }, says: 'source' },
    ].map((entry) => ({ ...entry, set: describeValues(entry.values) })),
  )('a values typo fails schema validation: $set', ({ values, says }) => {
    const result = helmTemplate(helm, values);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(says);
  });
});

/** Every metric the webhook registers (histograms also as their _bucket, _sum and _count series). */
function webhookMetricNames(): Set<string> {
  const { registry } = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
  return new Set(
    registry.getMetricsAsArray().flatMap((metric) => {
      const { name } = metric;
      return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`];
    }),
  );
}

/** The remote_secret_webhook_* names a PromQL expression uses. */
const metricsIn = (expr: string): string[] => expr.match(/remote_secret_webhook_[a-z_]+/g) ?? [];

interface RuleGroups {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}

describe.skipIf(helmBinary === null || promRulesBinary === null)('monitoring in the chart', () => {
  const helm = helmBinary ?? '';
  const checkRules = promRulesBinary ?? '';
  const MONITORING = {
    ...BASE,
    metrics: {
      serviceMonitor: { enabled: true },
      prometheusRule: { enabled: true },
      grafanaDashboard: { enabled: true },
    },
  };
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'helm-rules-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const check = (name: string, groups: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, dump(groups));
    return runProcess(checkRules, [file]);
  };

  it('off by default', () => {
    const kinds = renderChart(helm, BASE).objects.map((object) => object.kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PrometheusRule');
    expect(kinds).not.toContain('ConfigMap');
  });

  it("the PrometheusRule's groups pass Prometheus' own rule parser, and use only metrics the webhook has", async () => {
    const chart = renderChart(helm, MONITORING);
    const rule = chart.objects.find(
      (object): object is KubernetesObject & { spec: RuleGroups } => object.kind === 'PrometheusRule',
    );
    if (rule === undefined) throw new Error('no PrometheusRule');
    const result = await check('chart-rules.yaml', rule.spec);
    expect(result.status, result.stderr).toBe(0);
    const alerts = rule.spec.groups.flatMap((group) => group.rules.map((entry) => entry.alert));
    expect(result.stdout).toContain(`SUCCESS: ${String(alerts.length)} rules found`);
    expect(alerts).toEqual([
      'RemoteSecretWebhookDown',
      'RemoteSecretWebhookNonCompliantSecrets',
      'RemoteSecretWebhookRejectionBurst',
      'RemoteSecretWebhookCertificateExpiring',
      'RemoteSecretWebhookIndexWatchFailing',
      'RemoteSecretTokenExpiring',
      'RemoteSecretRenewalFailing',
      'RemoteSecretRemoteUnreachable',
    ]);
    const known = webhookMetricNames();
    for (const entry of rule.spec.groups.flatMap((group) => group.rules)) {
      for (const name of metricsIn(entry.expr))
        expect(known, `${String(entry.alert)}: ${name}`).toContain(name);
    }
  });

  it('the rule parser refuses a broken rule (bad PromQL, an unknown field, a bad template)', async () => {
    for (const [name, rules] of [
      ['promql', [{ alert: 'A', expr: 'sum(rate(x[5m])' }]],
      ['field', [{ alert: 'A', expr: 'up == 0', severity: 'page' }]],
      ['template', [{ alert: 'A', expr: 'up == 0', annotations: { summary: '{{ $value ' } }]],
    ] as const) {
      const result = await check(`${name}.yaml`, { groups: [{ name: 'g', rules }] });
      expect(result.status, name).toBe(1);
      expect(result.stderr, name).toContain('FAILED:');
    }
  });

  it('the ServiceMonitor scrapes the Service over https with the serving CA; the dashboard uses only metrics the webhook has', () => {
    const chart = renderChart(helm, MONITORING);
    const monitor = chart.objects.find(
      (
        object,
      ): object is KubernetesObject & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: {
            port: string;
            scheme: string;
            path: string;
            tlsConfig: { serverName: string; ca: { secret: { name: string; key: string } } };
          }[];
        };
      } => object.kind === 'ServiceMonitor',
    );
    const service = onlyObject(chart, 'Service');
    expect(service.metadata?.labels).toMatchObject(
      monitor?.spec.selector.matchLabels ?? { missing: 'selector' },
    );
    const [endpoint] = monitor?.spec.endpoints ?? [];
    expect(service.spec?.ports?.map((port) => port.name)).toContain(endpoint?.port);
    expect(endpoint).toMatchObject({ scheme: 'https', path: '/metrics' });
    const secretName = onlyObject(chart, 'Deployment').spec?.template.spec?.volumes?.[0]?.secret?.secretName;
    expect(endpoint?.tlsConfig.ca.secret).toEqual({ name: secretName, key: 'ca.crt' });
    expect(endpoint?.tlsConfig.serverName).toBe('remote-secret-webhook.remote-secret-webhook.svc');

    const configMap = chart.objects.find(
      (object): object is KubernetesObject & { data: Record<string, string> } => object.kind === 'ConfigMap',
    );
    const dashboard = JSON.parse(configMap?.data['remote-secret-webhook.json'] ?? '{}') as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.uid).toBe('remote-secret-webhook');
    expect(dashboard.panels.length).toBeGreaterThan(5);
    const known = webhookMetricNames();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const names = metricsIn(target.expr);
        if (panel.title !== 'Pods up') expect(names.length, panel.title).toBeGreaterThan(0);
        for (const name of names) expect(known, `${panel.title}: ${name}`).toContain(name);
      }
    }
  });
});

describe.skipIf(helmBinary === null || binaryPath === null)('helm install on a real API server', () => {
  const helm = helmBinary ?? '';
  const NAMESPACE = 'istio-system';
  let cluster: TestCluster;
  let tls: TlsFixture;
  let home: string;
  let webhook: WebhookProcess | undefined;
  const run = (args: readonly string[], input?: string) =>
    kubectl(cluster.kubeconfigPath, args, input === undefined ? {} : { input });
  const helmIn = (args: readonly string[]) => helmRun(helm, home, args, cluster.kubeconfigPath);
  const execSecret = (name: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace: NAMESPACE,
        labels: { 'istio/multiCluster': 'true' },
        annotations: { 'networking.istio.io/cluster': 'east' },
      },
      stringData: { east: kubeconfigFixture('exec') },
    });

  beforeAll(async () => {
    tls = writeTlsFixture();
    home = mkdtempSync(join(tmpdir(), 'helm-home-'));
    cluster = await startCluster('helm', binaryPath === null ? {} : { binaryPath });
    const created = await run(['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    rmSync(tls.dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('the installed chart registers the webhook: the API server refuses an exec remote secret; uninstall removes it all', async () => {
    // The chart's pods cannot run here (no nodes): the chart's test-only URL value points the
    // registration at the webhook running on this machine, with the chart's RBAC's rules.
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
    });
    const installed = await helmIn([
      'install',
      RELEASE.name,
      CHART_DIR,
      ...['--namespace', RELEASE.namespace, '--create-namespace'],
      ...['--set', 'localClusterId=primary'],
      ...['--set', `webhook.testOnlyUrl=https://127.0.0.1:${String(webhook.port)}/validate`],
      ...['--set', `webhook.testOnlyCaBundle=${Buffer.from(tls.ca.certificatePem).toString('base64')}`],
    ]);
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('STATUS: deployed');
    expect(installed.stdout).toContain('WARNING: webhook.testOnlyUrl is set');

    const objects = await run([
      'get',
      'deployment,service,serviceaccount,poddisruptionbudget',
      '-n',
      RELEASE.namespace,
      '-l',
      `app.kubernetes.io/instance=${RELEASE.name}`,
      '-o',
      'name',
    ]);
    expect(objects.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'deployment.apps/remote-secret-webhook',
      'poddisruptionbudget.policy/remote-secret-webhook',
      'service/remote-secret-webhook',
      'serviceaccount/remote-secret-webhook',
    ]);
    // The chart's Role lets the webhook's ServiceAccount do what it needs, and no more.
    const can = async (verb: string, resource: string): Promise<string> =>
      (
        await run([
          'auth',
          'can-i',
          verb,
          resource,
          '-n',
          NAMESPACE,
          `--as=system:serviceaccount:${RELEASE.namespace}:remote-secret-webhook`,
        ])
      ).stdout.trim();
    expect(await can('watch', 'secrets')).toBe('yes');
    expect(await can('create', 'events')).toBe('yes');
    expect(await can('get', 'secrets')).toBe('no');
    expect(await can('update', 'secrets')).toBe('no');

    // The API server picks up webhook configurations asynchronously: wait until it calls ours.
    let refused = { status: 0 as number | null, stderr: '' };
    await eventually(async () => {
      refused = await run(['apply', '-f', '-'], execSecret('istio-remote-secret-east'));
      return refused.status !== 0;
    });
    expect(refused.stderr).toContain(
      'admission webhook "remote-secrets.webhook.kubectl-remote-secret.io" denied the request',
    );
    expect(refused.stderr).toContain('exec');
    // The check NOTES.txt tells the operator to run, as printed, is refused the same way.
    const notes = installed.stdout.split('\n');
    const first = notes.findIndex((line) => line.includes('kubectl create secret generic rsw-check'));
    const last = notes.findIndex((line) => line.includes('kubectl apply --dry-run=server -f -'));
    expect(first).toBeGreaterThan(0);
    expect(last).toBeGreaterThan(first);
    const check = await runProcess('sh', ['-c', notes.slice(first, last + 1).join('\n')], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
    });
    expect(check.status).not.toBe(0);
    expect(check.stderr).toContain(
      'admission webhook "remote-secrets.webhook.kubectl-remote-secret.io" denied the request',
    );
    const stored = await run(['get', 'secret', 'istio-remote-secret-east', '-n', NAMESPACE]);
    expect(stored.status).not.toBe(0);
    expect(webhook.output()).toContain('istio-remote-secret-east');

    const uninstalled = await helmIn(['uninstall', RELEASE.name, '--namespace', RELEASE.namespace, '--wait']);
    expect(uninstalled.status, uninstalled.stderr).toBe(0);
    const left = await run(['get', 'validatingwebhookconfiguration', '-o', 'name']);
    expect(left.stdout).toBe('');
    const roles = await run(['get', 'role,rolebinding', '-n', NAMESPACE, '-o', 'name']);
    expect(roles.stdout).toBe('');
    // With the webhook gone the same secret is stored: it was the webhook that refused it.
    const admitted = await run(['apply', '-f', '-'], execSecret('istio-remote-secret-east'));
    expect(admitted.status, admitted.stderr).toBe(0);
    const deleted = await run(['delete', 'secret', 'istio-remote-secret-east', '-n', NAMESPACE]);
    expect(deleted.status, deleted.stderr).toBe(0);
  });

  it('existingSecret (the default): `kubectl remote-secret webhook-cert` fills the Secret and caBundle, and helm upgrade keeps them', async () => {
    // Audit mode (failurePolicy Ignore): nothing answers at the Service here, and nothing must fail.
    const release = [RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace];
    const values = ['--set', 'localClusterId=primary', '--set', 'mode=audit'];
    const caBundle = async () =>
      (
        await run([
          'get',
          'validatingwebhookconfiguration',
          'remote-secret-webhook',
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        ])
      ).stdout;
    const installed = await helmIn(['install', ...release, '--create-namespace', ...values]);
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(
      'kubectl remote-secret webhook-cert --namespace remote-secret-webhook',
    );
    expect(await caBundle()).toBe('');
    const written = await runProcess(
      'kubectl',
      ['remote-secret', 'webhook-cert', '--kubeconfig', cluster.kubeconfigPath],
      { env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}`, KUBECONFIG: '' } },
    );
    expect(written.status, written.stderr).toBe(0);
    const bundle = await caBundle();
    expect(bundle).not.toBe('');
    const upgraded = await helmIn(['upgrade', ...release, ...values, '--set', 'mode=warn']);
    expect(upgraded.status, upgraded.stderr).toBe(0);
    expect(await caBundle()).toBe(bundle);
    const policy = await run([
      'get',
      'validatingwebhookconfiguration',
      'remote-secret-webhook',
      '-o',
      'jsonpath={.webhooks[0].failurePolicy}',
    ]);
    expect(policy.stdout).toBe('Fail');
    const uninstalled = await helmIn(['uninstall', RELEASE.name, '--namespace', RELEASE.namespace, '--wait']);
    expect(uninstalled.status, uninstalled.stderr).toBe(0);
  });

  it('selfSigned: helm upgrade keeps the generated CA, serving certificate and caBundle', async () => {
    // Audit mode (failurePolicy Ignore): nothing answers at the Service here, and nothing must fail.
    const release = ['rsw-selfsigned', CHART_DIR, '--namespace', 'rsw-selfsigned'];
    const values = [
      '--set',
      'localClusterId=primary',
      '--set',
      'mode=audit',
      '--set',
      'certificates.source=selfSigned',
    ];
    const state = async () => ({
      secret: (
        await run([
          'get',
          'secret',
          'rsw-selfsigned-remote-secret-webhook-tls',
          '-n',
          'rsw-selfsigned',
          '-o',
          'jsonpath={.data}',
        ])
      ).stdout,
      caBundle: (
        await run([
          'get',
          'validatingwebhookconfiguration',
          'rsw-selfsigned-remote-secret-webhook',
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        ])
      ).stdout,
    });
    const installed = await helmIn(['install', ...release, '--create-namespace', ...values]);
    expect(installed.status, installed.stderr).toBe(0);
    const first = await state();
    expect(first.caBundle).not.toBe('');
    expect(first.secret).toContain(first.caBundle);
    const upgraded = await helmIn(['upgrade', ...release, ...values, '--set', 'logLevel=debug']);
    expect(upgraded.status, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toContain('REVISION: 2');
    expect(await state()).toEqual(first);
    const uninstalled = await helmIn([
      'uninstall',
      'rsw-selfsigned',
      '--namespace',
      'rsw-selfsigned',
      '--wait',
    ]);
    expect(uninstalled.status, uninstalled.stderr).toBe(0);
  });
});
