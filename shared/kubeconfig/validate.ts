import { violation, type Violation } from '../violations.ts';
import type { AuthInfo, Cluster, KubeconfigV1 } from './model.ts';

const HINT = 're-create the kubeconfig with `kubectl remote-secret create`';

/**
 * What istiod refuses before it ever uses a kubeconfig: the list-to-map conversion of
 * `clientcmd.Load` (duplicate names), `clientcmd.Validate`, and a current context to use.
 * Validate also opens `certificate-authority`, `client-certificate` and `client-key` files on
 * istiod's disk; we cannot know that disk, so those checks are left to istiod (and the
 * sanitizer refuses the two client files anyway).
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
      `current-context "${current}" names no context in this kubeconfig`,
    );
  }

  config.contexts.forEach(({ name, context }, index) => {
    const at = `contexts[${index}]`;
    if (name === '') add('invalid-kubeconfig', `${at}.name`, 'a context has an empty name');
    if (context.user === '') {
      add('invalid-kubeconfig', `${at}.context.user`, `context "${name}" names no user`);
    } else if (!users.has(context.user)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.user`,
        `context "${name}" names user "${context.user}", which is not defined`,
      );
    }
    if (context.cluster === '') {
      add('invalid-kubeconfig', `${at}.context.cluster`, `context "${name}" names no cluster`);
    } else if (!clusters.has(context.cluster)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.cluster`,
        `context "${name}" names cluster "${context.cluster}", which is not defined`,
      );
    }
    if (context.namespace !== '' && !isDns1123Label(context.namespace)) {
      add(
        'invalid-kubeconfig',
        `${at}.context.namespace`,
        `namespace "${context.namespace}" is not a valid DNS-1123 label`,
      );
    }
  });

  config.users.forEach(({ name, user }, index) => {
    for (const [path, message] of authInfoProblems(user)) {
      add('invalid-kubeconfig', `users[${index}].user${path}`, `user "${name}": ${message}`);
    }
  });

  config.clusters.forEach(({ name, cluster }, index) => {
    for (const [path, message] of clusterProblems(cluster)) {
      add('invalid-kubeconfig', `clusters[${index}].cluster${path}`, `cluster "${name}": ${message}`);
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
        `the name "${name}" appears twice in ${section}`,
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
  }
  if ((user['as-groups'].length > 0 || Object.keys(user['as-user-extra']).length > 0) && user.as === '') {
    problems.push(['.as', 'as-groups or as-user-extra need a user to impersonate (as)']);
  }
  return problems;
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
  if (proxy !== '' && !isValidProxyUrl(proxy)) {
    problems.push(['.proxy-url', 'proxy-url must be an http, https or socks5 URL']);
  }
  if (cluster['certificate-authority'] !== '' && cluster['certificate-authority-data'] !== '') {
    problems.push([
      '.certificate-authority',
      'certificate-authority and certificate-authority-data are both set',
    ]);
  }
  return problems;
}

/** client-go's parseProxyURL: a URL with scheme http, https, socks5 (or none, which it reads as http). */
function isValidProxyUrl(value: string): boolean {
  try {
    const url = new URL(value.includes('://') ? value : `http://${value}`);
    return ['http:', 'https:', 'socks5:'].includes(url.protocol);
  } catch {
    return false;
  }
}

export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value);
}
