import type { KeyObject, X509Certificate } from 'node:crypto';
import { violation, type Violation } from '../violations.ts';
import { serverUrl } from './go-url.ts';
import type { AuthInfo, Cluster, KubeconfigV1 } from './model.ts';
import { quote } from './quote.ts';
import type { AllowList } from './sanitize.ts';

const HINT = 're-create the kubeconfig with `kubectl remote-secret create`';

/**
 * What istiod refuses after Load, Validate and its sanitizer: building the clients for the
 * current context (client-go's `ClientConfig()`, then `kubernetes.NewForConfig`, which sets up
 * TLS and the auth plugin). Only the current context's cluster and user are built, so only those
 * are checked. Call it on a kubeconfig that validated; an auth provider the allow-list refuses is
 * the sanitizer's to report.
 */
export function clientConfigViolations(config: KubeconfigV1, allow: AllowList): Violation[] {
  const violations: Violation[] = [];
  const context = config.contexts.find(({ name }) => name === config['current-context'])?.context;
  if (context === undefined) return violations;
  const clusterIndex = config.clusters.findIndex(({ name }) => name === context.cluster);
  const cluster = config.clusters[clusterIndex];
  if (cluster === undefined) return violations;
  const server = serverUrl(cluster.cluster.server);
  // client-go applies the CA and every credential only to an https server: over http the user
  // and the CA data are never looked at (and never sent).
  const secure = server.ok && server.scheme === 'https';
  {
    const problems: [string, string][] = server.ok
      ? []
      : [['.server', `istiod cannot use the server URL: ${server.problem}`]];
    if (secure) problems.push(...clusterClientProblems(cluster.cluster));
    for (const [path, message] of problems) {
      violations.push(
        violation(
          'invalid-kubeconfig',
          `clusters[${String(clusterIndex)}].cluster${path}`,
          `cluster ${quote(cluster.name)}: ${message}`,
          HINT,
        ),
      );
    }
  }
  const userIndex = config.users.findIndex(({ name }) => name === context.user);
  const user = config.users[userIndex];
  if (user !== undefined && secure) {
    const provider = user.user['auth-provider'];
    const providerAllowed = provider !== undefined && (provider.name === 'oidc' || allow.has(provider.name));
    for (const [path, message] of userClientProblems(user.user, providerAllowed)) {
      violations.push(
        violation(
          path === '.auth-provider' ? 'auth-provider' : 'invalid-kubeconfig',
          `users[${String(userIndex)}].user${path}`,
          `user ${quote(user.name)}: ${message}`,
          HINT,
        ),
      );
    }
  }
  return violations;
}

function clusterClientProblems(cluster: Cluster): [string, string][] {
  const problems: [string, string][] = [];
  const caData = cluster['certificate-authority-data'];
  if (caData !== '' && !holdsCertificate(caData)) {
    problems.push([
      '.certificate-authority-data',
      'certificate-authority-data holds no PEM certificate that client-go can parse, so istiod cannot build a client',
    ]);
  }
  return problems;
}

/**
 * The user's part: the client certificate pair, basic auth beside a token file, the auth provider,
 * the exec plugin's API.
 */
function userClientProblems(user: AuthInfo, checkProvider: boolean): [string, string][] {
  const problems: [string, string][] = [];
  const certificate = user['client-certificate-data'];
  const key = user['client-key-data'];
  if (certificate !== '' && key !== '') {
    const problem = keyPairProblem(certificate, key);
    if (problem !== undefined) problems.push(['.client-certificate-data', problem]);
  }
  // Validate counts only `token` against basic auth; the transport also counts the token that
  // ClientConfig read from `tokenFile` (HasTokenAuth), and only a username makes basic auth.
  if (user.username !== '' && user.token === '' && user.tokenFile !== '') {
    problems.push([
      '.tokenFile',
      'username and tokenFile are both set: client-go refuses basic auth together with a bearer token ("username/password or bearer token may be set, but not both"); keep one',
    ]);
  }
  const provider = user['auth-provider'];
  if (provider !== undefined && checkProvider) {
    problems.push(...authProviderProblems(provider.name, provider.config));
  }
  const exec = user.exec;
  if (exec !== undefined && exec.apiVersion !== '' && !EXEC_API_VERSIONS.has(exec.apiVersion)) {
    problems.push([
      '.exec.apiVersion',
      `exec apiVersion ${JSON.stringify(exec.apiVersion)} is not one client-go supports (client.authentication.k8s.io/v1 or v1beta1)`,
    ]);
  }
  return problems;
}

const EXEC_API_VERSIONS = new Set([
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
]);

/**
 * client-go's auth provider plugins as istiod links them: gcp and azure are stubs that fail
 * ("has been removed"), no other name is registered, and oidc needs an issuer and a client ID.
 */
function authProviderProblems(name: string, config: Readonly<Record<string, string>>): [string, string][] {
  if (name === 'gcp' || name === 'azure') {
    return [
      [
        '.auth-provider',
        `the ${name} auth provider was removed from client-go, so istiod cannot use it even when allowed; use an exec credential plugin`,
      ],
    ];
  }
  if (name !== 'oidc') {
    return [['.auth-provider', `client-go has no auth provider named ${JSON.stringify(name)}`]];
  }
  const problems: [string, string][] = [];
  if ((config['idp-issuer-url'] ?? '') === '') {
    problems.push(['.auth-provider.config', 'the oidc auth provider needs idp-issuer-url']);
  } else if ((config['client-id'] ?? '') === '') {
    problems.push(['.auth-provider.config', 'the oidc auth provider needs client-id']);
  }
  const caData = config['idp-certificate-authority-data'] ?? '';
  if (problems.length === 0 && caData !== '') {
    const decoded = decodeStdBase64(caData);
    if (decoded === undefined || !holdsCertificate(decoded.toString('base64'))) {
      problems.push([
        '.auth-provider.config',
        'idp-certificate-authority-data holds no PEM certificate that client-go can parse',
      ]);
    }
  }
  return problems;
}

/** Go's base64.StdEncoding.DecodeString: padded standard alphabet, \r and \n ignored. */
function decodeStdBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** One PEM block as Go's encoding/pem.Decode returns it. */
interface PemBlock {
  readonly type: string;
  readonly hasHeaders: boolean;
  readonly der: Buffer;
}

/**
 * Go's pem.Decode over a whole text: a "-----BEGIN TYPE-----" line, optional "Key: value"
 * headers, base64 (spaces, tabs and line breaks ignored), and the matching END line. A block
 * that does not decode is skipped, as Go then goes on searching after its BEGIN line.
 */
function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const begin = /(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t\r]*\n/g;
  let match: RegExpExecArray | null;
  while ((match = begin.exec(text)) !== null) {
    const type = match[1] ?? '';
    const bodyStart = begin.lastIndex;
    const endMarker = `\n-----END ${type}-----`;
    const end = text.indexOf(endMarker, bodyStart - 1);
    if (end === -1) continue;
    const endLineRest = /^[ \t\r]*(?:\n|$)/.exec(text.slice(end + endMarker.length));
    if (endLineRest === null) continue;
    let body = text.slice(bodyStart, end);
    let hasHeaders = false;
    const headerEnd = /^(?:[^\n:]+:[^\n]*\n)+\n/.exec(body.endsWith('\n') ? body : `${body}\n`);
    if (headerEnd !== null) {
      hasHeaders = true;
      body = body.slice(headerEnd[0].length);
    }
    const compact = body.replace(/[ \t\r\n]/g, '');
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) continue;
    blocks.push({ type, hasHeaders, der: Buffer.from(compact, 'base64') });
    begin.lastIndex = end + endMarker.length;
  }
  return blocks;
}

/**
 * What CA data client-go accepts (x509.CertPool.AppendCertsFromPEM): at least one CERTIFICATE
 * block without headers that parses. Answers are remembered, since one CA is usually shared by
 * many remote secrets and parsing a certificate costs more than reading a kubeconfig.
 */
export function holdsCertificate(base64: string): boolean {
  const known = caDataAnswers.get(base64);
  if (known !== undefined) return known;
  const pem = Buffer.from(base64, 'base64').toString('latin1');
  const answer = pemBlocks(pem).some(
    ({ type, hasHeaders, der }) =>
      type === 'CERTIFICATE' && !hasHeaders && parseCertificate(der) !== undefined,
  );
  remember(caDataAnswers, base64, answer);
  return answer;
}

const caDataAnswers = new Map<string, boolean>();
const ANSWERS_KEPT = 256;

function remember<V>(answers: Map<string, V>, key: string, value: V): void {
  if (answers.size >= ANSWERS_KEPT) {
    const oldest = answers.keys().next();
    if (oldest.done !== true) answers.delete(oldest.value);
  }
  answers.set(key, value);
}

/** Go's tls.X509KeyPair on the two data fields: both parse, and the key belongs to the certificate. */
function keyPairProblem(certificateBase64: string, keyBase64: string): string | undefined {
  const certificates = pemBlocks(Buffer.from(certificateBase64, 'base64').toString('latin1')).filter(
    ({ type }) => type === 'CERTIFICATE',
  );
  const leafDer = certificates[0]?.der;
  if (leafDer === undefined) return 'client-certificate-data holds no PEM certificate';
  const keyBlock = pemBlocks(Buffer.from(keyBase64, 'base64').toString('latin1')).find(
    ({ type }) => type === 'PRIVATE KEY' || type.endsWith(' PRIVATE KEY'),
  );
  if (keyBlock === undefined) return 'client-key-data holds no PEM private key';
  const leaf = parseCertificate(leafDer);
  if (leaf === undefined) return 'client-certificate-data holds a certificate that client-go cannot parse';
  const key = parsePrivateKey(keyBlock.der);
  if (key === undefined) return 'client-key-data holds a private key that client-go cannot parse';
  if (!leaf.checkPrivateKey(key)) return 'client-key-data does not belong to client-certificate-data';
  return undefined;
}

/** Go's tls parsePrivateKey: PKCS #1, then PKCS #8, then SEC 1, whatever the block's type says. */
function parsePrivateKey(der: Buffer): KeyObject | undefined {
  const crypto = process.getBuiltinModule('node:crypto');
  for (const type of ['pkcs1', 'pkcs8', 'sec1'] as const) {
    try {
      return crypto.createPrivateKey({ key: der, format: 'der', type });
    } catch {
      // try the next encoding
    }
  }
  return undefined;
}

function parseCertificate(der: Buffer): X509Certificate | undefined {
  const crypto = process.getBuiltinModule('node:crypto');
  try {
    return new crypto.X509Certificate(der);
  } catch {
    return undefined;
  }
}
