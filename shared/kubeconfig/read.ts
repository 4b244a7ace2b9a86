import { isStandardBase64, withoutLineBreaks } from '../encoding/base64.ts';
import { violation, type Violation } from '../violations.ts';
import { quote } from './quote.ts';
import type {
  AuthInfo,
  AuthProviderConfig,
  Cluster,
  Context,
  ExecConfig,
  KubeconfigV1,
  NamedCluster,
  NamedContext,
  NamedUser,
} from './model.ts';

/**
 * Read parsed kubeconfig data the way client-go's `clientcmd.Load` decodes it into the v1
 * types: JSON field names matched case-sensitively, unknown fields ignored, `null` meaning the
 * zero value, and a value of the wrong JSON type failing the whole load. Where client-node
 * or a sloppy reader would honour a key that client-go ignores (`token-file`, `Exec`), we
 * refuse the key: the two programs must never disagree about what a kubeconfig does.
 */
export function readKubeconfig(data: unknown): { config: KubeconfigV1; violations: Violation[] } {
  const reader = new Reader();
  const config = reader.config(data);
  return { config, violations: reader.violations };
}

type Json = Record<string, unknown>;

const INVALID_HINT = 'fix the field, or re-create the kubeconfig with `kubectl remote-secret create`';

/** Auth fields that run code or read files, keyed by their spelling with case and separators removed. */
const SENSITIVE_USER_FIELDS = new Map<string, string>([
  ['exec', 'exec'],
  ['tokenfile', 'tokenFile'],
  ['clientkey', 'client-key'],
  ['clientcertificate', 'client-certificate'],
  ['authprovider', 'auth-provider'],
]);

const USER_FIELDS = new Set([
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
  'token',
  'tokenFile',
  'as',
  'as-uid',
  'as-groups',
  'as-user-extra',
  'username',
  'password',
  'auth-provider',
  'exec',
  'extensions',
]);

class Reader {
  readonly violations: Violation[] = [];

  config(data: unknown): KubeconfigV1 {
    const root = this.object(data, '');
    if (root !== undefined) this.typeFieldLookalikes(root);
    const apiVersion = this.string(root, 'apiVersion', '');
    const kind = this.string(root, 'kind', '');
    if (apiVersion !== '' && apiVersion !== 'v1') {
      this.invalid('apiVersion', `apiVersion ${quote(apiVersion, 40)} is not a kubeconfig version; use "v1"`);
    }
    if (kind !== '' && kind !== 'Config') {
      this.invalid('kind', `kind ${quote(kind, 40)} is not a kubeconfig; use "Config"`);
    }
    const preferences = this.object(root?.['preferences'], 'preferences');
    this.bool(preferences, 'colors', 'preferences');
    const preferenceExtensions = this.extensions(preferences, 'preferences');
    const topExtensions = this.extensions(root, '');
    return {
      apiVersion,
      kind,
      clusters: this.list(root, 'clusters', '', (item, path) => this.namedCluster(item, path)),
      users: this.list(root, 'users', '', (item, path) => this.namedUser(item, path)),
      contexts: this.list(root, 'contexts', '', (item, path) => this.namedContext(item, path)),
      'current-context': this.string(root, 'current-context', ''),
      hasPreferencesOrExtensions:
        preferenceExtensions ||
        topExtensions ||
        (preferences !== undefined && preferences['colors'] === true),
    };
  }

  private namedCluster(data: unknown, path: string): NamedCluster {
    const item = this.object(data, path);
    const at = join(path, 'cluster');
    const cluster = this.object(item?.['cluster'], at);
    const value: Cluster = {
      server: this.string(cluster, 'server', at),
      'tls-server-name': this.string(cluster, 'tls-server-name', at),
      'insecure-skip-tls-verify': this.bool(cluster, 'insecure-skip-tls-verify', at),
      'certificate-authority': this.string(cluster, 'certificate-authority', at),
      'certificate-authority-data': this.bytes(cluster, 'certificate-authority-data', at),
      'proxy-url': this.string(cluster, 'proxy-url', at),
      'disable-compression': this.bool(cluster, 'disable-compression', at),
      hasExtensions: this.extensions(cluster, at),
    };
    return { name: this.string(item, 'name', path), cluster: value };
  }

  private namedContext(data: unknown, path: string): NamedContext {
    const item = this.object(data, path);
    const at = join(path, 'context');
    const context = this.object(item?.['context'], at);
    this.extensions(context, at);
    const value: Context = {
      cluster: this.string(context, 'cluster', at),
      user: this.string(context, 'user', at),
      namespace: this.string(context, 'namespace', at),
    };
    return { name: this.string(item, 'name', path), context: value };
  }

  private namedUser(data: unknown, path: string): NamedUser {
    const item = this.object(data, path);
    const at = join(path, 'user');
    const user = this.object(item?.['user'], at);
    if (user !== undefined) this.lookalikes(user, at);
    this.extensions(user, at);
    const value: AuthInfo = {
      'client-certificate': this.string(user, 'client-certificate', at),
      'client-certificate-data': this.bytes(user, 'client-certificate-data', at),
      'client-key': this.string(user, 'client-key', at),
      'client-key-data': this.bytes(user, 'client-key-data', at),
      token: this.string(user, 'token', at),
      tokenFile: this.string(user, 'tokenFile', at),
      as: this.string(user, 'as', at),
      'as-uid': this.string(user, 'as-uid', at),
      'as-groups': this.strings(user?.['as-groups'], join(at, 'as-groups')),
      'as-user-extra': this.stringListMap(user?.['as-user-extra'], join(at, 'as-user-extra')),
      username: this.string(user, 'username', at),
      password: this.string(user, 'password', at),
      'auth-provider': this.authProvider(user?.['auth-provider'], join(at, 'auth-provider')),
      exec: this.exec(user?.['exec'], join(at, 'exec')),
    };
    return { name: this.string(item, 'name', path), user: value };
  }

  private authProvider(data: unknown, path: string): AuthProviderConfig | undefined {
    if (data === null || data === undefined) return undefined;
    const provider = this.object(data, path);
    return {
      name: this.string(provider, 'name', path),
      config: this.stringMap(provider?.['config'], join(path, 'config')),
    };
  }

  private exec(data: unknown, path: string): ExecConfig | undefined {
    if (data === null || data === undefined) return undefined;
    const exec = this.object(data, path);
    return {
      command: this.string(exec, 'command', path),
      args: this.strings(exec?.['args'], join(path, 'args')),
      env: this.list(exec, 'env', path, (item, at) => {
        const variable = this.object(item, at);
        return { name: this.string(variable, 'name', at), value: this.string(variable, 'value', at) };
      }),
      apiVersion: this.string(exec, 'apiVersion', path),
      installHint: this.string(exec, 'installHint', path),
      provideClusterInfo: this.bool(exec, 'provideClusterInfo', path),
      interactiveMode: this.string(exec, 'interactiveMode', path),
    };
  }

  /**
   * client-go finds apiVersion and kind with Go's case-insensitive encoding/json before it
   * decodes the rest case-sensitively, so `Kind: Secret` makes istiod refuse a kubeconfig that
   * looks fine field by field. Refuse such spellings rather than guess which key Go picks.
   */
  private typeFieldLookalikes(root: Json): void {
    for (const key of Object.keys(root)) {
      if (key === 'apiVersion' || key === 'kind') continue;
      // Only keys of 4 or 10 UTF-16 units can fold to "kind" or "apiversion" (the long s and the
      // Kelvin sign are one unit each), so most keys are passed over without folding.
      if (key.length !== 4 && key.length !== 10) continue;
      // Go's case folding also maps the long s and the Kelvin sign (which toLowerCase handles).
      const folded = key.toLowerCase().replace(/\u017f/g, 's');
      const field = folded === 'apiversion' ? 'apiVersion' : folded === 'kind' ? 'kind' : undefined;
      if (field === undefined) continue;
      this.violations.push(
        violation(
          'ambiguous-yaml',
          join('', key),
          `${quote(key, 40)} is read as "${field}" by client-go's type check, which ignores case`,
          `remove ${quote(key, 40)}; write "${field}" once, in that spelling`,
        ),
      );
    }
  }

  /** Keys that a reader other than client-go could take for an auth field. */
  private lookalikes(user: Json, path: string): void {
    for (const key of Object.keys(user)) {
      if (USER_FIELDS.has(key)) continue;
      const field = SENSITIVE_USER_FIELDS.get(
        key
          .normalize('NFKC')
          .toLowerCase()
          .replace(/[-_\s.]/g, ''),
      );
      if (field === undefined) continue;
      this.violations.push(
        violation(
          'ambiguous-yaml',
          join(path, key),
          `${quote(key, 40)} is not client-go's spelling of "${field}", but other kubeconfig readers honour it`,
          `remove ${quote(key, 40)}; a remote secret must not carry ${field} under any spelling`,
        ),
      );
    }
  }

  private extensions(parent: Json | undefined, path: string): boolean {
    // Load turns the list into a map by name, and a name written twice fails the whole load.
    const names = new Set<string>();
    const items = this.list(parent, 'extensions', path, (item, at) => {
      const extension = this.object(item, at);
      const name = this.string(extension, 'name', at);
      if (names.has(name)) {
        this.invalid(
          join(at, 'name'),
          `the name ${quote(name)} appears twice in extensions, which client-go refuses`,
        );
      }
      names.add(name);
      return extension;
    });
    return items.length > 0;
  }

  private list<T>(
    parent: Json | undefined,
    key: string,
    path: string,
    readItem: (item: unknown, path: string) => T,
  ): T[] {
    const value = parent?.[key];
    const at = join(path, key);
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) {
      this.typeError(at, 'a list', value);
      return [];
    }
    return value.map((item, index) => readItem(item, `${at}[${index}]`));
  }

  private object(value: unknown, path: string): Json | undefined {
    if (value === null || value === undefined) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.typeError(path, 'a mapping', value);
      return undefined;
    }
    return value as Json;
  }

  private string(parent: Json | undefined, key: string, path: string): string {
    const value = parent?.[key];
    if (value === null || value === undefined) return '';
    if (typeof value !== 'string') {
      this.typeError(join(path, key), 'a string', value);
      return '';
    }
    return value;
  }

  private bool(parent: Json | undefined, key: string, path: string): boolean {
    const value = parent?.[key];
    if (value === null || value === undefined) return false;
    if (typeof value !== 'boolean') {
      this.typeError(join(path, key), 'true or false', value);
      return false;
    }
    return value;
  }

  /** A Go `[]byte`: JSON carries it as standard base64, and a bad encoding fails the load. */
  private bytes(parent: Json | undefined, key: string, path: string): string {
    const value = this.string(parent, key, path);
    const compact = withoutLineBreaks(value);
    if (!isStandardBase64(compact)) {
      this.invalid(join(path, key), `${key} is not valid base64`);
      return '';
    }
    return compact;
  }

  private strings(value: unknown, path: string): string[] {
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) {
      this.typeError(path, 'a list of strings', value);
      return [];
    }
    return value.map((item, index) => {
      if (item === null) return '';
      if (typeof item === 'string') return item;
      this.typeError(`${path}[${index}]`, 'a string', item);
      return '';
    });
  }

  private stringMap(value: unknown, path: string): Record<string, string> {
    const map = this.object(value, path);
    const result: Record<string, string> = Object.create(null) as Record<string, string>;
    if (map === undefined) return result;
    for (const key of Object.keys(map)) result[key] = this.string(map, key, path);
    return result;
  }

  private stringListMap(value: unknown, path: string): Record<string, string[]> {
    const map = this.object(value, path);
    const result: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    if (map === undefined) return result;
    for (const key of Object.keys(map)) result[key] = this.strings(map[key], join(path, key));
    return result;
  }

  private typeError(path: string, expected: string, value: unknown): void {
    this.invalid(path, `${path || 'the kubeconfig'} must be ${expected}, not ${describe(value)}`);
  }

  private invalid(path: string, message: string): void {
    this.violations.push(violation('invalid-kubeconfig', path, message, INVALID_HINT));
  }
}

const PLAIN_KEY = /^[A-Za-z_][\w-]*$/;

/** `users[0].user` + `exec` -> `users[0].user.exec`; odd keys are quoted: `data["a b"]`. */
export function join(path: string, key: string): string {
  if (path === '') return key;
  return PLAIN_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Name the JSON type of a value without ever echoing the value: it may be a token. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return 'a string';
}
