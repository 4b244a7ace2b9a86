import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1Container } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admissionReview, kubeconfigFixture, secretObject } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { finalStage, parseDockerfile, type FinalStage, type Stage } from '../harness/dockerfile.ts';
import { kubectl } from '../harness/kubectl.ts';
import { onlyObject, renderManifests } from '../harness/manifests.ts';
import { eventually } from '../harness/webhook.ts';

/**
 * The webhook image without a container engine. The final stage of the Dockerfile is laid out in
 * a temporary root outside the checkout (its COPY lines, WORKDIR, ENV, ENTRYPOINT; the project's
 * pinned Node 26 at the ENTRYPOINT's node path), the Deployment's args, env and TLS mount are taken
 * from manifests/, and it runs with the RBAC of manifests/ (a token of its ServiceAccount) against
 * a real API server. Node's permission model lets it read only that root and its kubeconfig and
 * write nothing, as with a read-only root filesystem; with no node_modules in the root or above
 * it, a module the bundle left out could not be found.
 */
const binaryPath = inject('kubeTestenvBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PINNED_NODE = realpathSync(`${REPO}/node_modules/node/bin/node`);
const NAMESPACE = 'istio-system';

type WebhookChild = ChildProcessByStdio<null, Readable, Readable>;

interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
}

/** Where each COPY of the final stage comes from in this checkout, once `npm run bundle:webhook` ran. */
function sourceInCheckout(stages: readonly Stage[], from: string | undefined, source: string): string {
  if (from === undefined) return join(REPO, source);
  const build = stages.find((entry) => entry.name === from);
  const workdir = build?.instructions.findLast((entry) => entry.keyword === 'WORKDIR')?.args;
  const bundles = build?.instructions.some(
    (entry) => entry.keyword === 'RUN' && entry.args.includes('npm run bundle:webhook'),
  );
  // The test rebuilds the bundle as that stage does; anything else it would not reproduce.
  if (workdir === undefined || bundles !== true || !source.startsWith(`${workdir}/`)) {
    throw new Error(`cannot map COPY --from=${from} ${source} to this checkout`);
  }
  return join(REPO, source.slice(workdir.length + 1));
}

/** Lay out the final stage under `root`; returns the files it copied (image paths). */
function layOut(stages: readonly Stage[], root: string): string[] {
  const stage = finalStage(stages);
  const copied: string[] = [];
  for (const { from, sources, destination } of stage.copies) {
    const into = destination.startsWith('/') ? destination : join(stage.workdir, destination);
    for (const source of sources) {
      const target = into.endsWith('/') || sources.length > 1 ? join(into, basename(source)) : into;
      mkdirSync(dirname(join(root, target)), { recursive: true });
      cpSync(sourceInCheckout(stages, from, source), join(root, target), { recursive: true });
      copied.push(target);
    }
  }
  return copied;
}

function ancestors(path: string): string[] {
  const parent = dirname(path);
  return parent === path ? [path] : [path, ...ancestors(parent)];
}

/** An image path (`/tls/tls.crt`, `--tls-cert-file=/tls/tls.crt`) under the layout root. */
const underRoot = (root: string, value: string): string =>
  value.replace(
    /^(--[a-z-]+=)?(\/.*)$/,
    (_whole, flag: string | undefined, path: string) => `${flag ?? ''}${root}${path}`,
  );

describe.skipIf(binaryPath === null)('the webhook image, laid out from the Dockerfile', () => {
  let stage: FinalStage;
  let container: V1Container;
  /** The Deployment's namespace: what the downward API gives the pod as metadata.namespace. */
  let podNamespace: string;
  let root: string;
  let copied: string[];
  let cluster: TestCluster;
  let tls: TlsFixture;
  let token: string;
  let webhook: WebhookChild | undefined;
  let port: number;
  let output = '';
  const temporary: string[] = [];

  const review = async (uid: string, name: string, data: Record<string, string>) => {
    const body = JSON.stringify(admissionReview({ uid, object: secretObject({ name, data }) }));
    const reply = await send(body, { port, ca: tls.ca.certificatePem });
    expect(reply.status, reply.body).toBe(200);
    return (JSON.parse(reply.body) as { response: AdmissionResponse }).response;
  };
  const metric = async (name: string): Promise<number> => {
    const text = (await send(undefined, { port, ca: tls.ca.certificatePem, path: '/metrics' })).body;
    const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
    return Number(line?.split(' ')[1] ?? Number.NaN);
  };
  /** Run `args` with the image's node, environment and working directory. */
  const inImage = (nodeFlags: readonly string[], args: readonly string[]) => ({
    command: join(root, stage.entrypoint[0] ?? ''),
    args: [...nodeFlags, ...stage.entrypoint.slice(1).map((arg) => underRoot(root, arg)), ...args],
    options: {
      cwd: join(root, stage.workdir),
      // Nothing from this process's environment (NODE_OPTIONS, NODE_PATH): the image's ENV, the
      // Deployment's env, and a HOME inside the root (Node looks for ~/.node_modules).
      env: {
        ...stage.env,
        ...Object.fromEntries(
          (container.env ?? []).map((entry) => [
            entry.name,
            // As the downward API fills it in: the leader election's Lease lives there.
            entry.value ??
              (entry.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? podNamespace : ''),
          ]),
        ),
        HOME: root,
      },
    },
  });

  beforeAll(async () => {
    const stages = parseDockerfile(readFileSync(`${REPO}/Dockerfile`, 'utf8'));
    stage = finalStage(stages);
    const base = renderManifests(`${REPO}/manifests/base`);
    const deployment = onlyObject(base, 'Deployment');
    const webhookContainer = deployment.spec?.template.spec?.containers.find(
      (entry) => entry.name === 'webhook',
    );
    if (webhookContainer === undefined) throw new Error('the Deployment has no container named webhook');
    container = webhookContainer;
    podNamespace = deployment.metadata?.namespace ?? 'default';
    const built = spawnSync('npm', ['run', 'bundle:webhook'], { cwd: REPO, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);

    root = mkdtempSync(join(tmpdir(), 'remote-secret-webhook-image-'));
    temporary.push(root);
    copied = layOut(stages, root);
    const node = join(root, stage.entrypoint[0] ?? '');
    mkdirSync(dirname(node), { recursive: true });
    copyFileSync(PINNED_NODE, node);
    chmodSync(node, 0o755);
    // The Secret volume, where the Deployment mounts it.
    const mount = container.volumeMounts?.find((entry) =>
      container.args?.some((arg) => arg.startsWith(`--tls-cert-file=${entry.mountPath}/`)),
    );
    expect(mount, 'the Deployment mounts the TLS files it names').toBeDefined();
    const tlsDir = join(root, mount?.mountPath ?? '/tls');
    mkdirSync(tlsDir, { recursive: true });
    tls = writeTlsFixture(tlsDir);

    cluster = await startCluster('image-layout', binaryPath === null ? {} : { binaryPath });
    const namespace = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(namespace.status, namespace.stderr).toBe(0);
    // The manifest's own identity and RBAC, applied for real; the webhook runs with its token.
    const identity = base.objects.filter((object) =>
      ['Namespace', 'ServiceAccount', 'Role', 'RoleBinding'].includes(object.kind ?? ''),
    );
    const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: identity }),
    });
    expect(applied.status, applied.stderr).toBe(0);
    const serviceAccount = deployment.spec?.template.spec?.serviceAccountName ?? '';
    const issued = await kubectl(cluster.kubeconfigPath, [
      'create',
      'token',
      serviceAccount,
      '-n',
      deployment.metadata?.namespace ?? '',
      '--duration=1h',
    ]);
    expect(issued.status, issued.stderr).toBe(0);
    token = issued.stdout.trim();
    const secrets = mkdtempSync(join(tmpdir(), 'remote-secret-webhook-sa-'));
    temporary.push(secrets);
    writeFileSync(
      join(secrets, 'kubeconfig'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: {
              server: cluster.server,
              'certificate-authority-data': readFileSync(cluster.caFile).toString('base64'),
            },
          },
        ],
        users: [{ name: serviceAccount, user: { token } }],
        contexts: [{ name: 'webhook', context: { cluster: 'test', user: serviceAccount } }],
        'current-context': 'webhook',
      }),
      { mode: 0o600 },
    );

    const run = inImage(
      // Node 26's permission model also gates the network: the webhook listens and calls the API server.
      [
        '--permission',
        `--allow-fs-read=${root}`,
        `--allow-fs-read=${join(secrets, 'kubeconfig')}`,
        '--allow-net',
        // The background audit decides in a worker thread.
        '--allow-worker',
      ],
      [
        ...(container.args ?? []).map((arg) => underRoot(root, arg)),
        ...['--kubeconfig', join(secrets, 'kubeconfig')],
        ...['--address', '127.0.0.1', '--port', '0', '--shutdown-delay', '0'],
      ],
    );
    const child = spawn(run.command, run.args, { ...run.options, stdio: ['ignore', 'pipe', 'pipe'] });
    webhook = child;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    port = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const line = output.split('\n').find((entry) => entry.includes('remote-secret-webhook listening'));
        if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
      });
      child.on('exit', (code) => {
        reject(new Error(`the webhook exited ${String(code)}:\n${output}`));
      });
    });
  });

  afterAll(async () => {
    if (webhook !== undefined && webhook.exitCode === null) {
      webhook.kill('SIGKILL');
      await once(webhook, 'exit');
    }
    await stopAllClusters();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('is outside the checkout, with no node_modules in it or above it', () => {
    expect(relative(REPO, root).startsWith('..')).toBe(true);
    for (const dir of ancestors(root)) expect(existsSync(join(dir, 'node_modules')), dir).toBe(false);
    expect(copied).toContain(stage.entrypoint.at(-1));
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' });
    expect(files.filter((file) => file.split('/').includes('node_modules'))).toEqual([]);
  });

  it('resolves no package from there: the bundle must carry every module it imports', () => {
    const probe = join(root, stage.workdir, 'resolve-probe.mjs');
    writeFileSync(
      probe,
      [
        "import { createRequire } from 'node:module';",
        "for (const name of ['@kubernetes/client-node', 'express', 'pino', 'yargs']) {",
        '  try { createRequire(import.meta.url).resolve(name); console.log(`found ${name}`); }',
        "  catch (error) { console.log(error.code === 'MODULE_NOT_FOUND' ? `missing ${name}` : error); }",
        '}',
      ].join('\n'),
    );
    try {
      const run = inImage([], []);
      const result = spawnSync(run.command, [probe], { ...run.options, encoding: 'utf8' });
      expect(result.stdout.trim().split('\n')).toEqual([
        'missing @kubernetes/client-node',
        'missing express',
        'missing pino',
        'missing yargs',
      ]);
    } finally {
      rmSync(probe);
    }
  });

  it('runs the pinned Node of the image: node:26 builds, distroless nodejs26 runs', () => {
    const major = /nodejs(\d+)-/.exec(stage.image)?.[1];
    expect(stage.image).toMatch(/^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot$/);
    const version = spawnSync(PINNED_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(version.startsWith(`v${String(major)}.`), version).toBe(true);
    expect(stage.user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
  });

  it('is ready once its informer has synced, with the RBAC of manifests/', async () => {
    const health = await send(undefined, { port, ca: tls.ca.certificatePem, path: '/healthz' });
    expect(health.status).toBe(200);
    await eventually(
      async () =>
        (await send(undefined, { port, ca: tls.ca.certificatePem, path: '/readyz' })).status === 200,
    );
  });

  it.each([
    {
      name: 'istio-remote-secret-east',
      data: { east: kubeconfigFixture('clean') },
      allowed: true,
      shows: '',
    },
    {
      name: 'istio-remote-secret-exec',
      data: { west: kubeconfigFixture('exec') },
      allowed: false,
      shows: 'exec at users[0].user.exec',
    },
    {
      name: 'istio-remote-secret-local',
      data: { Kubernetes: kubeconfigFixture('clean') },
      allowed: false,
      shows: 'local-cluster-id at data.Kubernetes',
    },
  ])('answers $name: allowed $allowed', async ({ name, data, allowed, shows }) => {
    const response = await review(`uid-${name}`, name, data);
    expect(response.uid).toBe(`uid-${name}`);
    expect(response.allowed).toBe(allowed);
    if (!allowed) expect(response.status?.message).toContain(shows);
  });

  it('sees stored secrets through its informer: a second claim of a cluster ID is denied', async () => {
    const stored = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: 'istio-remote-secret-north',
          namespace: NAMESPACE,
          labels: { 'istio/multiCluster': 'true' },
        },
        stringData: { north: kubeconfigFixture('clean') },
      }),
    });
    expect(stored.status, stored.stderr).toBe(0);
    await eventually(async () => (await metric('remote_secret_webhook_index_secrets')) >= 1);
    const response = await review('uid-duplicate', 'istio-remote-secret-north-again', {
      north: kubeconfigFixture('clean'),
    });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain(
      'also claimed by secret istio-system/istio-remote-secret-north, created earlier',
    );
  });

  it('runs its background audit in the worker bundle beside it', async () => {
    // A pass runs soon after the replica leads; it fails if the worker's module is not in the image.
    const passes = async (result: string): Promise<number> => {
      const text = (await send(undefined, { port, ca: tls.ca.certificatePem, path: '/metrics' })).body;
      const line = text
        .split('\n')
        .find((entry) => entry.startsWith(`remote_secret_webhook_audit_runs_total{result="${result}"} `));
      return Number(line?.split(' ')[1] ?? 0);
    };
    await eventually(async () => (await passes('ok')) >= 1);
    expect(await passes('failed')).toBe(0);
    expect(copied).toContain('/app/remote-secret-audit-worker.mjs');
  });

  it('records the rejection as a Warning Event (create events, from the same RBAC)', async () => {
    const events = async () => {
      const listed = await kubectl(cluster.kubeconfigPath, [
        'get',
        'events',
        '-n',
        NAMESPACE,
        '--field-selector',
        'involvedObject.name=istio-remote-secret-exec',
        '-o',
        'json',
      ]);
      return (JSON.parse(listed.stdout) as { items: { type: string; reason: string }[] }).items;
    };
    await eventually(async () => (await events()).length > 0);
    expect(await events()).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'RemoteSecretRejected' }),
    ]);
  });

  it('stops with status 0 on SIGTERM, having been denied no file access and logged no token', async () => {
    if (webhook === undefined) throw new Error('the webhook did not start');
    const exited = once(webhook, 'exit');
    webhook.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, output).toBe(0);
    expect(output).not.toContain('ERR_ACCESS_DENIED');
    expect(output).not.toContain(token);
    expect(output).toContain('"msg":"stopped"');
  });
});
