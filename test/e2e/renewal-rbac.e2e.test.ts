import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigText } from '../../shared/audit/testdata/kubeconfigs.ts';
import { RENEW_SERVICE_ACCOUNT_ANNOTATION } from '../../shared/remote-secret/renewal.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl, type KubectlResult } from '../harness/kubectl.ts';
import { renderManifests } from '../harness/manifests.ts';
import { eventually } from '../harness/webhook.ts';

/**
 * Least privilege of the token renewer in the primary (issue 18), on a real kube-apiserver: the
 * RBAC and the ValidatingAdmissionPolicy of manifests/components/renewal (the chart renders the
 * same objects, test/e2e/helm.e2e.test.ts) are applied, and the webhook's ServiceAccount, by
 * impersonation, may patch the kubeconfigs of a remote secret as the renewer does, and nothing
 * else: not another Secret in istio-system, not the remote secret's label, annotations or keys,
 * no create or delete, nothing in another namespace.
 */
const binaryPath = inject('kubeTestenvBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RENEWAL_EXAMPLE = 'test/testdata/kustomize/renewal';
const NAMESPACE = 'istio-system';
const OTHER_NAMESPACE = 'istio-config';
const WEBHOOK_NAMESPACE = 'remote-secret-webhook';
const WEBHOOK_SA = `system:serviceaccount:${WEBHOOK_NAMESPACE}:remote-secret-webhook`;
const REMOTE_SECRET = 'istio-remote-secret-east';
const CA_SECRET = 'istio-ca-secret';
/** Install objects the API server needs for this test; the webhook itself does not run here. */
const APPLIED_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

/** The start of each denial, as the API server words it (the policy's messages). */
const POLICY =
  'ValidatingAdmissionPolicy .remote-secret-webhook-renewal. with binding .remote-secret-webhook-renewal. denied request';
const NOT_A_REMOTE_SECRET = /may only update remote secrets, Secrets labelled istio\/multiCluster: "true"/;
const LABEL_REMOVED = /may not remove the istio\/multiCluster: "true" label from a remote secret/;
const METADATA_CHANGED = /may change only the data of a remote secret, not its labels or annotations/;
const OWNERSHIP_CHANGED =
  /may change only the data of a remote secret, not its ownerReferences, finalizers or immutable/;
const KEYS_CHANGED = /may replace the kubeconfigs of a remote secret, not add or remove one/;
const NO_CREATE_OR_DELETE =
  /may only update remote secrets \(its token renewer\), never create or delete a Secret/;

const b64 = (text: string): string => Buffer.from(text).toString('base64');
/** A kubeconfig for the remote (an unsigned JWT; nothing here dials it). */
const kubeconfigFor = (subject: string): string => {
  // Built as a record: as an object literal, `sub` is read against the union's `string` member.
  const claims: Record<string, unknown> = { exp: 4_102_444_800 };
  claims['sub'] = `system:serviceaccount:istio-system:${subject}`;
  return kubeconfigText({ token: claims });
};

function secret(
  name: string,
  namespace: string,
  options: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    data: Record<string, string>;
  },
): string {
  return dump({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: options.labels ?? {}, annotations: options.annotations ?? {} },
    data: Object.fromEntries(Object.entries(options.data).map(([key, value]) => [key, b64(value)])),
  });
}

interface SecretJson {
  metadata: { resourceVersion: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

describe.skipIf(binaryPath === null)(
  "the token renewer's privileges in the primary, on a real API server",
  () => {
    let cluster: TestCluster;
    const asAdmin = (args: readonly string[], input?: string): Promise<KubectlResult> =>
      kubectl(cluster.kubeconfigPath, args, input === undefined ? {} : { input });
    /** kubectl as the webhook's pods are: its ServiceAccount, with the groups a token carries. */
    const asWebhook = (args: readonly string[]): Promise<KubectlResult> =>
      kubectl(cluster.kubeconfigPath, [
        `--as=${WEBHOOK_SA}`,
        '--as-group=system:serviceaccounts',
        `--as-group=system:serviceaccounts:${WEBHOOK_NAMESPACE}`,
        ...args,
      ]);
    const stored = async (name: string, namespace = NAMESPACE): Promise<SecretJson> => {
      const got = await asAdmin(['get', 'secret', name, '-n', namespace, '-o', 'json']);
      expect(got.status, got.stderr).toBe(0);
      return JSON.parse(got.stdout) as SecretJson;
    };
    const mergePatch = (name: string, patch: unknown, namespace = NAMESPACE, ...more: string[]) =>
      asWebhook([
        'patch',
        'secret',
        name,
        '-n',
        namespace,
        '--type=merge',
        '-p',
        JSON.stringify(patch),
        ...more,
      ]);
    /** Refused by the policy with this message; the secret as it was. */
    const deniedByPolicy = async (
      result: KubectlResult,
      message: RegExp,
      name: string,
      before: SecretJson,
    ) => {
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(new RegExp(POLICY));
      expect(result.stderr).toMatch(message);
      expect(await stored(name)).toEqual(before);
    };

    beforeAll(async () => {
      cluster = await startCluster('renewal-rbac', binaryPath === null ? {} : { binaryPath });
      const rendered = renderManifests(`${REPO}/${RENEWAL_EXAMPLE}`);
      const objects = rendered.objects.filter((object) => APPLIED_KINDS.has(object.kind ?? ''));
      expect(objects.map((object) => object.kind)).toContain('ValidatingAdmissionPolicyBinding');
      for (const namespace of [NAMESPACE, OTHER_NAMESPACE]) {
        const created = await asAdmin(['create', 'namespace', namespace]);
        expect(created.status, created.stderr).toBe(0);
      }
      const applied = await asAdmin(
        ['apply', '-f', '-'],
        objects.map((object) => dump(object)).join('---\n'),
      );
      expect(applied.status, applied.stderr).toBe(0);

      const secrets = [
        secret(REMOTE_SECRET, NAMESPACE, {
          labels: { 'istio/multiCluster': 'true' },
          annotations: { [RENEW_SERVICE_ACCOUNT_ANNOTATION]: 'istio-reader-service-account' },
          data: { east: kubeconfigFor('first') },
        }),
        // Like istiod's own CA: the Secret a renewer with patch on every Secret could rewrite.
        secret(CA_SECRET, NAMESPACE, {
          data: { 'ca-cert.pem': 'not a certificate', 'ca-key.pem': 'not a key' },
        }),
        secret(REMOTE_SECRET, OTHER_NAMESPACE, {
          labels: { 'istio/multiCluster': 'true' },
          data: { east: kubeconfigFor('first') },
        }),
      ];
      const created = await asAdmin(['apply', '-f', '-'], secrets.join('---\n'));
      expect(created.status, created.stderr).toBe(0);

      // A new policy takes a moment to be in effect: a server-side dry run goes through admission
      // and changes nothing, so ask until it is refused.
      await eventually(async () => {
        const probe = await mergePatch(
          CA_SECRET,
          { data: { probe: b64('x') } },
          NAMESPACE,
          '--dry-run=server',
        );
        return probe.status !== 0 && NOT_A_REMOTE_SECRET.test(probe.stderr);
      }, 60_000);
    });

    afterAll(async () => {
      await stopAllClusters();
    });

    it("patches a remote secret's kubeconfig as the renewer does: a merge patch of data on its resourceVersion", async () => {
      const before = await stored(REMOTE_SECRET);
      const renewed = b64(kubeconfigFor('second'));
      const patched = await mergePatch(REMOTE_SECRET, {
        metadata: { resourceVersion: before.metadata.resourceVersion },
        data: { east: renewed },
      });
      expect(patched.status, patched.stderr).toBe(0);
      const after = await stored(REMOTE_SECRET);
      expect(after.data).toEqual({ east: renewed });
      expect(after.metadata.labels).toEqual(before.metadata.labels);

      // A stale resourceVersion is a conflict, and the renewer may reread the secret.
      const stale = await mergePatch(REMOTE_SECRET, {
        metadata: { resourceVersion: before.metadata.resourceVersion },
        data: { east: b64(kubeconfigFor('third')) },
      });
      expect(stale.status).not.toBe(0);
      expect(stale.stderr).toContain('the object has been modified');
      const reread = await asWebhook(['get', 'secret', REMOTE_SECRET, '-n', NAMESPACE, '-o', 'name']);
      expect(reread.status, reread.stderr).toBe(0);
      expect(await stored(REMOTE_SECRET)).toEqual(after);
    });

    it.each([
      { what: 'its data', patch: { data: { 'ca-key.pem': b64('an attacker key') } } },
      {
        what: 'the remote-secret label added',
        patch: { metadata: { labels: { 'istio/multiCluster': 'true' } } },
      },
    ])('refuses another Secret in istio-system: $what', async ({ patch }) => {
      const before = await stored(CA_SECRET);
      await deniedByPolicy(await mergePatch(CA_SECRET, patch), NOT_A_REMOTE_SECRET, CA_SECRET, before);
    });

    it.each([
      {
        what: 'the label removed',
        patch: { metadata: { labels: { 'istio/multiCluster': null } } },
        says: LABEL_REMOVED,
      },
      {
        what: 'the label set to false',
        patch: { metadata: { labels: { 'istio/multiCluster': 'false' } } },
        says: LABEL_REMOVED,
      },
      { what: 'a label added', patch: { metadata: { labels: { team: 'mesh' } } }, says: METADATA_CHANGED },
      {
        what: 'its renewal annotation changed',
        patch: { metadata: { annotations: { [RENEW_SERVICE_ACCOUNT_ANNOTATION]: 'istiod' } } },
        says: METADATA_CHANGED,
      },
      {
        what: 'an ownerReference added (the garbage collector would delete it)',
        patch: {
          metadata: {
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                name: 'gone',
                uid: '00000000-0000-0000-0000-000000000001',
              },
            ],
          },
        },
        says: OWNERSHIP_CHANGED,
      },
      {
        what: 'a finalizer added',
        patch: { metadata: { finalizers: ['example.com/hold'] } },
        says: OWNERSHIP_CHANGED,
      },
      { what: 'made immutable', patch: { immutable: true }, says: OWNERSHIP_CHANGED },
      { what: 'a cluster added', patch: { data: { west: b64(kubeconfigFor('west')) } }, says: KEYS_CHANGED },
      { what: 'a cluster removed', patch: { data: { east: null } }, says: KEYS_CHANGED },
    ])('refuses any other change to the remote secret: $what', async ({ patch, says }) => {
      const before = await stored(REMOTE_SECRET);
      await deniedByPolicy(await mergePatch(REMOTE_SECRET, patch), says, REMOTE_SECRET, before);
    });

    it('may neither create nor delete a Secret (RBAC), nor touch one in another namespace', async () => {
      const created = await asWebhook([
        'create',
        'secret',
        'generic',
        'planted',
        '-n',
        NAMESPACE,
        '--from-literal=a=b',
      ]);
      expect(created.status).not.toBe(0);
      expect(created.stderr).toContain(
        `cannot create resource "secrets" in API group "" in the namespace "${NAMESPACE}"`,
      );
      const deleted = await asWebhook(['delete', 'secret', CA_SECRET, '-n', NAMESPACE]);
      expect(deleted.status).not.toBe(0);
      expect(deleted.stderr).toContain(
        `cannot delete resource "secrets" in API group "" in the namespace "${NAMESPACE}"`,
      );
      await stored(CA_SECRET);

      // kubectl patch reads the object first: elsewhere even that is refused.
      const before = await stored(REMOTE_SECRET, OTHER_NAMESPACE);
      const elsewhere = await mergePatch(
        REMOTE_SECRET,
        { data: { east: b64(kubeconfigFor('second')) } },
        OTHER_NAMESPACE,
      );
      expect(elsewhere.status).not.toBe(0);
      expect(elsewhere.stderr).toMatch(
        new RegExp(
          `cannot (get|patch) resource "secrets" in API group "" in the namespace "${OTHER_NAMESPACE}"`,
        ),
      );
      // The authorizer's own answers, verb by verb.
      const canI = async (verb: string, namespace: string) =>
        (await asWebhook(['auth', 'can-i', verb, 'secrets', '-n', namespace])).stdout.trim();
      expect(await canI('patch', NAMESPACE)).toBe('yes');
      expect(await canI('get', NAMESPACE)).toBe('yes');
      for (const verb of ['create', 'update', 'delete']) expect(await canI(verb, NAMESPACE), verb).toBe('no');
      for (const verb of ['get', 'patch']) expect(await canI(verb, OTHER_NAMESPACE), verb).toBe('no');
      expect(await stored(REMOTE_SECRET, OTHER_NAMESPACE)).toEqual(before);
    });

    it('refuses create and delete by policy too, should another binding grant them', async () => {
      const grant = dump({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'too-generous' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ kind: 'ServiceAccount', name: 'remote-secret-webhook', namespace: WEBHOOK_NAMESPACE }],
      });
      const granted = await asAdmin(['apply', '-f', '-'], grant);
      expect(granted.status, granted.stderr).toBe(0);
      try {
        const created = await asWebhook([
          'create',
          'secret',
          'generic',
          'planted',
          '-n',
          NAMESPACE,
          '--from-literal=a=b',
        ]);
        expect(created.status).not.toBe(0);
        expect(created.stderr).toMatch(NO_CREATE_OR_DELETE);
        const deleted = await asWebhook(['delete', 'secret', CA_SECRET, '-n', NAMESPACE]);
        expect(deleted.status).not.toBe(0);
        expect(deleted.stderr).toMatch(NO_CREATE_OR_DELETE);
        await stored(CA_SECRET);
      } finally {
        await asAdmin(['delete', 'clusterrolebinding', 'too-generous']);
      }
    });

    it('judges only the webhook: another identity changes the same Secret as its own RBAC allows', async () => {
      const patched = await asAdmin([
        ...['patch', 'secret', CA_SECRET, '-n', NAMESPACE, '--type=merge'],
        ...['-p', JSON.stringify({ metadata: { labels: { rotated: 'yes' } } })],
      ]);
      expect(patched.status, patched.stderr).toBe(0);
      expect((await stored(CA_SECRET)).metadata.labels).toEqual({ rotated: 'yes' });
    });
  },
);
