import { accessSync, constants } from 'node:fs';
import yargs from 'yargs';
import { ADMISSION_MODES, type AdmissionMode } from '../shared/admission/decide.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import { isDns1123Label, isDns1123Subdomain, isLabelValue } from '../shared/kube/names.ts';
import { parseNumber, type NumberRule } from '../shared/numbers.ts';
import { parseAllowList } from '../shared/kubeconfig/allow-list.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';

/** Every setting, read once in `main`, validated, then passed down. */
export interface WebhookConfig {
  readonly address: string;
  readonly port: number;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsReloadIntervalMs: number;
  /** CA that POST /validate callers' client certificates must chain to; undefined: anyone may call. */
  readonly clientCaFile: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly namespaces: readonly string[];
  readonly localClusterId: string | undefined;
  readonly mode: AdmissionMode;
  readonly allow: AllowList;
  /** How long a watched namespace's watch may fail before new cluster-ID claims are refused. */
  readonly indexMaxStalenessMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Open connections at most; 0: no limit. */
  readonly maxConnections: number;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly events: boolean;
  /** Between background audit passes; 0: no background audit at all. */
  readonly auditIntervalMs: number;
  /** Secrets per list request of a background audit pass (`limit`). */
  readonly auditPageSize: number;
  /** Write a wgpolicyk8s.io PolicyReport per watched namespace after each pass. */
  readonly policyReport: boolean;
  readonly leaderElection: LeaderElectionConfig;
  /** --probe-remotes: undefined when off (the default). */
  readonly probes: ProbeConfig | undefined;
  /** --renew-tokens: undefined when off (the default). */
  readonly renewal: RenewalConfig | undefined;
  readonly logLevel: string;
}

/** --renew-*: the leader renews the tokens of renewable remote secrets (`create --renew`). */
export interface RenewalConfig {
  /** Between checks for tokens that are due; a failed renewal is retried sooner, with backoff. */
  readonly intervalMs: number;
  /** Each call (the TokenRequest to a remote, the update in the primary) is abandoned after this. */
  readonly timeoutMs: number;
  /** Dial loopback servers too (a webhook run outside a cluster, against a local test cluster). */
  readonly allowLoopback: boolean;
}

/** --probe-*: the leader dials each allowed remote with its secret's credentials, as istiod does. */
export interface ProbeConfig {
  readonly intervalMs: number;
  /** Every call for one cluster is abandoned after this long. */
  readonly timeoutMs: number;
  /** Clusters probed at once. */
  readonly concurrency: number;
  /** Dial loopback servers too (a webhook run outside a cluster, against a local test cluster). */
  readonly allowLoopback: boolean;
}

/** --leader-elect*: which replica runs the background audit (admission runs on every one). */
export interface LeaderElectionConfig {
  /** false: this process runs the background audit whatever other replicas do. */
  readonly enabled: boolean;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly leaseName: string;
  /** undefined: POD_NAMESPACE, the service account's namespace, or the kubeconfig context's (main). */
  readonly namespace: string | undefined;
}

/** A flag or environment variable that cannot work: one line on stderr, exit status 2. */
export class ConfigError extends RemoteSecretError {
  override readonly name = 'ConfigError';
  declare readonly code: 'invalid-config';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('invalid-config', message, options);
  }
}

export type ParsedCommandLine =
  { readonly kind: 'run'; readonly config: WebhookConfig } | { readonly kind: 'exit' };

export const ENV_PREFIX = 'REMOTE_SECRET_WEBHOOK';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const OPTIONS = {
  'tls-cert-file': {
    type: 'string',
    describe: 'Serving certificate (PEM); reloaded when it changes',
    group: 'TLS:',
  },
  'tls-key-file': { type: 'string', describe: 'Serving key (PEM); reloaded when it changes', group: 'TLS:' },
  'tls-reload-interval': {
    type: 'string',
    default: '10',
    describe: 'Seconds between checks of the certificate and key files',
    group: 'TLS:',
  },
  'client-ca-file': {
    type: 'string',
    describe:
      "CA (PEM) that signs the API server's client certificate: POST /validate then answers only callers with a certificate it signed (401/403 otherwise); /healthz, /readyz and /metrics need none. Reloaded when it changes. Unset: /validate is unauthenticated (a warning at start)",
    group: 'TLS:',
  },
  mode: {
    choices: ADMISSION_MODES,
    default: 'enforce' as AdmissionMode,
    describe: 'enforce: deny; warn: allow with kubectl warnings; audit: allow, record only',
    group: 'Policy:',
  },
  'local-cluster-id': {
    type: 'string',
    describe: "The primary cluster's own ID (istiod's CLUSTER_ID); a remote secret must not claim it",
    group: 'Policy:',
  },
  allow: {
    type: 'string',
    array: true,
    describe:
      "Allow insecure kubeconfig options: the value of istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS as it stands (exec, tokenFile, clientKey, clientCertificate or an auth provider name, comma-separated, no spaces), or certificateAuthority (ours, not Istio's) for certificate-authority file paths; repeatable",
    group: 'Policy:',
  },
  'index-max-staleness': {
    type: 'string',
    default: '30',
    describe:
      "Seconds the cluster ID index may go without a working watch of the API server before a claim on a cluster ID the secret did not already hold is refused as retryable (503 with Retry-After, which kubectl retries; see docs/adr/0003); updates that keep a secret's cluster IDs still pass. 0: as soon as the watch fails",
    group: 'Policy:',
  },
  namespace: {
    type: 'string',
    array: true,
    default: ['istio-system'],
    describe: 'Namespace(s) whose remote secrets hold cluster IDs (where istiod reads them)',
    group: 'Kubernetes:',
  },
  kubeconfig: {
    type: 'string',
    describe:
      'Kubeconfig to reach the API server when not running in a cluster (trusted: the operator’s own)',
    group: 'Kubernetes:',
  },
  context: { type: 'string', describe: 'Context in --kubeconfig to use', group: 'Kubernetes:' },
  events: {
    type: 'boolean',
    default: true,
    describe:
      'Write a Warning Event for each secret with violations, at admission and from the background audit (--no-events to turn off)',
    group: 'Kubernetes:',
  },
  'audit-interval': {
    type: 'string',
    default: '60',
    describe:
      'Seconds between full background audits of the stored remote secrets (metrics, one Event per newly non-compliant secret); in between, each secret the informer sees change is reconciled alone, and skipped when its data is unchanged. 0 turns the background audit off',
    group: 'Background audit:',
  },
  'audit-page-size': {
    type: 'string',
    default: '100',
    describe:
      'Secrets per list request of a background audit (limit/continue): bounds the memory of its worker thread',
    group: 'Background audit:',
  },
  'policy-report': {
    type: 'boolean',
    default: false,
    describe:
      'Also write the results as a wgpolicyk8s.io/v1alpha2 PolicyReport per watched namespace (needs the CRD and the RBAC rule in manifests/base/rbac.yaml)',
    group: 'Background audit:',
  },
  'leader-elect': {
    type: 'boolean',
    default: true,
    describe:
      "Run the background audit on one replica only, the holder of a coordination.k8s.io/v1 Lease (admission runs on every replica). Also outside a cluster with --kubeconfig, so a process run by hand does not double the cluster's audit; --no-leader-elect runs it here regardless",
    group: 'Leader election:',
  },
  'leader-elect-lease-duration': {
    type: 'string',
    default: '15',
    describe:
      'Seconds the other replicas wait, from when they last saw the Lease renewed (on their own clock), before taking it over from a leader that stopped without releasing it',
    group: 'Leader election:',
  },
  'leader-elect-renew-deadline': {
    type: 'string',
    default: '10',
    describe:
      'Seconds the leader keeps trying to renew before it stops its background work; under --leader-elect-lease-duration',
    group: 'Leader election:',
  },
  'leader-elect-retry-period': {
    type: 'string',
    default: '2',
    describe:
      'Seconds between attempts to acquire (jittered) or renew the Lease; under --leader-elect-renew-deadline',
    group: 'Leader election:',
  },
  'leader-elect-lease-name': {
    type: 'string',
    default: 'remote-secret-webhook',
    describe: 'Name of the Lease',
    group: 'Leader election:',
  },
  'leader-elect-namespace': {
    type: 'string',
    describe:
      "Namespace of the Lease; default: $POD_NAMESPACE (the Deployment sets it from the downward API), else the service account's namespace, else the --kubeconfig context's namespace, else default",
    group: 'Leader election:',
  },
  'probe-remotes': {
    type: 'boolean',
    default: false,
    describe:
      "On the leader, also probe each allowed remote from the primary's network as istiod would reach it: with the secret's own kubeconfig (sanitized) the webhook dials the server the secret names, sends its token, and asks for the version, who it is (SelfSubjectReview) and each of Istio's reader permissions (SelfSubjectAccessReview). Results go to metrics, a RemoteSecretUnreachable Event when a cluster gets worse, and with --policy-report a PolicyReport. Never dials loopback or link-local addresses, never follows redirects, never dials a proxy-url",
    group: 'Remote probes:',
  },
  'probe-interval': {
    type: 'string',
    default: '300',
    describe: 'Seconds between rounds of remote probes (the first round runs soon after this replica leads)',
    group: 'Remote probes:',
  },
  'probe-timeout': {
    type: 'string',
    default: '5',
    describe:
      'Seconds one cluster may take, all of its calls together; a server that does not answer in time is unreachable',
    group: 'Remote probes:',
  },
  'probe-concurrency': {
    type: 'string',
    default: '8',
    describe: 'Clusters probed at once',
    group: 'Remote probes:',
  },
  'probe-allow-loopback': {
    type: 'boolean',
    default: false,
    describe:
      'Dial loopback servers too: only for a webhook run outside a cluster against a test cluster on the same machine. In a pod, loopback is the pod itself, never a remote',
    group: 'Remote probes:',
  },
  'renew-tokens': {
    type: 'boolean',
    default: false,
    describe:
      "On the leader, renew the tokens of renewable remote secrets (kubectl remote-secret create --token-duration D --renew) once the share of their life that the secret's renew-after annotation names has passed: a TokenRequest to the remote with the current token, through the sanitized kubeconfig (no exec, no files, no redirects, no loopback or link-local addresses), then a merge patch of the secret conditional on its resourceVersion, which this webhook checks like any other update. Needs patch on Secrets in the watched namespaces (Helm renewal.enabled, kustomize components/renewal)",
    group: 'Token renewal:',
  },
  'renew-interval': {
    type: 'string',
    default: '60',
    describe:
      'Most seconds between checks for tokens that are due (the leader also wakes when the next one is due; a failed renewal is retried sooner, with backoff)',
    group: 'Token renewal:',
  },
  'renew-timeout': {
    type: 'string',
    default: '10',
    describe: 'Seconds each renewal call may take: the TokenRequest to a remote, the update in the primary',
    group: 'Token renewal:',
  },
  'renew-allow-loopback': {
    type: 'boolean',
    default: false,
    describe:
      'Dial loopback servers too: only for a webhook run outside a cluster against a test cluster on the same machine',
    group: 'Token renewal:',
  },
  address: { type: 'string', default: '0.0.0.0', describe: 'Address to listen on', group: 'Server:' },
  port: { type: 'string', default: '8443', describe: 'HTTPS port', group: 'Server:' },
  'request-timeout': {
    type: 'string',
    default: '3',
    describe: "Seconds to receive and answer one request; keep it under the webhook's timeoutSeconds",
    group: 'Server:',
  },
  'keep-alive-timeout': {
    type: 'string',
    default: '100',
    describe: "Seconds an idle connection stays open; above the API server's 90 s so it closes first",
    group: 'Server:',
  },
  'max-connections': {
    type: 'string',
    default: '128',
    describe:
      'Open connections at most (0: no limit); one more is closed as it is accepted, before any TLS work, and counted. Each costs 100-200 KB, which the process keeps afterwards: this bounds its memory',
    group: 'Server:',
  },
  'shutdown-delay': {
    type: 'string',
    default: '5',
    describe:
      'Seconds to keep serving after SIGTERM while /readyz fails and endpoints update (longer while admission requests still arrive, up to half-way to --shutdown-timeout)',
    group: 'Server:',
  },
  'shutdown-timeout': {
    type: 'string',
    default: '25',
    describe: 'Seconds after SIGTERM by which in-flight requests must be done',
    group: 'Server:',
  },
  'log-level': { choices: LOG_LEVELS, default: 'info' as string, describe: 'Log level', group: 'Server:' },
} as const;

/** Every flag `--help` lists (and each has a REMOTE_SECRET_WEBHOOK_<FLAG> variable). */
export const FLAG_NAMES: readonly string[] = Object.keys(OPTIONS);

/**
 * Parse flags, with `REMOTE_SECRET_WEBHOOK_<FLAG>` environment variables as fallbacks
 * (`--tls-cert-file` <- `REMOTE_SECRET_WEBHOOK_TLS_CERT_FILE`). `--help` prints and exits.
 */
export async function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  print: (text: string) => void = (text) => process.stdout.write(`${text}\n`),
): Promise<ParsedCommandLine> {
  const printed = { help: false };
  const parser = yargs(argv)
    .scriptName('remote-secret-webhook')
    .usage(
      'The admission webhook that checks Istio remote secrets (Secrets labelled istio/multiCluster: "true") on create and update.\n\nUsage: $0 --tls-cert-file FILE --tls-key-file FILE [options]',
    )
    .parserConfiguration({ 'camel-case-expansion': false })
    .options(OPTIONS)
    .example(
      '$0 --tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key --local-cluster-id primary',
      'In a cluster (the Deployment in manifests/)',
    )
    .example(
      '$0 --kubeconfig ~/.kube/config --tls-cert-file tls.crt --tls-key-file tls.key --port 9443 --mode warn',
      'Outside a cluster, for tests and demos',
    )
    .epilog(
      `Every flag can also be set from the environment as ${ENV_PREFIX}_<FLAG>, e.g. ${ENV_PREFIX}_LOCAL_CLUSTER_ID. Exit status: 0 after a clean shutdown; 2 for a configuration error.`,
    )
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((message, error) => {
      throw error instanceof Error
        ? new ConfigError(error.message, { cause: error })
        : new ConfigError(message);
    });
  const args = await parser.parseAsync([...envArgs(argv, env), ...argv], {}, (_error, _argv, output) => {
    if (output !== '') {
      printed.help = true;
      print(output);
    }
  });
  if (printed.help) return { kind: 'exit' };
  return { kind: 'run', config: validate(args) };
}

/** `REMOTE_SECRET_WEBHOOK_<FLAG>` for every flag not given on the command line. */
function envArgs(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const given = new Set(argv.map((arg) => arg.replace(/^--(no-)?/, '').replace(/=.*$/, '')));
  const out: string[] = [];
  for (const flag of Object.keys(OPTIONS)) {
    const value = env[`${ENV_PREFIX}_${flag.replaceAll('-', '_').toUpperCase()}`];
    if (value === undefined || given.has(flag)) continue;
    out.push(`--${flag}=${value}`);
  }
  return out;
}

interface RawArgs {
  readonly 'tls-cert-file'?: string | undefined;
  readonly 'tls-key-file'?: string | undefined;
  readonly 'tls-reload-interval': string;
  readonly 'client-ca-file'?: string | undefined;
  readonly mode: AdmissionMode;
  readonly 'local-cluster-id'?: string | undefined;
  readonly allow?: readonly (string | number)[] | undefined;
  readonly 'index-max-staleness': string;
  readonly namespace: readonly (string | number)[];
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly events: boolean;
  readonly 'audit-interval': string;
  readonly 'audit-page-size': string;
  readonly 'policy-report': boolean;
  readonly 'leader-elect': boolean;
  readonly 'leader-elect-lease-duration': string;
  readonly 'leader-elect-renew-deadline': string;
  readonly 'leader-elect-retry-period': string;
  readonly 'leader-elect-lease-name': string;
  readonly 'leader-elect-namespace'?: string | undefined;
  readonly 'probe-remotes': boolean;
  readonly 'probe-interval': string;
  readonly 'probe-timeout': string;
  readonly 'probe-concurrency': string;
  readonly 'probe-allow-loopback': boolean;
  readonly 'renew-tokens': boolean;
  readonly 'renew-interval': string;
  readonly 'renew-timeout': string;
  readonly 'renew-allow-loopback': boolean;
  readonly address: string;
  readonly port: string;
  readonly 'request-timeout': string;
  readonly 'keep-alive-timeout': string;
  readonly 'max-connections': string;
  readonly 'shutdown-delay': string;
  readonly 'shutdown-timeout': string;
  readonly 'log-level': string;
}

function validate(args: RawArgs): WebhookConfig {
  const tlsCertFile = readableFile(args['tls-cert-file'], '--tls-cert-file');
  const tlsKeyFile = readableFile(args['tls-key-file'], '--tls-key-file');
  const kubeconfig =
    args.kubeconfig === undefined ? undefined : readableFile(args.kubeconfig, '--kubeconfig');
  const localClusterId = args['local-cluster-id'];
  if (localClusterId !== undefined && !isLabelValue(localClusterId)) {
    throw new ConfigError(
      `--local-cluster-id ${JSON.stringify(localClusterId)}: a cluster ID is a label value (at most 63 letters, digits, "-", "_", ".")`,
    );
  }
  const namespaces = [
    ...new Set(args.namespace.flatMap((entry) => String(entry).split(',')).map((ns) => ns.trim())),
  ].filter((ns) => ns !== '');
  if (namespaces.length === 0) throw new ConfigError('--namespace: name at least one namespace');
  for (const namespace of namespaces) {
    if (!isDns1123Label(namespace)) {
      throw new ConfigError(`--namespace ${namespace}: not a namespace name`);
    }
  }
  const allow: AllowList = parseAllowList((args.allow ?? []).map(String));
  const port = number(args.port, '--port', { min: 0, max: 65_535, whole: true });
  const requestTimeout = seconds(args['request-timeout'], '--request-timeout', 0.1, 29);
  const keepAlive = seconds(args['keep-alive-timeout'], '--keep-alive-timeout', 1, 3600);
  const maxConnections = number(args['max-connections'], '--max-connections', {
    min: 0,
    max: 100_000,
    whole: true,
    or: ' (0: no limit)',
  });
  const shutdownDelay = seconds(args['shutdown-delay'], '--shutdown-delay', 0, 300);
  const shutdownTimeout = seconds(args['shutdown-timeout'], '--shutdown-timeout', 0.1, 3600);
  const auditInterval =
    args['audit-interval'].trim() === '0'
      ? 0
      : seconds(args['audit-interval'], '--audit-interval', 1, 86_400, ' (or 0 to turn it off)');
  const auditPageSize = number(args['audit-page-size'], '--audit-page-size', {
    min: 1,
    max: 10_000,
    whole: true,
  });
  if (args['policy-report'] && auditInterval === 0) {
    throw new ConfigError('--policy-report needs the background audit: set --audit-interval above 0');
  }
  if (args['probe-remotes'] && auditInterval === 0) {
    throw new ConfigError(
      '--probe-remotes runs beside the background audit, on its leader: set --audit-interval above 0',
    );
  }
  if (shutdownTimeout <= shutdownDelay) {
    throw new ConfigError(
      `--shutdown-timeout (${shutdownTimeout}s) must be longer than --shutdown-delay (${shutdownDelay}s)`,
    );
  }
  return {
    address: args.address,
    port,
    tlsCertFile,
    tlsKeyFile,
    tlsReloadIntervalMs: seconds(args['tls-reload-interval'], '--tls-reload-interval', 0.05, 3600) * 1000,
    clientCaFile: optionalFile(args['client-ca-file'], '--client-ca-file'),
    kubeconfig,
    context: args.context,
    namespaces,
    localClusterId,
    mode: args.mode,
    allow,
    indexMaxStalenessMs: seconds(args['index-max-staleness'], '--index-max-staleness', 0, 86_400) * 1000,
    requestTimeoutMs: requestTimeout * 1000,
    keepAliveTimeoutMs: keepAlive * 1000,
    maxConnections,
    shutdownDelayMs: shutdownDelay * 1000,
    shutdownTimeoutMs: shutdownTimeout * 1000,
    events: args.events,
    auditIntervalMs: auditInterval * 1000,
    auditPageSize,
    policyReport: args['policy-report'],
    leaderElection: leaderElection(args),
    probes: args['probe-remotes'] ? probes(args) : undefined,
    renewal: args['renew-tokens'] ? renewal(args) : undefined,
    logLevel: args['log-level'],
  };
}

function leaderElection(args: RawArgs): LeaderElectionConfig {
  const lease = seconds(args['leader-elect-lease-duration'], '--leader-elect-lease-duration', 1, 3600);
  const renew = seconds(args['leader-elect-renew-deadline'], '--leader-elect-renew-deadline', 0.1, 3600);
  const retry = seconds(args['leader-elect-retry-period'], '--leader-elect-retry-period', 0.05, 3600);
  if (renew >= lease) {
    throw new ConfigError(
      `--leader-elect-renew-deadline (${String(renew)}s) must be shorter than --leader-elect-lease-duration (${String(lease)}s)`,
    );
  }
  if (retry >= renew) {
    throw new ConfigError(
      `--leader-elect-retry-period (${String(retry)}s) must be shorter than --leader-elect-renew-deadline (${String(renew)}s)`,
    );
  }
  const leaseName = args['leader-elect-lease-name'];
  if (!isDns1123Subdomain(leaseName)) {
    throw new ConfigError(`--leader-elect-lease-name ${JSON.stringify(leaseName)}: not a valid object name`);
  }
  const namespace = args['leader-elect-namespace'];
  if (namespace !== undefined && !isDns1123Label(namespace)) {
    throw new ConfigError(`--leader-elect-namespace ${JSON.stringify(namespace)}: not a namespace name`);
  }
  return {
    enabled: args['leader-elect'],
    leaseDurationMs: lease * 1000,
    renewDeadlineMs: renew * 1000,
    retryPeriodMs: retry * 1000,
    leaseName,
    namespace,
  };
}

function probes(args: RawArgs): ProbeConfig {
  return {
    intervalMs: seconds(args['probe-interval'], '--probe-interval', 1, 86_400) * 1000,
    timeoutMs: seconds(args['probe-timeout'], '--probe-timeout', 0.1, 300) * 1000,
    concurrency: number(args['probe-concurrency'], '--probe-concurrency', { min: 1, max: 256, whole: true }),
    allowLoopback: args['probe-allow-loopback'],
  };
}

function renewal(args: RawArgs): RenewalConfig {
  return {
    intervalMs: seconds(args['renew-interval'], '--renew-interval', 1, 86_400) * 1000,
    timeoutMs: seconds(args['renew-timeout'], '--renew-timeout', 0.1, 300) * 1000,
    allowLoopback: args['renew-allow-loopback'],
  };
}

function readableFile(path: string | undefined, flag: string): string {
  if (path === undefined || path === '') {
    throw new ConfigError(
      `${flag} is required (or set ${ENV_PREFIX}_${flag.slice(2).replaceAll('-', '_').toUpperCase()})`,
    );
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new ConfigError(
      `${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: error,
      },
    );
  }
  return path;
}

/** A file flag that may be left out, but not given empty (an empty variable is a mistake). */
function optionalFile(path: string | undefined, flag: string): string | undefined {
  if (path === undefined) return undefined;
  if (path.trim() === '') {
    throw new ConfigError(`${flag} is empty: name a file, or leave it unset`);
  }
  return readableFile(path, flag);
}

function seconds(text: string, flag: string, min: number, max: number, or = ''): number {
  return number(text, flag, { min, max, unit: 'seconds', or });
}

function number(text: string, flag: string, rule: NumberRule): number {
  const parsed = parseNumber(text, flag, rule);
  if (!parsed.ok) throw new ConfigError(parsed.message);
  return parsed.value;
}
