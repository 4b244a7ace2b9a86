import { violation, type Violation } from '../violations.ts';
import { isDns1123Label } from '../kube/names.ts';
import { proxyUrlProblem } from './go-url.ts';
import { quote } from './quote.ts';
import type { AuthInfo, Cluster, KubeconfigV1 } from './model.ts';

const HINT = 're-create the kubeconfig with `kubectl remote-secret create`';

/**
 * What istiod refuses before it ever uses a kubeconfig: the list-to-map conversion of
 * `clientcmd.Load` (duplicate names), `clientcmd.Validate`, and a current context to use.
 * Validate also opens `certificate-authority`, `client-certificate` and `client-key` files on
 * istiod's disk; we cannot know that disk, so the sanitizer refuses all three paths instead
 * (unless allowed).
 */
export function validateKubeconfig(config: KubeconfigV1): Violation[] {
  const violations: Violation[] = [];
  const add = (code: Violation['code'], path: string, message: string): void => {
    violations.push(violation(code, path, message, HINT));
  };

  const clusters = uniqueNames('clusters', config.clusters, add);
  const users = uniqueNames('users', config.users, add);
  const contexts = uniqueNames('contexts', config.contexts, add);

  if (isEmpty(config)) {
    violations.push(
      violation('empty-kubeconfig', '', 'the kubeconfig has no clusters, users or contexts', HINT),
    );
    return violations;
  }

  const current = config['current-context'];
  if (current === '') {
    add(
      'no-current-context',
      'current-context',
      'current-context is not set, so istiod has no context to connect with',
    );
  } else if (!contexts.has(current)) {
    add(
      'invalid-kubeconfig',
      'current-context',
      `current-context ${quote(current)} names no context in this kubeconfig`,
    );
  }

  config.contexts.forEach(({ name, context }, index) => {
    const at = `contexts[${index}]`;
    if (name === '') add('invalid-kubeconfig', `${at}.name`, 'a context has an empty name');
    if (context.user === '') {
      add('invalid-kubeconfig', `${at}.context.user`, `context ${quote(name)} names no user`);
    } else if (!users.has(context.user)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.user`,
        `context ${quote(name)} names user ${quote(context.user)}, which is not defined`,
      );
    }
    if (context.cluster === '') {
      add('invalid-kubeconfig', `${at}.context.cluster`, `context ${quote(name)} names no cluster`);
    } else if (!clusters.has(context.cluster)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.cluster`,
        `context ${quote(name)} names cluster ${quote(context.cluster)}, which is not defined`,
      );
    }
    if (context.namespace !== '' && !isDns1123Label(context.namespace)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.namespace`,
        `namespace ${quote(context.namespace)} is not a valid DNS-1123 label`,
      );
    }
  });

  config.users.forEach(({ name, user }, index) => {
    for (const [path, message] of authInfoProblems(user)) {
      add('invalid-kubeconfig', `users[${index}].user${path}`, `user ${quote(name)}: ${message}`);
    }
  });

  config.clusters.forEach(({ name, cluster }, index) => {
    for (const [path, message] of clusterProblems(cluster)) {
      add('invalid-kubeconfig', `clusters[${index}].cluster${path}`, `cluster ${quote(name)}: ${message}`);
    }
  });

  return violations;
}

function uniqueNames(
  section: 'clusters' | 'users' | 'contexts',
  items: readonly { readonly name: string }[],
  add: (code: Violation['code'], path: string, message: string) => void,
): Set<string> {
  const names = new Set<string>();
  items.forEach(({ name }, index) => {
    if (names.has(name)) {
      add(
        'invalid-kubeconfig',
        `${section}[${index}].name`,
        `the name ${quote(name)} appears twice in ${section}`,
      );
    }
    names.add(name);
  });
  return names;
}

function isEmpty(config: KubeconfigV1): boolean {
  return (
    config.clusters.length === 0 &&
    config.users.length === 0 &&
    config.contexts.length === 0 &&
    config['current-context'] === '' &&
    !config.hasPreferencesOrExtensions
  );
}

function authInfoProblems(user: AuthInfo): [string, string][] {
  const problems: [string, string][] = [];
  const methods: string[] = [];
  if (user.token !== '') methods.push('token');
  if (user.username !== '' || user.password !== '') methods.push('basicAuth');
  if (methods.length > 1) {
    problems.push(['', `more than one authentication method (${methods.join(', ')}); only one is allowed`]);
  }
  if (user['client-certificate'] !== '' || user['client-certificate-data'] !== '') {
    if (user['client-certificate'] !== '' && user['client-certificate-data'] !== '') {
      problems.push(['.client-certificate', 'client-certificate and client-certificate-data are both set']);
    }
    if (user['client-key'] !== '' && user['client-key-data'] !== '') {
      problems.push(['.client-key', 'client-key and client-key-data are both set']);
    }
    if (user['client-key'] === '' && user['client-key-data'] === '') {
      problems.push(['.client-key-data', 'a client certificate needs client-key-data']);
    }
  }
  const exec = user.exec;
  if (exec !== undefined) {
    if (user['auth-provider'] !== undefined) {
      problems.push(['.exec', 'auth-provider and exec cannot both be set']);
    }
    if (exec.command === '') problems.push(['.exec.command', 'exec needs a command']);
    if (exec.apiVersion === '') problems.push(['.exec.apiVersion', 'exec needs an apiVersion']);
    exec.env.forEach((variable, index) => {
      if (variable.name === '')
        problems.push([`.exec.env[${index}].name`, 'an exec env variable has no name']);
    });
    const mode = interactiveMode(exec.apiVersion, exec.interactiveMode);
    if (mode === '') {
      problems.push([
        '.exec.interactiveMode',
        'exec needs an interactiveMode (Never, IfAvailable or Always)',
      ]);
    } else if (!INTERACTIVE_MODES.has(mode)) {
      problems.push(['.exec.interactiveMode', 'exec interactiveMode must be Never, IfAvailable or Always']);
    }
  }
  const impersonates =
    user['as-uid'] !== '' || user['as-groups'].length > 0 || Object.keys(user['as-user-extra']).length > 0;
  if (impersonates && user.as === '') {
    problems.push(['.as', 'as-uid, as-groups or as-user-extra need a user to impersonate (as)']);
  }
  return problems;
}

const INTERACTIVE_MODES = new Set(['Never', 'IfAvailable', 'Always']);

/** client-go's SetDefaults_ExecConfig: the older exec APIs default to IfAvailable; v1 must say. */
function interactiveMode(apiVersion: string, mode: string): string {
  if (mode !== '') return mode;
  return apiVersion === 'client.authentication.k8s.io/v1beta1' ||
    apiVersion === 'client.authentication.k8s.io/v1alpha1'
    ? 'IfAvailable'
    : '';
}

const EMPTY_CLUSTER: Omit<Cluster, 'hasExtensions'> = {
  server: '',
  'tls-server-name': '',
  'insecure-skip-tls-verify': false,
  'certificate-authority': '',
  'certificate-authority-data': '',
  'proxy-url': '',
  'disable-compression': false,
};

function clusterProblems(cluster: Cluster): [string, string][] {
  const isEmptyCluster =
    !cluster.hasExtensions &&
    (Object.keys(EMPTY_CLUSTER) as (keyof typeof EMPTY_CLUSTER)[]).every(
      (key) => cluster[key] === EMPTY_CLUSTER[key],
    );
  if (isEmptyCluster) return [['', 'the cluster is empty (it has no server)']];
  const problems: [string, string][] = [];
  if (cluster.server === '') problems.push(['.server', 'no server is set']);
  const proxy = cluster['proxy-url'];
  const proxyProblem = proxy === '' ? undefined : proxyUrlProblem(proxy);
  if (proxyProblem !== undefined) problems.push(['.proxy-url', `invalid proxy-url: ${proxyProblem}`]);
  if (cluster['certificate-authority'] !== '' && cluster['certificate-authority-data'] !== '') {
    problems.push([
      '.certificate-authority',
      'certificate-authority and certificate-authority-data are both set',
    ]);
  }
  return problems;
}
