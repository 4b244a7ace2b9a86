import { readdirSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject, V1Container } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serviceDnsNames, WEBHOOK_CERTIFICATE_DEFAULTS } from '../../shared/pki/webhook-certificate.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { finalStage, parseDockerfile } from '../harness/dockerfile.ts';
import { kubectl, type KubectlResult } from '../harness/kubectl.ts';
import { objectsOf, onlyObject, renderManifests, type RenderedManifests } from '../harness/manifests.ts';
import { runProcess } from '../harness/process.ts';

/**
 * `manifests/`: every installable kustomization renders, holds what issue 5 asks of the Deployment
 * and the webhook registration, and is accepted by a real API server; the documented rollout
 * (audit -> warn -> enforce) and uninstall work as written, for both certificate sources.
 */
const binaryPath = inject('kubeTestenvBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CERT_MANAGER_CRDS = fileURLToPath(
  new URL('../testdata/crds/cert-manager-subset.yaml', import.meta.url),
);
const BIN = fileURLToPath(new URL('../../bin', import.meta.url));
/** The kustomization docs/install-webhook.md shows for the NetworkPolicy: component + the CIDR. */
const NETWORK_POLICY_EXAMPLE = 'test/testdata/kustomize/network-policy';
/** And for the client CA: the component that gives the webhook --client-ca-file. */
const CLIENT_CA_EXAMPLE = 'test/testdata/kustomize/client-ca';
const PROBES_EXAMPLE = 'test/testdata/kustomize/probes';
const RENEWAL_EXAMPLE = 'test/testdata/kustomize/renewal';
const NETWORK_POLICY_COMPONENT = `${REPO}/manifests/components/network-policy/networkpolicy.yaml`;
const PACKAGE = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string };
const DOCKERFILE = finalStage(parseDockerfile(readFileSync(`${REPO}/Dockerfile`, 'utf8')));

type Mode = 'audit' | 'warn' | 'enforce';
interface Install {
  readonly dir: string;
  readonly mode: Mode;
  readonly failurePolicy: 'Ignore' | 'Fail';
  readonly certificates: 'webhook-cert' | 'cert-manager';
}

/** Every kustomization a user applies: mode x certificate source. */
const INSTALLS: readonly Install[] = [
  { dir: 'manifests', mode: 'enforce', failurePolicy: 'Fail', certificates: 'webhook-cert' },
  { dir: 'manifests/overlays/audit', mode: 'audit', failurePolicy: 'Ignore', certificates: 'webhook-cert' },
  { dir: 'manifests/overlays/warn', mode: 'warn', failurePolicy: 'Fail', certificates: 'webhook-cert' },
  {
    dir: 'manifests/overlays/cert-manager',
    mode: 'enforce',
    failurePolicy: 'Fail',
    certificates: 'cert-manager',
  },
  {
    dir: 'manifests/overlays/cert-manager-audit',
    mode: 'audit',
    failurePolicy: 'Ignore',
    certificates: 'cert-manager',
  },
  {
    dir: 'manifests/overlays/cert-manager-warn',
    mode: 'warn',
    failurePolicy: 'Fail',
    certificates: 'cert-manager',
  },
];

/** The cert-manager.io/v1 fields the component sets (cert-manager ships no TypeScript types). */
interface CertManagerObject extends KubernetesObject {
  spec: {
    secretName?: string;
    dnsNames?: string[];
    isCA?: boolean;
    issuerRef?: { name: string; kind?: string };
    ca?: { secretName: string };
    selfSigned?: Record<string, never>;
  };
}

/** networking.k8s.io/v1 NetworkPolicy as YAML spells it (client-node's model says `_from`). */
interface NetworkPolicyObject extends KubernetesObject {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: { from?: unknown[]; ports?: unknown[] }[];
  };
}

function networkPolicies(manifests: RenderedManifests): NetworkPolicyObject[] {
  return manifests.objects.filter(
    (object): object is NetworkPolicyObject =>
      object.kind === 'NetworkPolicy' && object.apiVersion === 'networking.k8s.io/v1',
  );
}

const render = (dir: string): RenderedManifests => renderManifests(`${REPO}/${dir}`);
/** The names of the objects of one kind in a render. */
const names = (manifests: RenderedManifests, kind: string): (string | undefined)[] =>
  manifests.objects.filter((object) => object.kind === kind).map((object) => object.metadata?.name);

function webhookContainer(manifests: RenderedManifests): V1Container {
  const container = onlyObject(manifests, 'Deployment').spec?.template.spec?.containers.find(
    (entry) => entry.name === 'webhook',
  );
  if (container === undefined) throw new Error('the Deployment has no container named webhook');
  return container;
}

/** The value of a `--flag=value` argument, or of its REMOTE_SECRET_WEBHOOK_ variable. */
function setting(container: V1Container, flag: string): string | undefined {
  const argument = (container.args ?? []).find((arg) => arg.startsWith(`--${flag}=`));
  if (argument !== undefined) return argument.slice(flag.length + 3);
  const name = `REMOTE_SECRET_WEBHOOK_${flag.replaceAll('-', '_').toUpperCase()}`;
  return container.env?.find((entry) => entry.name === name)?.value;
}

function certManagerObjects(manifests: RenderedManifests, kind: 'Certificate' | 'Issuer') {
  return manifests.objects.filter(
    (object): object is CertManagerObject =>
      object.kind === kind && object.apiVersion === 'cert-manager.io/v1',
  );
}

describe('the kustomizations in manifests/', () => {
  it('this table names every overlay', () => {
    const overlays = readdirSync(`${REPO}/manifests/overlays`).map((name) => `manifests/overlays/${name}`);
    const listed = INSTALLS.map((install) => install.dir).filter((dir) => dir !== 'manifests');
    expect(listed.sort()).toEqual(overlays.sort());
  });

  it.each(INSTALLS)(
    '$dir: mode $mode, failurePolicy $failurePolicy, certificate from $certificates',
    ({ dir, mode, failurePolicy, certificates }) => {
      const manifests = render(dir);
      const container = webhookContainer(manifests);
      expect(setting(container, 'mode')).toBe(mode);
      const [webhook, ...others] = onlyObject(manifests, 'ValidatingWebhookConfiguration').webhooks ?? [];
      expect(others).toEqual([]);
      expect(webhook?.failurePolicy).toBe(failurePolicy);

      // The serving pair: the Secret the Deployment mounts is the one the certificate source writes.
      const deployment = onlyObject(manifests, 'Deployment');
      const service = onlyObject(manifests, 'Service');
      const tlsVolume = deployment.spec?.template.spec?.volumes?.find((volume) =>
        container.volumeMounts?.some(
          (mount) =>
            mount.name === volume.name && setting(container, 'tls-cert-file')?.startsWith(mount.mountPath),
        ),
      );
      const secretName = tlsVolume?.secret?.secretName;
      const annotation = onlyObject(manifests, 'ValidatingWebhookConfiguration').metadata?.annotations?.[
        'cert-manager.io/inject-ca-from'
      ];
      const certificatesFound = certManagerObjects(manifests, 'Certificate');
      if (certificates === 'webhook-cert') {
        // `kubectl remote-secret webhook-cert` with its defaults fits these manifests as they are.
        expect(certificatesFound).toEqual([]);
        expect(annotation).toBeUndefined();
        expect(secretName).toBe(WEBHOOK_CERTIFICATE_DEFAULTS.secretName);
        expect(deployment.metadata?.namespace).toBe(WEBHOOK_CERTIFICATE_DEFAULTS.namespace);
        expect(service.metadata?.name).toBe(WEBHOOK_CERTIFICATE_DEFAULTS.service);
        expect(onlyObject(manifests, 'ValidatingWebhookConfiguration').metadata?.name).toBe(
          WEBHOOK_CERTIFICATE_DEFAULTS.webhookConfiguration,
        );
        return;
      }
      const serving = certificatesFound.find((certificate) => certificate.spec.secretName === secretName);
      expect(serving, `a Certificate writes ${String(secretName)}`).toBeDefined();
      expect(annotation).toBe(`${String(serving?.metadata?.namespace)}/${String(serving?.metadata?.name)}`);
      const [svcName, clusterLocalName] = serviceDnsNames(
        service.metadata?.name ?? '',
        service.metadata?.namespace ?? '',
      );
      expect(serving?.spec.dnsNames).toEqual(expect.arrayContaining([svcName, clusterLocalName]));
      // Issuer chain: serving certificate <- CA issuer <- CA certificate <- self-signed issuer.
      const issuers = certManagerObjects(manifests, 'Issuer');
      const caIssuer = issuers.find((issuer) => issuer.metadata?.name === serving?.spec.issuerRef?.name);
      const caCertificate = certificatesFound.find(
        (certificate) => certificate.spec.secretName === caIssuer?.spec.ca?.secretName,
      );
      expect(caCertificate?.spec.isCA).toBe(true);
      const root = issuers.find((issuer) => issuer.metadata?.name === caCertificate?.spec.issuerRef?.name);
      expect(root?.spec.selfSigned).toEqual({});
    },
  );

  it('the Deployment: 2 spread replicas, non-root, read-only, no capabilities, probes, resources, a clean shutdown', () => {
    const manifests = render('manifests');
    const deployment = onlyObject(manifests, 'Deployment');
    const pod = deployment.spec?.template.spec;
    const container = webhookContainer(manifests);
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    expect(pod?.topologySpreadConstraints?.map((constraint) => constraint.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    for (const constraint of pod?.topologySpreadConstraints ?? []) {
      expect(podLabels).toMatchObject(constraint.labelSelector?.matchLabels ?? { missing: 'selector' });
    }
    // The image's USER is the pod's user, numeric so that the kubelet can check runAsNonRoot.
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(`${String(pod?.securityContext?.runAsUser)}:${String(pod?.securityContext?.runAsGroup)}`).toBe(
      DOCKERFILE.user,
    );
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // The webhook lists and watches Secrets and writes Events with its token.
    expect(pod?.automountServiceAccountToken).toBe(true);
    expect(container.image).toBe(`ghcr.io/kubectl-remote-secret/remote-secret-webhook:${PACKAGE.version}`);
    expect(DOCKERFILE.labels['org.opencontainers.image.version']).toBe(PACKAGE.version);

    const port = container.ports?.find((entry) => entry.name === 'https');
    expect(String(port?.containerPort)).toBe(DOCKERFILE.exposed[0]);
    expect(setting(container, 'port') ?? '8443').toBe(String(port?.containerPort));
    expect(container.readinessProbe?.httpGet).toEqual({ scheme: 'HTTPS', path: '/readyz', port: 'https' });
    expect(container.livenessProbe?.httpGet).toEqual({ scheme: 'HTTPS', path: '/healthz', port: 'https' });
    expect(container.startupProbe?.httpGet).toEqual({ scheme: 'HTTPS', path: '/healthz', port: 'https' });
    expect(container.resources?.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    expect(container.resources?.limits).toEqual({ memory: expect.any(String) });

    // SIGTERM: serve for the delay, finish in-flight requests by the timeout, flush Events (<= 1 s),
    // all before the kubelet's SIGKILL.
    const delay = Number(setting(container, 'shutdown-delay'));
    const timeout = Number(setting(container, 'shutdown-timeout'));
    expect(delay).toBeGreaterThan(0);
    expect(timeout).toBeGreaterThan(delay);
    expect(pod?.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(timeout + 2);

    const budget = onlyObject(manifests, 'PodDisruptionBudget');
    expect(budget.spec?.minAvailable).toBe(1);
    expect(podLabels).toMatchObject(budget.spec?.selector?.matchLabels ?? { missing: 'selector' });
  });

  it('components/network-policy: the webhook port only from the API server CIDR the operator sets and from Prometheus', () => {
    const manifests = render(NETWORK_POLICY_EXAMPLE);
    const [policy, ...more] = networkPolicies(manifests);
    expect(more).toEqual([]);
    const deployment = onlyObject(manifests, 'Deployment');
    const container = webhookContainer(manifests);
    expect(policy?.metadata?.namespace).toBe(deployment.metadata?.namespace);
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(
      policy?.spec.podSelector.matchLabels ?? { missing: 'selector' },
    );
    expect(policy?.spec.policyTypes).toEqual(['Ingress']);
    const [apiServer, prometheus, ...others] = policy?.spec.ingress ?? [];
    expect(others).toEqual([]);
    // The API server is not a pod: its source addresses, as the operator patched them in.
    expect(apiServer?.from).toEqual([{ ipBlock: { cidr: '198.51.100.0/24' } }]);
    // Prometheus: one peer with both selectors (its pods in its namespace), not two peers (either).
    expect(prometheus?.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      },
    ]);
    // Both to the container's one port, by the name the Service and the probes use.
    for (const rule of [apiServer, prometheus])
      expect(rule?.ports).toEqual([{ port: 'https', protocol: 'TCP' }]);
    expect(container.ports?.map((port) => port.name)).toEqual(['https']);
    // Unpatched, the component admits a documentation range (RFC 5737) that no control plane has.
    const shipped = load(readFileSync(NETWORK_POLICY_COMPONENT, 'utf8')) as NetworkPolicyObject;
    expect(shipped.spec.ingress?.[0]?.from).toEqual([{ ipBlock: { cidr: '192.0.2.0/24' } }]);
    // Opt-in: no shipped install isolates the pods by itself.
    for (const { dir } of INSTALLS) expect(networkPolicies(render(dir)), dir).toEqual([]);
  });

  it('components/client-ca: --client-ca-file is a file of the mounted Secret, and the rest stays as shipped', () => {
    const manifests = render(CLIENT_CA_EXAMPLE);
    const container = webhookContainer(manifests);
    const file = setting(container, 'client-ca-file') ?? '';
    const mount = container.volumeMounts?.find((entry) => file.startsWith(`${entry.mountPath}/`));
    expect(mount).toMatchObject({ readOnly: true });
    const volume = onlyObject(manifests, 'Deployment').spec?.template.spec?.volumes?.find(
      (entry) => entry.name === mount?.name,
    );
    expect(volume?.secret?.secretName).toBe('remote-secret-webhook-client-ca');
    expect(file.slice((mount?.mountPath.length ?? 0) + 1)).toBe('ca.crt');
    // The serving certificate and the mode are those of manifests/ (enforce).
    expect(setting(container, 'tls-cert-file')).toBe('/tls/tls.crt');
    expect(setting(container, 'mode')).toBe('enforce');
    for (const { dir } of INSTALLS)
      expect(setting(webhookContainer(render(dir)), 'client-ca-file'), dir).toBeUndefined();
  });

  it('components/probes: --probe-remotes on, and nothing else changed; off in every shipped install', () => {
    const container = webhookContainer(render(PROBES_EXAMPLE));
    expect(setting(container, 'probe-remotes')).toBe('true');
    expect(setting(container, 'mode')).toBe('enforce');
    const plain = webhookContainer(render('manifests'));
    const withoutProbes = structuredClone(container);
    withoutProbes.env = (withoutProbes.env ?? []).filter(
      (entry) => entry.name !== 'REMOTE_SECRET_WEBHOOK_PROBE_REMOTES',
    );
    expect(withoutProbes).toEqual(plain);
    for (const { dir } of INSTALLS)
      expect(setting(webhookContainer(render(dir)), 'probe-remotes'), dir).toBeUndefined();
  });

  it('components/renewal: --renew-tokens on, get/patch on Secrets behind a ValidatingAdmissionPolicy; off in every shipped install', () => {
    const manifests = render(RENEWAL_EXAMPLE);
    const container = webhookContainer(manifests);
    expect(setting(container, 'renew-tokens')).toBe('true');
    expect(setting(container, 'mode')).toBe('enforce');
    const withoutRenewal = structuredClone(container);
    withoutRenewal.env = (withoutRenewal.env ?? []).filter(
      (entry) => entry.name !== 'REMOTE_SECRET_WEBHOOK_RENEW_TOKENS',
    );
    expect(withoutRenewal).toEqual(webhookContainer(render('manifests')));
    // The component adds one grant on Secrets: get and patch, never create, update, delete; the
    // informer's list and watch are the base's, unchanged.
    const secretRules = (rendered: RenderedManifests) =>
      objectsOf(rendered, 'Role').flatMap((role) =>
        (role.rules ?? [])
          .filter((rule) => rule.resources?.includes('secrets'))
          .map((rule) => ({ namespace: role.metadata?.namespace, verbs: rule.verbs })),
      );
    expect(secretRules(manifests)).toEqual([
      ...secretRules(render('manifests')),
      { namespace: 'istio-system', verbs: ['get', 'patch'] },
    ]);
    expect(names(manifests, 'ValidatingAdmissionPolicy')).toEqual(['remote-secret-webhook-renewal']);
    expect(names(manifests, 'ValidatingAdmissionPolicyBinding')).toEqual(['remote-secret-webhook-renewal']);
    for (const { dir } of INSTALLS) {
      const shipped = render(dir);
      expect(setting(webhookContainer(shipped), 'renew-tokens'), dir).toBeUndefined();
      expect(names(shipped, 'ValidatingAdmissionPolicy'), dir).toEqual([]);
    }
  });

  it("leader election: get/create/update on Leases in the webhook's own namespace only, which the pod is told", () => {
    const manifests = render('manifests');
    const container = webhookContainer(manifests);
    expect(container.env?.find((entry) => entry.name === 'POD_NAMESPACE')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.namespace' },
    });
    const deployment = onlyObject(manifests, 'Deployment');
    const namespace = deployment.metadata?.namespace;
    const leaseRules = objectsOf(manifests, 'Role').flatMap((role) =>
      (role.rules ?? [])
        .filter((rule) => rule.resources?.includes('leases'))
        .map((rule) => ({
          namespace: role.metadata?.namespace,
          apiGroups: rule.apiGroups,
          resources: rule.resources,
          verbs: rule.verbs,
        })),
    );
    expect(leaseRules).toEqual([
      {
        namespace,
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'create', 'update'],
      },
    ]);
    const binding = manifests.objects.find(
      (object) =>
        object.kind === 'RoleBinding' && object.metadata?.name === 'remote-secret-webhook-leader-election',
    );
    expect(binding).toMatchObject({
      metadata: { namespace },
      roleRef: { kind: 'Role', name: 'remote-secret-webhook-leader-election' },
      subjects: [
        { kind: 'ServiceAccount', name: deployment.spec?.template.spec?.serviceAccountName, namespace },
      ],
    });
  });

  it('the ValidatingWebhookConfiguration: labelled Secrets in the Istio namespace only, CREATE/UPDATE, fail closed', () => {
    const manifests = render('manifests');
    const [webhook] = onlyObject(manifests, 'ValidatingWebhookConfiguration').webhooks ?? [];
    const service = onlyObject(manifests, 'Service');
    const container = webhookContainer(manifests);
    expect(webhook).toMatchObject({
      objectSelector: {
        matchExpressions: [{ key: 'istio/multiCluster', operator: 'In', values: ['true'] }],
      },
      namespaceSelector: {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['istio-system'] }],
      },
      rules: [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE', 'UPDATE'],
          resources: ['secrets'],
          scope: 'Namespaced',
        },
      ],
      failurePolicy: 'Fail',
      sideEffects: 'NoneOnDryRun',
      admissionReviewVersions: ['v1'],
      clientConfig: {
        service: {
          name: service.metadata?.name,
          namespace: service.metadata?.namespace,
          path: '/validate',
          port: service.spec?.ports?.[0]?.port,
        },
      },
    });
    // Short, and longer than the webhook's own --request-timeout (3 s by default).
    expect(webhook?.timeoutSeconds).toBeLessThanOrEqual(10);
    expect(webhook?.timeoutSeconds).toBeGreaterThan(Number(setting(container, 'request-timeout') ?? '3'));
    // The namespace it guards is the one it watches and may read.
    expect(container.args).toContain('--namespace=istio-system');
    expect(objectsOf(manifests, 'Role').map((role) => role.metadata?.namespace)).toContain('istio-system');
  });
});

describe.skipIf(binaryPath === null)('manifests/ on a real API server', () => {
  let cluster: TestCluster;
  const run = (args: readonly string[], input?: string): Promise<KubectlResult> =>
    kubectl(cluster.kubeconfigPath, args, input === undefined ? {} : { input });
  const jsonpath = async (args: readonly string[], path: string): Promise<string> => {
    const result = await run([...args, '-o', `jsonpath=${path}`]);
    expect(result.status, result.stderr).toBe(0);
    return result.stdout;
  };
  const applied = async (dir: string): Promise<void> => {
    const result = await run(['apply', '-k', `${REPO}/${dir}`]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
  };
  const webhookSettings = async () => ({
    mode: await jsonpath(
      ['get', 'deployment', 'remote-secret-webhook', '-n', 'remote-secret-webhook'],
      '{.spec.template.spec.containers[0].env[?(@.name=="REMOTE_SECRET_WEBHOOK_MODE")].value}',
    ),
    failurePolicy: await jsonpath(
      ['get', 'validatingwebhookconfiguration', 'remote-secret-webhook'],
      '{.webhooks[0].failurePolicy}',
    ),
    caBundle: await jsonpath(
      ['get', 'validatingwebhookconfiguration', 'remote-secret-webhook'],
      '{.webhooks[0].clientConfig.caBundle}',
    ),
  });
  const uninstall = async (dir: string): Promise<void> => {
    const result = await run(['delete', '-k', `${REPO}/${dir}`]);
    expect(result.status, result.stderr).toBe(0);
    const left = await run(['get', 'validatingwebhookconfiguration,namespace/remote-secret-webhook']);
    expect(left.stdout).not.toContain('remote-secret-webhook');
    const role = await run(['get', 'role,rolebinding', '-n', 'istio-system', '-o', 'name']);
    expect(role.stdout).toBe('');
  };

  beforeAll(async () => {
    cluster = await startCluster('manifests', binaryPath === null ? {} : { binaryPath });
    const namespace = await run(['create', 'namespace', 'istio-system']);
    expect(namespace.status, namespace.stderr).toBe(0);
    // cert-manager itself is not here: its CRDs (the fields we use, typed) are enough for the API
    // server to check the Issuers and Certificates; the tests above check how they fit together.
    const crds = await run(['apply', '-f', CERT_MANAGER_CRDS]);
    expect(crds.status, crds.stderr).toBe(0);
    const established = await run([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/issuers.cert-manager.io',
      'crd/certificates.cert-manager.io',
    ]);
    expect(established.status, established.stderr).toBe(0);
  });

  afterAll(async () => {
    await stopAllClusters();
  });

  it('every kustomization passes kubectl apply --dry-run=server, with no Pod Security warning', async () => {
    // A dry run creates nothing, so the namespace the objects go into must exist, and as shipped
    // (Pod Security `restricted`): then the Deployment is checked against that level as well.
    const namespace = await run(['apply', '-f', `${REPO}/manifests/base/namespace.yaml`]);
    expect(namespace.status, namespace.stderr).toBe(0);
    for (const { dir } of INSTALLS) {
      const result = await run(['apply', '--dry-run=server', '-k', `${REPO}/${dir}`]);
      expect(result.status, `${dir}: ${result.stderr}`).toBe(0);
      expect(result.stderr, dir).toBe('');
      expect(result.stdout).toContain('deployment.apps/remote-secret-webhook created (server dry run)');
      expect(result.stdout).toContain(
        'validatingwebhookconfiguration.admissionregistration.k8s.io/remote-secret-webhook created (server dry run)',
      );
    }
  });

  it('the NetworkPolicy and client CA examples pass kubectl apply --dry-run=server', async () => {
    const namespace = await run(['apply', '-f', `${REPO}/manifests/base/namespace.yaml`]);
    expect(namespace.status, namespace.stderr).toBe(0);
    const result = await run(['apply', '--dry-run=server', '-k', `${REPO}/${NETWORK_POLICY_EXAMPLE}`]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(
      'networkpolicy.networking.k8s.io/remote-secret-webhook created (server dry run)',
    );
    const clientCa = await run(['apply', '--dry-run=server', '-k', `${REPO}/${CLIENT_CA_EXAMPLE}`]);
    expect(clientCa.status, clientCa.stderr).toBe(0);
    expect(clientCa.stderr).toBe('');
    expect(clientCa.stdout).toContain('deployment.apps/remote-secret-webhook created (server dry run)');
  });

  it('rollout with `kubectl remote-secret webhook-cert`: audit, warn, enforce keep the caBundle; delete -k removes it all', async () => {
    await applied('manifests/overlays/audit');
    const written = await plugin(['webhook-cert', '--kubeconfig', cluster.kubeconfigPath]);
    expect(written.status, written.stderr).toBe(0);
    const audit = await webhookSettings();
    expect(audit).toMatchObject({ mode: 'audit', failurePolicy: 'Ignore' });
    expect(audit.caBundle).not.toBe('');
    await applied('manifests/overlays/warn');
    expect(await webhookSettings()).toEqual({ ...audit, mode: 'warn', failurePolicy: 'Fail' });
    await applied('manifests');
    expect(await webhookSettings()).toEqual({ ...audit, mode: 'enforce', failurePolicy: 'Fail' });
    await uninstall('manifests');
  });

  it('rollout with cert-manager: audit, warn, enforce keep the cainjector annotation; delete -k removes it all', async () => {
    const annotation = () =>
      jsonpath(
        ['get', 'validatingwebhookconfiguration', 'remote-secret-webhook'],
        "{.metadata.annotations['cert-manager\\.io/inject-ca-from']}",
      );
    for (const [dir, mode, failurePolicy] of [
      ['manifests/overlays/cert-manager-audit', 'audit', 'Ignore'],
      ['manifests/overlays/cert-manager-warn', 'warn', 'Fail'],
      ['manifests/overlays/cert-manager', 'enforce', 'Fail'],
    ] as const) {
      await applied(dir);
      expect(await webhookSettings()).toEqual({ mode, failurePolicy, caBundle: '' });
      expect(await annotation()).toBe('remote-secret-webhook/remote-secret-webhook');
    }
    const certificates = await run(['get', 'certificates', '-n', 'remote-secret-webhook', '-o', 'name']);
    expect(certificates.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'certificate.cert-manager.io/remote-secret-webhook',
      'certificate.cert-manager.io/remote-secret-webhook-ca',
    ]);
    await uninstall('manifests/overlays/cert-manager');
  });
});

/** `kubectl remote-secret ...`, the plugin from this checkout on PATH (`npm run build` first). */
function plugin(args: readonly string[]): Promise<KubectlResult> {
  return runProcess('kubectl', ['remote-secret', ...args], {
    env: { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}`, KUBECONFIG: '' },
  });
}
