import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';

/**
 * `kubectl remote-secret create` and `istioctl create-remote-secret` (Istio's own, from the same
 * module as istiod) side by side, each on a fresh remote: what each writes and what each creates
 * on the remote. The table in docs/istio-parity.md states the outcome field by field; this test
 * computes the same table from the two real runs and fails when the document says otherwise.
 * UPDATE_GOLDEN=1 rewrites the table's facts and keeps its reasons.
 */
const kubeTestenv = inject('kubeTestenvBinary');
const istioTestenv = inject('istioTestenvBinary');
const DOC = fileURLToPath(new URL('../../docs/istio-parity.md', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const START = '<!-- parity-table:start -->';
const END = '<!-- parity-table:end -->';

interface Secret {
  readonly metadata: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  readonly type?: string;
  readonly data?: Record<string, string>;
  readonly stringData?: Record<string, string>;
}

interface RemoteObject {
  readonly kind: string;
  readonly name: string;
  readonly type?: string;
  readonly rules?: readonly { apiGroups?: string[]; resources?: string[]; verbs?: string[] }[];
}

type Row = readonly [field: string, istioctl: string, ours: string];

/** What a tool created on its remote: objects of these kinds that were not there before. */
async function remoteObjects(cluster: TestCluster): Promise<RemoteObject[]> {
  const listed = await kubectl(cluster.kubeconfigPath, [
    'get',
    'serviceaccounts,secrets,roles,rolebindings',
    '--all-namespaces',
    '-o',
    'json',
  ]);
  const cluster_ = await kubectl(cluster.kubeconfigPath, [
    'get',
    'clusterroles,clusterrolebindings',
    '-o',
    'json',
  ]);
  const items = [listed, cluster_].flatMap(
    (result) =>
      (
        JSON.parse(result.stdout) as {
          items: (RemoteObject & { metadata: { name: string; namespace?: string } })[];
        }
      ).items,
  );
  return items.map((item) => ({
    kind: item.kind,
    name:
      item.metadata.namespace === undefined
        ? item.metadata.name
        : `${item.metadata.namespace}/${item.metadata.name}`,
    ...(item.type === undefined ? {} : { type: item.type }),
    ...(item.rules === undefined ? {} : { rules: item.rules }),
  }));
}

/** New objects; a new namespace's own `default` ServiceAccount is the namespace's, not the tool's. */
function created(before: readonly RemoteObject[], after: readonly RemoteObject[]): RemoteObject[] {
  const known = new Set(before.map(({ kind, name }) => `${kind}/${name}`));
  return after.filter(
    ({ kind, name }) =>
      !known.has(`${kind}/${name}`) && !(kind === 'ServiceAccount' && name.endsWith('/default')),
  );
}

const sortedPairs = (record: Record<string, string> | undefined): string =>
  Object.entries(record ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .sort()
    .join(', ') || '(none)';

/** A kubeconfig's layout: its keys in order, with the fields of its one cluster and user. */
function layout(kubeconfig: string): Record<string, string> {
  const config = load(kubeconfig) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    users: { name: string; user: Record<string, unknown> }[];
    contexts: { name: string; context: Record<string, unknown> }[];
    'current-context': string;
  } & Record<string, unknown>;
  return {
    'kubeconfig: top-level keys': Object.keys(config).join(', '),
    'kubeconfig: cluster fields': Object.keys(config.clusters[0]?.cluster ?? {}).join(', '),
    'kubeconfig: user fields': Object.keys(config.users[0]?.user ?? {}).join(', '),
    'kubeconfig: cluster, context and user names': [
      config.clusters[0]?.name,
      config.contexts[0]?.name,
      config.users[0]?.name,
    ].join(' / '),
    'kubeconfig: current-context': config['current-context'],
  };
}

function describeRules(object: RemoteObject): string {
  return (object.rules ?? [])
    .map(
      (rule) =>
        `${(rule.verbs ?? []).join('/')} ${(rule.resources ?? []).join('/')} (${(rule.apiGroups ?? []).map((group) => group || 'core').join('/')})`,
    )
    .join('; ');
}

function facts(secret: Secret, objects: readonly RemoteObject[]): Record<string, string> {
  const values = secret.stringData ?? secret.data ?? {};
  const [key = '', value = ''] = Object.entries(values)[0] ?? [];
  const kubeconfig = secret.stringData === undefined ? Buffer.from(value, 'base64').toString('utf8') : value;
  const byKind = (kind: string) =>
    objects
      .filter((object) => object.kind === kind)
      .map(({ name, type }) => (type === undefined ? name : `${name} (${type})`))
      .sort()
      .join(', ') || '(none)';
  const roles = objects.filter(({ kind }) => kind === 'ClusterRole' || kind === 'Role');
  return {
    'secret name': secret.metadata.name ?? '(none)',
    'secret namespace': secret.metadata.namespace ?? '(none)',
    'secret type': secret.type ?? '(unset: Opaque)',
    'secret labels': sortedPairs(secret.metadata.labels),
    'secret annotations': sortedPairs(secret.metadata.annotations),
    'data key': key,
    'kubeconfig carried in': secret.stringData === undefined ? 'data (base64)' : 'stringData',
    ...layout(kubeconfig),
    'remote: ServiceAccounts created': byKind('ServiceAccount'),
    'remote: Secrets created': byKind('Secret'),
    'remote: ClusterRoles created': byKind('ClusterRole'),
    'remote: ClusterRoleBindings created': byKind('ClusterRoleBinding'),
    'remote: Roles and RoleBindings created': [byKind('Role'), byKind('RoleBinding')].join('; '),
    'remote: RBAC rules': roles.map((role) => `${role.name}: ${describeRules(role)}`).join(' | ') || '(none)',
  };
}

function docRows(text: string): Map<string, { istioctl: string; ours: string; why: string }> {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end === -1) throw new Error(`docs/istio-parity.md has no ${START} ... ${END} table`);
  const rows = new Map<string, { istioctl: string; ours: string; why: string }>();
  for (const line of text.slice(start + START.length, end).split('\n')) {
    const cells = line.split(' | ').map((cell) => cell.replace(/^\|\s*|\s*\|$/g, '').trim());
    if (cells.length < 4 || cells[0] === 'field' || /^-+$/.test(cells[0] ?? '')) continue;
    const [field = '', istioctl = '', ours = '', why = ''] = cells;
    rows.set(unescape(field), { istioctl: unescape(istioctl), ours: unescape(ours), why });
  }
  return rows;
}

const escape = (text: string): string => `\`${text.replaceAll('|', '\\|')}\``;
const unescape = (text: string): string => text.replace(/^`|`$/g, '').replaceAll('\\|', '|');

/** istioctl create-remote-secret against one remote. */
function spawnIstioctl(
  remote: TestCluster,
  args: readonly string[],
): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(
    istioTestenv ?? 'istio-testenv',
    ['istioctl', 'create-remote-secret', '--kubeconfig', remote.kubeconfigPath, ...args],
    { encoding: 'utf8', env: { ...process.env, KUBECONFIG: remote.kubeconfigPath, HOME: tmpdir() } },
  );
}

/** The same, which must succeed; its stdout. */
function runIstioctl(remote: TestCluster, args: readonly string[]): string {
  const result = spawnIstioctl(remote, args);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe.skipIf(kubeTestenv === null || istioTestenv === null)(
  'istioctl create-remote-secret and kubectl remote-secret create, field by field',
  () => {
    let forOurs: TestCluster;
    let forIstioctl: TestCluster;

    beforeAll(async () => {
      const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
      const options = kubeTestenv === null ? {} : { binaryPath: kubeTestenv };
      [forOurs, forIstioctl] = await Promise.all([
        startCluster('parity-ours', options),
        startCluster('parity-istioctl', options),
      ]);
    });

    afterAll(async () => {
      await stopAllClusters();
    });

    it('matches the table in docs/istio-parity.md, and every difference has a reason', async () => {
      const oursBefore = await remoteObjects(forOurs);
      const ours = await runPluginAsync([
        'create',
        '--kubeconfig',
        forOurs.kubeconfigPath,
        '--name',
        'parity',
      ]);
      expect(ours.status, ours.stderr).toBe(0);
      const oursFacts = facts(
        loadAll(ours.stdout)[0] as Secret,
        created(oursBefore, await remoteObjects(forOurs)),
      );

      // Like for like: the namespace given, as the docs tell istioctl users to.
      const istioctlBefore = await remoteObjects(forIstioctl);
      const istioctl = runIstioctl(forIstioctl, ['--name', 'parity', '--namespace', 'istio-system']);
      const istioctlFacts = facts(
        loadAll(istioctl)[0] as Secret,
        created(istioctlBefore, await remoteObjects(forIstioctl)),
      );
      // As typed without a namespace, from a kubeconfig whose context names one (kube-testenv's
      // says "default", as many do): istioctl then works in the context's namespace.
      const bare = (loadAll(runIstioctl(forIstioctl, ['--name', 'bare']))[0] as Secret).metadata.namespace;
      const oursBare = await runPluginAsync([
        'create',
        '--kubeconfig',
        forOurs.kubeconfigPath,
        '--name',
        'bare',
      ]);
      expect(oursBare.status, oursBare.stderr).toBe(0);
      // An auth provider that istiod's client-go no longer has.
      const gcp = ['--name', 'gcp', '--auth-type', 'plugin', '--auth-plugin-name', 'gcp'];
      const istioctlGcp = spawnIstioctl(forIstioctl, [...gcp, '--namespace', 'istio-system']);
      const oursGcp = await runPluginAsync(['create', '--kubeconfig', forOurs.kubeconfigPath, ...gcp]);
      const outcome = (status: number | null, stdout: string): string =>
        status === 0 && stdout.includes('name: gcp')
          ? `writes the secret (exit 0)`
          : `refuses (exit ${String(status)})`;

      const computed: Row[] = [
        ...Object.keys(oursFacts).map((field): Row => [
          field,
          istioctlFacts[field] ?? '(none)',
          oursFacts[field] ?? '(none)',
        ]),
        [
          'secret namespace without --namespace, the context naming "default"',
          bare ?? '(none)',
          (loadAll(oursBare.stdout)[0] as Secret).metadata.namespace ?? '(none)',
        ],
        [
          '--auth-type plugin --auth-plugin-name gcp',
          outcome(istioctlGcp.status, istioctlGcp.stdout),
          outcome(oursGcp.status, oursGcp.stdout),
        ],
      ];
      const text = readFileSync(DOC, 'utf8');
      const documented = docRows(text);
      if (UPDATE) {
        const table = [
          '| field | istioctl create-remote-secret | kubectl remote-secret create | why they differ |',
          '| --- | --- | --- | --- |',
          ...computed.map(([field, theirs, ourValue]) => {
            const why = theirs === ourValue ? 'same' : (documented.get(field)?.why ?? 'TO EXPLAIN');
            return `| ${escape(field)} | ${escape(theirs)} | ${escape(ourValue)} | ${why} |`;
          }),
        ].join('\n');
        writeFileSync(
          DOC,
          `${text.slice(0, text.indexOf(START) + START.length)}\n${table}\n${text.slice(text.indexOf(END))}`,
        );
      }
      const inDoc = docRows(readFileSync(DOC, 'utf8'));
      expect([...inDoc.keys()]).toEqual(computed.map(([field]) => field));
      for (const [field, theirs, ourValue] of computed) {
        const row = inDoc.get(field);
        expect(row?.istioctl, `${field}: istioctl`).toBe(theirs);
        expect(row?.ours, `${field}: ours`).toBe(ourValue);
        if (theirs !== ourValue) {
          expect(row?.why, `${field}: the reason for the difference`).not.toMatch(/^(?:|same|TO EXPLAIN)$/);
        }
      }
    });
  },
);
