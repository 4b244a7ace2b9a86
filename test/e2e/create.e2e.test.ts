import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { load, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GOLDEN_PLACEHOLDERS } from '../../cmd/testdata/placeholders.ts';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { closedPort } from '../harness/ports.ts';
import { pauseComponent } from '../harness/pause.ts';
import {
  eventually,
  startWebhookProcess,
  registerShippedWebhook,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * `create` and `verify` on two real control planes: `create` reads the *remote* and its output
 * goes to the *primary*, where the remote-secret webhook runs in enforce mode, so "accepted"
 * below means the webhook judged the secret and let it in.
 */
const binaryPath = inject('kubeTestenvBinary');
const GOLDEN = fileURLToPath(new URL('../../cmd/testdata/golden/create-remote.yaml', import.meta.url));
const NAMESPACE = 'istio-system';
const READER = 'istio-reader-service-account';

const plugin = runPluginAsync;

interface SecretOut {
  readonly metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  readonly stringData: Record<string, string>;
}

/** The remote secret `create` printed, and its one kubeconfig. */
function parseSecret(yaml: string): { secret: SecretOut; key: string; kubeconfig: string; token: string } {
  // istioctl's format ends with `---`, which starts an empty second document.
  const secret = loadAll(yaml)[0] as SecretOut;
  const [key, kubeconfig] = Object.entries(secret.stringData)[0] ?? ['', ''];
  const config = load(kubeconfig) as { users: { user: { token?: string } }[] };
  return { secret, key, kubeconfig, token: config.users[0]?.user.token ?? '' };
}

/** The one user entry of a kubeconfig: it must hold a token and nothing that runs or reads. */
function userOf(kubeconfig: string): unknown {
  return (load(kubeconfig) as { users: { user: unknown }[] }).users[0]?.user;
}

describe.skipIf(binaryPath === null)('create and verify on a real primary and remote', () => {
  let primary: TestCluster;
  let remote: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;
  let dir: string | undefined;
  /** The first secret, for cluster ID "east". */
  let east: ReturnType<typeof parseSecret>;
  let eastYaml: string;

  const onRemote = (...args: string[]) => kubectl(remote.kubeconfigPath, args);
  const onPrimary = (args: string[], input?: string) =>
    kubectl(primary.kubeconfigPath, args, input === undefined ? {} : { input });
  const create = (...args: string[]) => plugin(['create', '--kubeconfig', remote.kubeconfigPath, ...args]);
  const withKubeconfig = (name: string, text: string) => {
    const file = join(dir ?? tmpdir(), name);
    writeFileSync(file, text);
    return file;
  };
  /** A kubeconfig for a new ServiceAccount of the remote, bound to what `grant` runs (kubectl args). */
  async function remoteUser(name: string, namespace: string, ...grants: string[][]): Promise<string> {
    for (const args of [['create', 'serviceaccount', name, '-n', namespace], ...grants]) {
      const done = await onRemote(...args);
      expect(done.status, done.stderr).toBe(0);
    }
    const token = (await onRemote('create', 'token', name, '-n', namespace)).stdout.trim();
    return withKubeconfig(
      `${name}.kubeconfig`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'remote', cluster: { server: remote.server, 'certificate-authority': remote.caFile } },
        ],
        users: [{ name, user: { token } }],
        contexts: [{ name, context: { cluster: 'remote', user: name } }],
        'current-context': name,
      }),
    );
  }

  async function startWebhook(fixture: TlsFixture): Promise<WebhookProcess> {
    const child = await startWebhookProcess({
      tls: fixture,
      kubeconfigPath: primary.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
    });
    await registerShippedWebhook(primary.kubeconfigPath, child, fixture, NAMESPACE);
    return child;
  }

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    dir = mkdtempSync(join(tmpdir(), 'create-e2e-'));
    tls = writeTlsFixture();
    const options = binaryPath === null ? {} : { binaryPath };
    [primary, remote] = await Promise.all([
      startCluster('primary', options),
      startCluster('remote', options),
    ]);
    const namespace = await onPrimary(['create', 'namespace', NAMESPACE]);
    expect(namespace.status, namespace.stderr).toBe(0);
    webhook = await startWebhook(tls);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    await stopAllClusters();
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the reader account, RBAC and token on the remote; kubectl apply to the primary is accepted by the webhook', async () => {
    const run = await create('--name', 'east');
    expect(run.status, run.stderr).toBe(0);
    // The only thing on stderr is the warning that 127.0.0.1 (the test clusters) is loopback.
    expect(run.stderr).toContain('loopback address');
    // Progress goes to a terminal only; here stderr is a pipe.
    expect(run.stderr).not.toContain('Reading the remote cluster');
    eastYaml = run.stdout;
    east = parseSecret(run.stdout);
    expect(east.secret.metadata.name).toBe('istio-remote-secret-east');
    expect(userOf(east.kubeconfig)).toEqual({ token: east.token });

    for (const object of [
      ['serviceaccount', READER, '-n', NAMESPACE],
      ['clusterrole', 'istio-reader-clusterrole-istio-system'],
      ['clusterrolebinding', 'istio-reader-clusterrole-istio-system'],
      ['secret', `${READER}-istio-remote-secret-token`, '-n', NAMESPACE],
    ]) {
      const found = await onRemote('get', ...object);
      expect(found.status, found.stderr).toBe(0);
    }

    const applied = await onPrimary(['apply', '-f', '-'], run.stdout);
    expect(applied.stderr).toBe('');
    expect(applied.stdout.trim()).toBe('secret/istio-remote-secret-east created');
  });

  it('prints exactly the golden format, token and CA aside', () => {
    const ca = /certificate-authority-data: (\S+)/.exec(eastYaml)?.[1] ?? '';
    const normalized = eastYaml
      .replace(remote.server, GOLDEN_PLACEHOLDERS.server)
      .replace(ca, GOLDEN_PLACEHOLDERS.caData)
      .replace(east.token, GOLDEN_PLACEHOLDERS.token);
    expect(normalized).toBe(readFileSync(GOLDEN, 'utf8'));
    expect(Buffer.from(ca, 'base64').toString('utf8')).toBe(readFileSync(remote.caFile, 'utf8'));
  });

  it("the secret's kubeconfig lists pods on the remote and is refused a write", async () => {
    const file = withKubeconfig('east.kubeconfig', east.kubeconfig);
    const read = await kubectl(file, ['get', 'pods', '--all-namespaces']);
    expect(read.status, read.stderr).toBe(0);
    const write = await kubectl(file, ['create', 'configmap', 'probe', '-n', 'default']);
    expect(write.status).not.toBe(0);
    expect(write.stderr).toContain('forbidden');
    expect(write.stderr).toContain(`system:serviceaccount:${NAMESPACE}:${READER}`);
  });

  it('verify on the primary reports every check OK', async () => {
    const table = await plugin(['verify', '--kubeconfig', primary.kubeconfigPath]);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^CLUSTER\s+SECRET\s+REACHABLE\s+AUTH\s+RBAC\s+EXPIRES\s+STATUS\n/);
    expect(table.stdout).toMatch(
      /east\s+istio-system\/istio-remote-secret-east\s+yes \(v1\.\d+\.\d+\)\s+yes\s+ok\s+never\s+OK/,
    );

    const json = await plugin(['verify', '--kubeconfig', primary.kubeconfigPath, '-o', 'json']);
    expect(json.status).toBe(0);
    const document = JSON.parse(json.stdout) as {
      clusters: {
        cluster: string;
        status: string;
        checks: Record<string, { status: string; user?: string }>;
      }[];
    };
    expect(document.clusters.map((entry) => [entry.cluster, entry.status])).toEqual([['east', 'ok']]);
    const checks = document.clusters[0]?.checks ?? {};
    expect(Object.values(checks).map((check) => check.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(checks['auth']?.user).toBe(`system:serviceaccount:${NAMESPACE}:${READER}`);
  });

  it('is idempotent: a second run changes nothing on the remote and prints the same secret', async () => {
    const objects = () =>
      onRemote(
        'get',
        `serviceaccount/${READER}`,
        'clusterrole/istio-reader-clusterrole-istio-system',
        'clusterrolebinding/istio-reader-clusterrole-istio-system',
        '-n',
        NAMESPACE,
        '-o',
        'jsonpath={range .items[*]}{.kind}/{.metadata.name}@{.metadata.resourceVersion} {end}',
      );
    const tokenSecrets = () =>
      onRemote(
        'get',
        'secrets',
        '-n',
        NAMESPACE,
        '--field-selector',
        'type=kubernetes.io/service-account-token',
        '-o',
        'name',
      );
    const before = await objects();
    const secretsBefore = await tokenSecrets();
    const again = await create('--name', 'east');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe(eastYaml);
    expect((await objects()).stdout).toBe(before.stdout);
    expect((await tokenSecrets()).stdout).toBe(secretsBefore.stdout);
  });

  it('defaults --name to the UID of the remote kube-system namespace', async () => {
    const uid = (await onRemote('get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}')).stdout;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    const run = await create();
    expect(run.status, run.stderr).toBe(0);
    const { secret, key } = parseSecret(run.stdout);
    expect(key).toBe(uid);
    expect(secret.metadata.name).toBe(`istio-remote-secret-${uid}`);
    expect(secret.metadata.annotations['networking.istio.io/cluster']).toBe(uid);
  });

  it('--token-duration mints a TokenRequest token whose exp is right, and says when it expires', async () => {
    const started = Date.now() / 1000;
    const run = await create('--name', 'east', '--token-duration', '2h');
    expect(run.status, run.stderr).toBe(0);
    const { token, kubeconfig } = parseSecret(run.stdout);
    const claims = decodeJwt(token);
    expect(claims.exp).toBeGreaterThanOrEqual(Math.floor(started) + 7200 - 5);
    expect(claims.exp).toBeLessThanOrEqual(Date.now() / 1000 + 7200 + 5);
    expect(claims.sub).toBe(`system:serviceaccount:${NAMESPACE}:${READER}`);
    expect(run.stderr).toContain(
      `the token expires at ${new Date((claims.exp ?? 0) * 1000).toISOString()} (in 2h)`,
    );
    const works = await kubectl(withKubeconfig('bounded.kubeconfig', kubeconfig), ['get', 'pods', '-A']);
    expect(works.status, works.stderr).toBe(0);
    const verified = await plugin(['verify', '-f', '-', '-o', 'json'], run.stdout);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`"expires": "${new Date((claims.exp ?? 0) * 1000).toISOString()}"`);
  });

  it('--token-duration --renew adds a Role that lets the token request only its own ServiceAccount tokens, and marks the secret renewable', async () => {
    const renewer = `${READER}-token-renewer`;
    // A dry run shows the two objects and creates neither.
    const dry = await create('--name', 'east', '--token-duration', '1h', '--renew', '--dry-run');
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`# would create Role ${NAMESPACE}/${renewer}\n`);
    expect(dry.stdout).toContain(`# would create RoleBinding ${NAMESPACE}/${renewer}\n`);
    expect((await onRemote('get', 'role', renewer, '-n', NAMESPACE)).stderr).toContain('NotFound');

    const run = await create('--name', 'east', '--token-duration', '1h', '--renew');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain(
      "the webhook's renewer (--renew-tokens) or kubectl remote-secret renew renews it before then",
    );
    const role = JSON.parse(
      (await onRemote('get', 'role', renewer, '-n', NAMESPACE, '-o', 'json')).stdout,
    ) as {
      rules: unknown[];
    };
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [READER] },
    ]);
    const binding = JSON.parse(
      (await onRemote('get', 'rolebinding', renewer, '-n', NAMESPACE, '-o', 'json')).stdout,
    ) as { roleRef: unknown; subjects: unknown[] };
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: renewer });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: READER, namespace: NAMESPACE }]);

    const { secret, kubeconfig } = parseSecret(run.stdout);
    expect(secret.metadata.annotations).toEqual({
      'networking.istio.io/cluster': 'east',
      'kubectl-remote-secret/renew-service-account': READER,
      'kubectl-remote-secret/renew-namespace': NAMESPACE,
      'kubectl-remote-secret/token-duration': '1h',
      'kubectl-remote-secret/renew-after': '0.67',
    });
    // The webhook judges the annotated secret as any other (a server-side dry run goes through it).
    const judged = await onPrimary(['apply', '--dry-run=server', '-f', '-'], run.stdout);
    expect(judged.status, judged.stderr).toBe(0);

    // Least privilege, on the real API server: the secret's own token renews itself, and only itself.
    const file = withKubeconfig('renewable.kubeconfig', kubeconfig);
    const own = await kubectl(file, ['create', 'token', READER, '-n', NAMESPACE, '--duration', '1h']);
    expect(own.status, own.stderr).toBe(0);
    expect(decodeJwt(own.stdout.trim()).sub).toBe(`system:serviceaccount:${NAMESPACE}:${READER}`);
    const other = await onRemote('create', 'serviceaccount', 'other', '-n', NAMESPACE);
    expect(other.status, other.stderr).toBe(0);
    const refused = await kubectl(file, ['create', 'token', 'other', '-n', NAMESPACE]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/forbidden.*cannot create resource "serviceaccounts\/token"/);
    // Checked before anything is created: a context without them is told it lacks the renewer's too.
    const limited = await remoteUser('renew-limited', 'default');
    const forbidden = await plugin([
      'create',
      '--kubeconfig',
      limited,
      '--name',
      'east',
      '-n',
      'mesh-renew',
      '--token-duration',
      '1h',
      '--renew',
    ]);
    expect(forbidden.status).toBe(1);
    const listed = forbidden.stderr
      .split('\n')
      .filter((line) => line.startsWith('  - '))
      .map((line) => line.split(':')[0]?.slice(4));
    expect(listed).toEqual(
      expect.arrayContaining([
        `get roles.rbac.authorization.k8s.io ${renewer} in namespace mesh-renew`,
        `get rolebindings.rbac.authorization.k8s.io ${renewer} in namespace mesh-renew`,
        'create roles.rbac.authorization.k8s.io in namespace mesh-renew',
        'create rolebindings.rbac.authorization.k8s.io in namespace mesh-renew',
      ]),
    );
    expect(forbidden.stderr).not.toContain('--create-service-account=false');
    expect((await onRemote('get', 'namespace', 'mesh-renew')).status).not.toBe(0);

    // Idempotent: a second run reuses both objects as they are.
    const versions = () =>
      onRemote(
        'get',
        `role/${renewer}`,
        `rolebinding/${renewer}`,
        '-n',
        NAMESPACE,
        '-o',
        'jsonpath={range .items[*]}{.kind}/{.metadata.name}@{.metadata.resourceVersion} {end}',
      );
    const before = (await versions()).stdout;
    expect(before).toMatch(/^Role\/\S+@\d+ RoleBinding\/\S+@\d+ $/);
    const again = await create('--name', 'east', '--token-duration', '1h', '--renew');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('warning: Role');
    expect((await versions()).stdout).toBe(before);
  });

  it('--rotate gives a new working token while the old one works until --retire-old', async () => {
    const oldFile = withKubeconfig('old.kubeconfig', east.kubeconfig);
    const rotated = await create('--name', 'east', '--rotate');
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stderr).toContain(
      'the old token keeps working until you run create again with --retire-old',
    );
    const fresh = parseSecret(rotated.stdout);
    expect(fresh.token).not.toBe(east.token);
    const newFile = withKubeconfig('new.kubeconfig', fresh.kubeconfig);
    expect((await kubectl(newFile, ['get', 'pods', '-A'])).status).toBe(0);
    expect((await kubectl(oldFile, ['get', 'pods', '-A'])).status).toBe(0);

    // Apply the rotated secret (the webhook accepts the update), then retire the old token.
    const applied = await onPrimary(['apply', '-f', '-'], rotated.stdout);
    expect(applied.status, applied.stderr).toBe(0);
    const retired = await create('--name', 'east', '--retire-old');
    expect(retired.status, retired.stderr).toBe(0);
    expect(retired.stderr).toContain(`retired 1 old token Secret(s) of ${NAMESPACE}/${READER}`);
    expect(parseSecret(retired.stdout).token).toBe(fresh.token);
    expect((await kubectl(newFile, ['get', 'pods', '-A'])).status).toBe(0);
    // The API server caches a successful token authentication for 10s.
    await eventually(async () => {
      const dead = await kubectl(oldFile, ['get', 'pods', '-A']);
      return dead.status !== 0 && /Unauthorized|must be logged in/.test(dead.stderr);
    }, 20_000);
    east = fresh;
  });

  it('--dry-run prints every object it would create and changes nothing', async () => {
    const dry = await create('--name', 'dry', '-n', 'dry-run-ns2', '--dry-run');
    expect(dry.status, dry.stderr).toBe(0);
    for (const text of [
      '# would create Namespace dry-run-ns2',
      `# would create ServiceAccount dry-run-ns2/${READER}`,
      '# would create ClusterRole istio-reader-clusterrole-dry-run-ns2',
      '# would create ClusterRoleBinding istio-reader-clusterrole-dry-run-ns2',
      `# would create Secret dry-run-ns2/${READER}-istio-remote-secret-token`,
      '# For the primary cluster, not to be applied',
      '#           token: DRY-RUN-PLACEHOLDER-TOKEN',
    ]) {
      expect(dry.stdout).toContain(text);
    }
    // kubectl apply of the output creates the remote's objects only: the secret is commented out.
    expect(dry.stdout).not.toMatch(/^ {2}name: istio-remote-secret-dry$/m);
    expect((await onRemote('get', 'namespace', 'dry-run-ns2')).stderr).toContain('NotFound');
    expect((await onRemote('get', 'clusterrole', 'istio-reader-clusterrole-dry-run-ns2')).stderr).toContain(
      'NotFound',
    );
  });

  it('works with an operator kubeconfig that logs in through an exec plugin, and never copies it', async () => {
    // An admin token, handed out by a small exec credential plugin as EKS or GKE logins do.
    for (const args of [
      ['create', 'serviceaccount', 'e2e-admin', '-n', 'kube-system'],
      [
        'create',
        'clusterrolebinding',
        'e2e-admin',
        '--clusterrole',
        'cluster-admin',
        '--serviceaccount',
        'kube-system:e2e-admin',
      ],
    ]) {
      expect((await onRemote(...args)).status).toBe(0);
    }
    const adminToken = (
      await onRemote('create', 'token', 'e2e-admin', '-n', 'kube-system', '--duration', '1h')
    ).stdout.trim();
    const marker = withKubeconfig('exec-ran', '');
    rmSync(marker);
    const script = withKubeconfig('credential-plugin.sh', '');
    writeFileSync(
      script,
      `#!/bin/sh\necho ran >> '${marker}'\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${adminToken}"}}'\n`,
    );
    chmodSync(script, 0o755);
    const operator = withKubeconfig(
      'exec-operator.kubeconfig',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'remote', cluster: { server: remote.server, 'certificate-authority': remote.caFile } },
        ],
        users: [
          {
            name: 'sso',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: script,
                interactiveMode: 'Never',
              },
            },
          },
        ],
        // A context namespace, which istioctl would have used for the secret (istio/istio#49780).
        contexts: [{ name: 'remote-sso', context: { cluster: 'remote', user: 'sso', namespace: 'default' } }],
        'current-context': 'remote-sso',
      }),
    );
    const run = await plugin(['create', '--kubeconfig', operator, '--name', 'east']);
    expect(run.status, run.stderr).toBe(0);
    // Once per command: the reads create makes in parallel share one login (they started five).
    expect(readFileSync(marker, 'utf8')).toBe('ran\n');
    const { kubeconfig, token, secret } = parseSecret(run.stdout);
    expect(userOf(kubeconfig)).toEqual({ token });
    expect(secret.metadata.namespace).toBe(NAMESPACE);
    expect(run.stdout).not.toContain(script);
    expect(run.stdout).not.toContain(adminToken);
    expect(parseSecret(run.stdout).token).toBe(east.token);
  });

  it('--apply server-side applies into the primary, where the webhook checks it', async () => {
    const run = await create('--name', 'applied', '--apply', '--primary-kubeconfig', primary.kubeconfigPath);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('secret/istio-remote-secret-applied serverside-applied\n');
    const stored = await onPrimary([
      'get',
      'secret',
      'istio-remote-secret-applied',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.metadata.managedFields[0].manager}',
    ]);
    expect(stored.stdout).toBe('kubectl-remote-secret');
  });

  it('--apply warns that another secret holds the cluster ID, and reports the webhook refusing it', async () => {
    const holder = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'hand-made', namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
      stringData: { dup: kubeconfigFixture('clean') },
    });
    const first = await onPrimary(['apply', '-f', '-'], holder);
    expect(first.status, first.stderr).toBe(0);
    const run = await create('--name', 'dup', '--apply', '--primary-kubeconfig', primary.kubeconfigPath);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `warning: duplicate-cluster-id at data.dup: cluster ID "dup" is also claimed by secret ${NAMESPACE}/hand-made, created earlier`,
    );
    expect(run.stderr).toContain('hint: keep one secret for "dup"');
    expect(run.stderr).toMatch(
      /error: refused to apply Secret istio-system\/istio-remote-secret-dup .*denied the request/,
    );
    expect(run.stderr).toContain('duplicate-cluster-id');
  });

  describe('errors a user can act on, with their exit status', () => {
    it('unknown context: 2', async () => {
      const run = await create('--context', 'nope');
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`error: context "nope" is not in ${remote.kubeconfigPath}`);
      expect(run.stderr).toContain('hint: known contexts: remote');
    });

    it('invalid --name: 2', async () => {
      const run = await create('--name', 'East_1');
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('error: --name "East_1" is not a valid DNS-1123 label');
    });

    it('non-https --server: 2', async () => {
      const run = await create('--name', 'east', '--server', 'http://east.example:6443');
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('is not an https:// URL');
    });

    it('unreachable server, naming the URL: 1', async () => {
      const port = await closedPort();
      const dead = readFileSync(remote.kubeconfigPath, 'utf8').replace(
        remote.server,
        `https://127.0.0.1:${String(port)}`,
      );
      const run = await plugin([
        'create',
        '--kubeconfig',
        withKubeconfig('dead.kubeconfig', dead),
        '--name',
        'east',
      ]);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        `error: cannot reach the API server at https://127.0.0.1:${String(port)} (connection refused)`,
      );
      expect(run.stderr).toContain('hint: check the server address');
    });

    it('forbidden: every missing permission, checked before anything is read or created: 1', async () => {
      const limited = await remoteUser(
        'limited',
        'default',
        ['create', 'clusterrole', 'namespace-reader', '--verb', 'get', '--resource', 'namespaces'],
        [
          'create',
          'clusterrolebinding',
          'limited',
          '--clusterrole',
          'namespace-reader',
          '--serviceaccount',
          'default:limited',
        ],
      );
      const run = await plugin([
        'create',
        '--kubeconfig',
        limited,
        '--name',
        'limited-east',
        '--namespace',
        'mesh-new',
      ]);
      expect(run.status).toBe(1);
      // After the warning that a loopback server only works from this machine.
      const lines = run.stderr.split('\n');
      const first = lines.find((line) => line.startsWith('error: '));
      expect(first).toMatch(
        /^error: context "limited" lacks \d+ permissions that create needs on the remote; nothing was created:$/,
      );
      const listed = lines
        .filter((line) => line.startsWith('  - '))
        .map((line) => line.split(':')[0]?.slice(4));
      // It may get namespaces (the ClusterRole above); everything else is missing, and listed.
      expect(listed).toEqual([
        'get serviceaccounts istio-reader-service-account in namespace mesh-new',
        'get clusterroles.rbac.authorization.k8s.io istio-reader-clusterrole-mesh-new',
        'get clusterrolebindings.rbac.authorization.k8s.io istio-reader-clusterrole-mesh-new',
        'list secrets in namespace mesh-new',
        'create namespaces',
        'create serviceaccounts in namespace mesh-new',
        'create clusterroles.rbac.authorization.k8s.io',
        'create clusterrolebindings.rbac.authorization.k8s.io',
        'create secrets in namespace mesh-new',
        'list secrets in namespace mesh-new',
        'watch secrets in namespace mesh-new',
        'get secrets in namespace mesh-new',
      ]);
      expect(run.stderr).toContain(
        'hint: ask a cluster admin to grant them, or let them create the reader account once and run with --create-service-account=false',
      );
      expect((await onRemote('get', 'namespace', 'mesh-new')).status).not.toBe(0);
    });

    it('with --create-service-account=false --secret-name it needs only what it touches in the namespace, as istioctl', async () => {
      const tokenSecret = (
        await onRemote(
          'get',
          'secrets',
          '-n',
          NAMESPACE,
          '--field-selector',
          'type=kubernetes.io/service-account-token',
          '-o',
          'jsonpath={.items[0].metadata.name}',
        )
      ).stdout;
      expect(tokenSecret).not.toBe('');
      const operator = await remoteUser(
        'namespace-operator',
        'default',
        [
          'create',
          'role',
          'reader-secret',
          '-n',
          NAMESPACE,
          '--verb',
          'get',
          '--resource',
          'serviceaccounts,secrets',
        ],
        [
          'create',
          'rolebinding',
          'namespace-operator',
          '-n',
          NAMESPACE,
          '--role',
          'reader-secret',
          '--serviceaccount',
          'default:namespace-operator',
        ],
      );
      const run = await plugin([
        'create',
        '--kubeconfig',
        operator,
        '--name',
        'east',
        '--create-service-account=false',
        '--secret-name',
        tokenSecret,
      ]);
      expect(run.stderr).not.toContain('error:');
      expect(run.status).toBe(0);
      expect(parseSecret(run.stdout).token).toBe(east.token);
    });

    it('token timeout (the controller manager stopped), saying what to check: 1', async () => {
      const resume = pauseComponent(remote, 'kube-controller-manager');
      try {
        const run = await create('--name', 'east', '--rotate', '--timeout', '4s');
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(
          /error: the token controller did not fill token Secret istio-system\/\S+ with a token within --timeout 4s/,
        );
        expect(run.stderr).toContain("hint: kube-controller-manager's token controller fills it");
      } finally {
        resume();
      }
    });

    // kill -STOP on the remote's kube-apiserver: connections are accepted and nothing answers.
    it.each([
      {
        name: 'create, --request-timeout',
        args: (kubeconfig: string) => [
          'create',
          '--kubeconfig',
          kubeconfig,
          '--name',
          'east',
          '--request-timeout',
          '2s',
          '--timeout',
          '60s',
        ],
        status: 1,
        says: /error: no answer from https:\/\/127\.0\.0\.1:\d+ within 2s while trying to create a SelfSubjectAccessReview/,
      },
      {
        name: 'create, --timeout',
        args: (kubeconfig: string) => [
          'create',
          '--kubeconfig',
          kubeconfig,
          '--name',
          'east',
          '--request-timeout',
          '60s',
          '--timeout',
          '3s',
        ],
        status: 1,
        says: /error: the command did not finish within --timeout 3s: it was still trying to create a SelfSubjectAccessReview/,
      },
      {
        name: 'audit, --request-timeout',
        args: (kubeconfig: string) => ['audit', '--kubeconfig', kubeconfig, '--request-timeout', '2s'],
        status: 2,
        says: /error: no answer from https:\/\/127\.0\.0\.1:\d+ within 2s while trying to list Secrets/,
      },
      {
        name: 'audit, --timeout',
        args: (kubeconfig: string) => ['audit', '--kubeconfig', kubeconfig, '--timeout', '3s'],
        status: 2,
        says: /error: the command did not finish within --timeout 3s/,
      },
      {
        name: 'verify of a secret for the stopped remote, --timeout',
        args: () => ['verify', '-f', '-', '--timeout', '3s'],
        status: 1,
        says: /east \(istio-system\/istio-remote-secret-east\): not reachable: the command did not finish within --timeout 3s/,
      },
    ])('a stopped API server ends $name within it: $status', async ({ args, status, says }) => {
      const resume = pauseComponent(remote, 'kube-apiserver');
      try {
        const started = Date.now();
        const run = await plugin(args(remote.kubeconfigPath), eastYaml);
        const seconds = (Date.now() - started) / 1000;
        // verify reports each cluster in its table (stdout); the others fail on stderr.
        expect(`${run.stdout}${run.stderr}`).toMatch(says);
        expect(run.status).toBe(status);
        // Within the limit, plus Node's start-up and the process's exit.
        expect(seconds).toBeLessThan(10);
      } finally {
        resume();
      }
    });
  });

  it.each([
    { words: ['audit', '--kubeconfig', 'REMOTE', '-n', 'kube-s'], expected: ['kube-system'] },
    {
      words: ['create', '-c', 'REMOTE', '--istio-namespace', 'kube-'],
      expected: ['kube-node-lease', 'kube-public', 'kube-system'],
    },
    { words: ['create', '-c', 'REMOTE', '--context', ''], expected: ['remote'] },
  ])('completes namespaces and contexts from the cluster: $words', async ({ words, expected }) => {
    const run = await plugin([
      '--get-yargs-completions',
      'kubectl-remote_secret',
      ...words.map((word) => (word === 'REMOTE' ? remote.kubeconfigPath : word)),
    ]);
    expect(run.status).toBe(0);
    expect(
      run.stdout
        .split('\n')
        .filter((line) => line !== '')
        .sort(),
    ).toEqual(expected);
  });

  it('verify fails (exit 1) for a secret whose token the remote refuses', async () => {
    const bogus = east.kubeconfig.replace(east.token, 'not-a-valid-token');
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'istio-remote-secret-bogus',
        namespace: NAMESPACE,
        labels: { 'istio/multiCluster': 'true' },
      },
      stringData: { bogus },
    });
    const run = await plugin(['verify', '-f', '-'], manifest);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(
      /bogus\s+istio-system\/istio-remote-secret-bogus\s+yes\s+no\s+-\s+unknown\s+FAILED/,
    );
    expect(run.stdout).toContain('authentication failed');
    expect(run.stdout).toContain(
      '  fix: the token was revoked, or its ServiceAccount or token Secret was deleted on the remote: mint a new one with `kubectl remote-secret create --context <remote> --name bogus`',
    );
  });

  describe('verify says what to do next', () => {
    const manifest = (id: string, kubeconfig: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: `istio-remote-secret-${id}`,
          namespace: NAMESPACE,
          labels: { 'istio/multiCluster': 'true' },
        },
        stringData: { [id]: kubeconfig },
      });

    it('a missing ClusterRoleBinding: names it, and says create restores it (1)', async () => {
      const made = await onRemote('create', 'serviceaccount', 'unbound-reader', '-n', NAMESPACE);
      expect(made.status, made.stderr).toBe(0);
      const token = (await onRemote('create', 'token', 'unbound-reader', '-n', NAMESPACE)).stdout.trim();
      const run = await plugin(
        ['verify', '-f', '-'],
        manifest('unbound', east.kubeconfig.replace(east.token, token)),
      );
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(
        '  fix: nothing grants "system:serviceaccount:istio-system:unbound-reader" Istio\'s reader rules: ClusterRoleBinding istio-reader-clusterrole-istio-system-unbound-reader (to ClusterRole istio-reader-clusterrole-istio-system) is missing; `kubectl remote-secret create --context <remote> --name unbound --namespace istio-system` restores it',
      );
    });

    it('a TLS name mismatch: names the name it checked (1)', async () => {
      const wrongName = east.kubeconfig.replace(
        /^(\s+)server: (.*)$/m,
        '$1server: $2\n$1tls-server-name: wrong-name.example',
      );
      expect(wrongName).toContain('tls-server-name: wrong-name.example');
      const run = await plugin(['verify', '-f', '-'], manifest('misnamed', wrongName));
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('not reachable: TLS with');
      expect(run.stdout).toContain(
        '  fix: the server\'s certificate does not name "wrong-name.example", the kubeconfig\'s tls-server-name: set tls-server-name to a name it has',
      );
    });

    it('a token that expires within --expiring-within: a warning, as audit gives (0)', async () => {
      const token = (
        await onRemote('create', 'token', READER, '-n', NAMESPACE, '--duration', '2h')
      ).stdout.trim();
      const run = await plugin(
        ['verify', '-f', '-'],
        manifest('soon', east.kubeconfig.replace(east.token, token)),
      );
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toMatch(
        /soon\s+istio-system\/istio-remote-secret-soon\s+yes \S+\s+yes\s+ok\s+\S+ \(soon\)\s+OK/,
      );
      expect(run.stdout).toMatch(
        /soon \(istio-system\/istio-remote-secret-soon\): warning: token expires at \S+, within 168h/,
      );
      const later = await plugin(
        ['verify', '-f', '-', '--expiring-within', '1h'],
        manifest('soon', east.kubeconfig.replace(east.token, token)),
      );
      expect(later.stdout).not.toContain('warning');
    });

    it('a namespace that holds no remote secrets: exit 1, and says where it looked (1)', async () => {
      const run = await plugin(['verify', '--kubeconfig', primary.kubeconfigPath, '-n', 'default']);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        'error: no remote secrets (Secrets labelled istio/multiCluster: "true") in namespace default; nothing was verified',
      );
      expect(run.stderr).toContain(
        "hint: istiod reads them from its own namespace: pass -n with istiod's namespace",
      );
    });
  });
});
