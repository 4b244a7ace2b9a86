import yargs, { type Argv } from 'yargs';
import { buildInfo } from './build-info.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import { normalizeShortFlags } from './argv.ts';
import {
  durationFlag,
  EXIT_USAGE,
  exitStatusOf,
  numberFlag,
  toList,
  UsageError,
  writeError,
} from './cli-io.ts';
import { COMPLETION_SHELLS } from './completion.ts';
import { versionLine } from './version.ts';

/** --kubeconfig and --context of the primary cluster, for the commands that only talk to it. */
const PRIMARY_CLUSTER_OPTIONS = {
  kubeconfig: {
    type: 'string',
    requiresArg: true,
    describe: "The primary cluster's kubeconfig (default: $KUBECONFIG or ~/.kube/config)",
  },
  context: { type: 'string', requiresArg: true, describe: "The primary cluster's context" },
} as const;

/** -n of the commands that read the remote secrets stored in the primary. */
const REMOTE_SECRETS_NAMESPACE = {
  namespace: {
    alias: 'n',
    type: 'string',
    requiresArg: true,
    default: 'istio-system',
    describe: 'Namespace of the remote secrets in the primary',
  },
} as const;

/** --timeout (the whole command) and --request-timeout (each call), as every cluster command has them. */
function timeoutOptions(defaults: {
  readonly whole: string;
  readonly call: string;
  readonly waits?: string;
}) {
  return {
    timeout: {
      type: 'string',
      requiresArg: true,
      default: defaults.whole,
      describe: `How long the whole command may take${defaults.waits === undefined ? '' : `, ${defaults.waits} included`}`,
    },
    'request-timeout': {
      type: 'string',
      requiresArg: true,
      default: defaults.call,
      describe: 'How long each API call may take',
    },
  } as const;
}

/**
 * `kubectl remote-secret`: the plugin's entry point. It only parses the command line; each
 * command's module is imported when it runs, so `check` never loads the Kubernetes client.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  // kubectl's `-ojson`, `-nNS`, `-n=NS`; completion words are handed over as the shell typed them.
  const words = argv[0] === '--get-yargs-completions' ? [...argv] : normalizeShortFlags(argv);
  const parser = yargs(words)
    .scriptName('kubectl remote-secret')
    .usage(
      'Create, check and audit Istio multicluster remote secrets safely.\n\nUsage: $0 <command> [options]',
    )
    .command(
      'check [files..]',
      'Lint remote secret manifests offline: auth that runs code or reads files, unusable kubeconfigs, bad or clashing cluster IDs',
      (command) =>
        command
          .positional('files', {
            describe:
              'Secret manifests (YAML or JSON, multi-document, or a List); "-" or none for standard input',
            type: 'string',
            array: true,
          })
          .option('local-cluster-id', {
            describe: "The primary cluster's own ID (istiod's CLUSTER_ID); a remote secret must not claim it",
            type: 'string',
            requiresArg: true,
          })
          .option('allow', {
            describe:
              "Allow insecure kubeconfig options: the value of istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS as it stands (exec, tokenFile, clientKey, clientCertificate or an auth provider name, comma-separated, no spaces), or certificateAuthority (ours, not Istio's) for certificate-authority file paths; repeatable",
            type: 'string',
            requiresArg: true,
          })
          .option('output', {
            alias: 'o',
            describe: 'Output format',
            choices: ['text', 'json'] as const,
            default: 'text' as const,
          })
          .example('$0 check istio-remote-secret-east.yaml', 'Check a secret written by `create`')
          .example(
            'kubectl get secrets -n istio-system -l istio/multiCluster=true -o yaml | $0 check --local-cluster-id primary',
            'Check the remote secrets stored in a primary cluster',
          )
          .epilog(
            'Exit status: 0 every remote secret is allowed; 1 a secret is rejected or a document cannot be read; 2 usage error or unreadable file.',
          ),
      async (args) => {
        const { runCheck } = await import('./check.ts');
        exitCode = await runCheck({
          files: args.files ?? [],
          localClusterId: args['local-cluster-id'],
          allow: toList(args.allow),
          output: args.output,
        });
      },
    )
    .command(
      'create',
      'Create a least-privilege, exec-free remote secret for a remote cluster (istioctl create-remote-secret, and better)',
      (command) =>
        command
          .options({
            kubeconfig: {
              alias: 'c',
              type: 'string',
              requiresArg: true,
              describe:
                "The remote cluster's kubeconfig (default: $KUBECONFIG or ~/.kube/config); exec logins are fine here",
            },
            context: {
              type: 'string',
              requiresArg: true,
              describe: "The remote cluster's context in that kubeconfig (default: its current context)",
            },
            name: {
              type: 'string',
              requiresArg: true,
              describe:
                "The remote's cluster ID (the secret's data key), a DNS-1123 label (default: the UID of its kube-system namespace)",
            },
            server: {
              type: 'string',
              requiresArg: true,
              describe: "The https:// address istiod dials (default: the context's server)",
            },
            'tls-server-name': {
              type: 'string',
              requiresArg: true,
              describe:
                "Server name to verify the API server's certificate against (for proxies and TLS-passthrough gateways)",
            },
            namespace: {
              alias: 'n',
              type: 'string',
              requiresArg: true,
              describe:
                "Namespace of the ServiceAccount and of the secret (default: --istio-namespace; never the kubeconfig context's)",
            },
            'istio-namespace': {
              alias: 'i',
              type: 'string',
              requiresArg: true,
              default: 'istio-system',
              describe: "Istio's namespace",
            },
            'service-account': {
              type: 'string',
              requiresArg: true,
              describe:
                'ServiceAccount whose token the secret holds (default: istio-reader-service-account; istiod for --type config)',
            },
            'create-service-account': {
              type: 'boolean',
              default: true,
              describe: "Create the ServiceAccount, Istio's reader ClusterRole and its binding when missing",
            },
            'secret-name': {
              type: 'string',
              requiresArg: true,
              describe: 'Use this existing service-account token Secret',
            },
            type: {
              type: 'string',
              choices: ['remote', 'config'],
              default: 'remote',
              describe:
                'remote: istio-remote-secret-<name>, key <name>; config: istio-kubeconfig, key config (external istiod)',
            },
            'auth-type': {
              type: 'string',
              choices: ['bearer-token', 'plugin'],
              default: 'bearer-token',
              describe: 'How istiod authenticates: a ServiceAccount token, or an auth provider',
            },
            'auth-plugin-name': {
              type: 'string',
              requiresArg: true,
              describe: 'Auth provider with --auth-type plugin (only oidc is accepted by istiod by default)',
            },
            'auth-plugin-config': {
              type: 'string',
              requiresArg: true,
              describe: 'Auth provider config, key=value (repeatable, or comma-separated)',
            },
            'token-duration': {
              type: 'string',
              requiresArg: true,
              describe:
                'Mint a token that expires after this long (TokenRequest API), e.g. 720h; prints when it expires',
            },
            rotate: {
              type: 'boolean',
              default: false,
              describe:
                'Create a new token Secret and emit the secret with the new token; the old token keeps working',
            },
            'retire-old': {
              type: 'boolean',
              default: false,
              describe: "Delete the ServiceAccount's other token Secrets (after --rotate has been applied)",
            },
            renew: {
              type: 'boolean',
              default: false,
              describe:
                'With --token-duration: let the ServiceAccount request its own tokens (a Role and RoleBinding on the remote) and mark the secret renewable, for kubectl remote-secret renew',
            },
            'renew-after': {
              type: 'string',
              requiresArg: true,
              describe: "With --renew: the share of a token's life after which it is renewed (default 0.67)",
            },
            'ca-from': {
              type: 'string',
              choices: ['token-secret', 'kubeconfig'],
              default: 'token-secret',
              describe:
                "CA for the server: the cluster's (token Secret ca.crt), or the kubeconfig's (API servers behind an auth proxy)",
            },
            ...timeoutOptions({ whole: '60s', call: '15s', waits: 'the wait for the token controller' }),
            output: {
              alias: 'o',
              type: 'string',
              choices: ['yaml', 'json'],
              describe: 'Output format (default yaml)',
            },
            'dry-run': {
              type: 'boolean',
              default: false,
              describe:
                "Change nothing: print the objects it would create on the remote, then the primary's secret commented out, with a placeholder token that check and the webhook refuse",
            },
            apply: {
              type: 'boolean',
              default: false,
              describe: 'Server-side apply the secret into the primary cluster (--primary-context)',
            },
            'primary-context': {
              type: 'string',
              requiresArg: true,
              describe: "With --apply: the primary cluster's context",
            },
            'primary-kubeconfig': {
              type: 'string',
              requiresArg: true,
              describe:
                "With --apply: the primary cluster's kubeconfig (default: $KUBECONFIG or ~/.kube/config)",
            },
          })
          .example(
            '$0 create --context east --name east --server https://east.example:6443 | kubectl --context west apply -f -',
            'Create the secret for cluster east and apply it to the primary west',
          )
          .example(
            '$0 create --context east --name east --token-duration 720h --apply --primary-context west',
            'A 30-day token, applied with server-side apply',
          )
          .example(
            '$0 create --context east --name east --dry-run',
            'Show what would be created, change nothing',
          )
          .epilog(
            'Exit status: 0 done; 1 the cluster refused or failed (unreachable, forbidden, token timeout, refused by a webhook); 2 usage error (flags, kubeconfig, context).',
          ),
      async (args) => {
        const { parseCreateOptions } = await import('./create-options.ts');
        const { runCreate } = await import('./create.ts');
        // -i has a default; -n, when given, wins over it.
        exitCode = await runCreate(parseCreateOptions(args), {
          stdout: process.stdout,
          stderr: process.stderr,
          env: environment(),
          now: () => new Date(),
        });
      },
    )
    .command(
      'webhook-cert',
      "Write the admission webhook's serving certificate and set its caBundle (for clusters without cert-manager)",
      (command) =>
        command
          .options({
            ...PRIMARY_CLUSTER_OPTIONS,
            namespace: {
              alias: 'n',
              type: 'string',
              requiresArg: true,
              default: 'remote-secret-webhook',
              describe: "The webhook's namespace",
            },
            service: {
              type: 'string',
              requiresArg: true,
              default: 'remote-secret-webhook',
              describe: "The webhook's Service (the certificate names its DNS names)",
            },
            'secret-name': {
              type: 'string',
              requiresArg: true,
              default: 'remote-secret-webhook-tls',
              describe: 'The kubernetes.io/tls Secret the webhook Deployment mounts',
            },
            'webhook-configuration': {
              type: 'string',
              requiresArg: true,
              default: 'remote-secret-webhook',
              describe: 'The ValidatingWebhookConfiguration whose caBundle to set',
            },
            'validity-days': {
              type: 'string',
              requiresArg: true,
              default: '365',
              describe: 'How long the serving certificate is valid, in days (1 to 3650)',
            },
            ...timeoutOptions({ whole: '60s', call: '15s' }),
          })
          .example(
            '$0 webhook-cert --context west',
            'After `kubectl apply -k manifests/` on the primary west',
          )
          .epilog(
            'Re-run it to renew: the previous CA stays in caBundle, so old and new pods are trusted while they roll. Exit status: 0 written; 1 an API call failed; 2 usage error.',
          ),
      async (args) => {
        const days = numberFlag(args['validity-days'], '--validity-days', {
          min: 1,
          max: 3650,
          whole: true,
          unit: 'days',
        });
        const { runWebhookCert } = await import('./webhook-cert.ts');
        exitCode = await runWebhookCert(
          {
            kubeconfig: args.kubeconfig,
            context: args.context,
            namespace: args.namespace,
            service: args.service,
            secretName: args['secret-name'],
            webhookConfiguration: args['webhook-configuration'],
            validityDays: days,
            timeoutMs: durationFlag(args.timeout, '--timeout'),
            requestTimeoutMs: durationFlag(args['request-timeout'], '--request-timeout'),
          },
          {
            stdout: process.stdout,
            env: { kubeconfig: process.env['KUBECONFIG'], home: process.env['HOME'] },
          },
        );
      },
    )
    .command(
      'verify',
      'Prove that remote secrets work: sanitize, then reach, authenticate and authorize with each kubeconfig, and report token expiry',
      (command) =>
        command
          .options({
            // Repeatable; not `array`, under which yargs refuses "-f -".
            filename: {
              alias: 'f',
              type: 'string',
              requiresArg: true,
              describe:
                'Read the secrets from these manifests ("-" for standard input) instead of the primary cluster',
            },
            ...PRIMARY_CLUSTER_OPTIONS,
            ...REMOTE_SECRETS_NAMESPACE,
            ...timeoutOptions({ whole: '60s', call: '10s', waits: 'every cluster' }),
            'expiring-within': {
              type: 'string',
              requiresArg: true,
              default: '168h',
              describe: 'Warn about tokens that expire within this long (as audit does)',
            },
            output: {
              alias: 'o',
              type: 'string',
              choices: ['table', 'json'],
              default: 'table',
              describe: 'Output format',
            },
            istiod: {
              type: 'string',
              requiresArg: true,
              describe:
                'Also ask istiod itself, at its HTTP port (a local istiod or `kubectl port-forward -n istio-system deploy/istiod 8080`): does it use each cluster, from which secret, and has it synced',
            },
            'in-cluster': {
              type: 'boolean',
              default: false,
              describe:
                "Check from a pod in the primary, as istiod reaches each remote: read the secrets with the pod's service account (unless --kubeconfig or --context is given), never dial loopback or link-local servers (in a pod, loopback is the pod), never follow redirects, never dial a proxy-url. The webhook's --probe-remotes does the same on a schedule",
            },
          })
          .example('$0 verify --context west', 'Check every remote secret in the primary west')
          .example(
            '$0 verify --context west --istiod http://127.0.0.1:8080',
            "... and show istiod's own view of each cluster (after a port-forward to istiod)",
          )
          .example(
            '$0 create --context east --name east | $0 verify -f -',
            'Check a new secret before applying it',
          )
          .example(
            '$0 verify --in-cluster',
            "From a pod in the primary (a Job whose service account may list Secrets in istio-system, docs/examples/verify-in-cluster.yaml): can istiod's network reach each remote?",
          )
          .epilog(
            'Each failure says what to do next. Exit status: 0 every cluster passed (expiring tokens are warnings); 1 a cluster failed, a secret cannot be read, or there was nothing to verify; 2 usage error, or the secrets cannot be fetched.',
          ),
      async (args) => {
        const { runVerify } = await import('./verify.ts');
        exitCode = await runVerify(
          {
            files: toList(args.filename),
            kubeconfig: args.kubeconfig,
            context: args.context,
            namespace: args.namespace,
            timeoutMs: durationFlag(args.timeout, '--timeout'),
            requestTimeoutMs: durationFlag(args['request-timeout'], '--request-timeout'),
            expiringWithinMs: durationFlag(args['expiring-within'], '--expiring-within'),
            output: args.output === 'json' ? 'json' : 'table',
            istiod: args.istiod,
            inCluster: args['in-cluster'],
          },
          { stdin: process.stdin, stdout: process.stdout, env: environment(), now: () => new Date() },
        );
      },
    )
    .command(
      'renew [secrets..]',
      'Renew the expiring tokens of renewable remote secrets (create --renew) that are due: a new token from each remote, then one conditional update in the primary',
      (command) =>
        command
          .positional('secrets', {
            describe: 'Remote secrets in the primary to renew',
            type: 'string',
            array: true,
          })
          .options({
            all: {
              type: 'boolean',
              default: false,
              describe: 'Renew every renewable remote secret in the namespace',
            },
            ...PRIMARY_CLUSTER_OPTIONS,
            ...REMOTE_SECRETS_NAMESPACE,
            ...timeoutOptions({ whole: '60s', call: '10s', waits: 'every secret' }),
            'dry-run': {
              type: 'boolean',
              default: false,
              describe: 'Say which tokens are due and when; ask for no token and change nothing',
            },
            force: {
              type: 'boolean',
              default: false,
              describe: 'Renew now, whatever share of its life each token has used',
            },
            output: {
              alias: 'o',
              type: 'string',
              choices: ['table', 'json'],
              default: 'table',
              describe: 'Output format',
            },
          })
          .example(
            '$0 renew --all --context primary',
            'Renew every token that is due (a CronJob can run this)',
          )
          .example('$0 renew istio-remote-secret-east --force', 'Renew one now')
          .example('$0 renew --all --dry-run', 'Show when each token is due')
          .epilog(
            "A renewable secret names its remote ServiceAccount in annotations; the new token is asked for with the current one, through the secret's own kubeconfig after the sanitizer, and replaces it in the kubeconfig, changing nothing else. The update is conditional on the version read: nothing is overwritten. The old token keeps working until it expires. Exit status: 0 renewed or not due; 1 a cluster failed (its line says why and what to do); 2 usage error, or the secrets cannot be read.",
          ),
      async (args) => {
        const { runRenew } = await import('./renew.ts');
        exitCode = await runRenew(
          {
            names: toList(args.secrets),
            all: args.all,
            kubeconfig: args.kubeconfig,
            context: args.context,
            namespace: args.namespace,
            timeoutMs: durationFlag(args.timeout, '--timeout'),
            requestTimeoutMs: durationFlag(args['request-timeout'], '--request-timeout'),
            dryRun: args['dry-run'],
            force: args.force,
            output: args.output === 'json' ? 'json' : 'table',
          },
          { stdout: process.stdout, env: environment(), now: () => new Date() },
        );
      },
    )
    .command(
      'audit',
      "Audit the remote secrets stored in the primary with the webhook's decision, plus risk notes; or list the webhook's rejections",
      (command) =>
        command
          .options({
            ...PRIMARY_CLUSTER_OPTIONS,
            ...REMOTE_SECRETS_NAMESPACE,
            'all-namespaces': {
              alias: 'A',
              type: 'boolean',
              default: false,
              describe: 'Audit every namespace',
            },
            'local-cluster-id': {
              type: 'string',
              requiresArg: true,
              describe:
                "The primary cluster's own ID (istiod's CLUSTER_ID); a remote secret must not claim it",
            },
            allow: {
              type: 'string',
              requiresArg: true,
              describe:
                "Allow insecure kubeconfig options: the value of istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS as it stands (comma-separated, no spaces), or certificateAuthority (ours, not Istio's); repeatable",
            },
            output: {
              alias: 'o',
              type: 'string',
              choices: ['table', 'json', 'yaml'],
              default: 'table',
              describe: 'Output format',
            },
            strict: {
              type: 'boolean',
              default: false,
              describe: 'Exit with status 1 on risk notes too, not only on violations',
            },
            'expiring-within': {
              type: 'string',
              requiresArg: true,
              default: '168h',
              describe: 'Note tokens that expire within this long',
            },
            limit: {
              type: 'string',
              requiresArg: true,
              default: '500',
              describe: 'Objects per list request (1 to 10000); the rest are read page by page',
            },
            ...timeoutOptions({ whole: '5m', call: '30s', waits: 'every page of the list' }),
            rejections: {
              type: 'boolean',
              default: false,
              describe:
                "List the webhook's RemoteSecretRejected Events instead (time, user, secret, clusters, codes)",
            },
            since: {
              type: 'string',
              requiresArg: true,
              describe: 'With --rejections: only those from this long ago on, like 24h',
            },
            'audit-log': {
              type: 'string',
              array: true,
              describe:
                "With --rejections: also read the API server's audit log (JSON lines; gzipped or rotated files too, - for stdin), which outlives Events; repeatable",
            },
            events: {
              type: 'boolean',
              default: true,
              describe:
                'With --audit-log: read the Events as well and merge (--no-events: the logs only, offline)',
            },
          })
          .example('$0 audit --context west', 'Audit the remote secrets in istio-system of the primary west')
          .example('$0 audit -A -o json', 'Audit every namespace, as JSON')
          .example('$0 audit --rejections --since 24h', 'Who tried to apply unsafe remote secrets today')
          .example(
            '$0 audit --rejections --audit-log /var/log/kubernetes/audit.log --no-events',
            "The history in the API server's audit log, beyond the Events' hour",
          )
          .epilog(
            'Exit status: 0 no violations (risk notes alone, unless --strict); 1 a violation, a risk note with --strict, or an unreadable secret; 2 usage error, or the secrets cannot be listed.',
          ),
      async (args) => {
        const pageSize = numberFlag(args.limit, '--limit', { min: 1, max: 10_000, whole: true });
        if (args.since !== undefined && !args.rejections) {
          throw new UsageError('--since goes with --rejections');
        }
        const auditLogs = toList(args['audit-log']);
        if (auditLogs.some((path) => path === '')) {
          throw new UsageError('--audit-log needs a file (or - for standard input)');
        }
        if (auditLogs.length > 0 && !args.rejections) {
          throw new UsageError('--audit-log goes with --rejections');
        }
        if (!args.events && auditLogs.length === 0) {
          throw new UsageError('--no-events leaves nothing to read: give --audit-log FILE');
        }
        const now = new Date();
        const { parseAllowList } = await import('./allow.ts');
        const { runAudit } = await import('./audit.ts');
        exitCode = await runAudit(
          {
            kubeconfig: args.kubeconfig,
            context: args.context,
            scope: args['all-namespaces'] ? { allNamespaces: true } : { namespace: args.namespace },
            localClusterId: args['local-cluster-id'],
            allow: parseAllowList(toList(args.allow)),
            output: args.output === 'json' ? 'json' : args.output === 'yaml' ? 'yaml' : 'table',
            strict: args.strict,
            pageSize,
            expiringWithinMs: durationFlag(args['expiring-within'], '--expiring-within'),
            requestTimeoutMs: durationFlag(args['request-timeout'], '--request-timeout'),
            timeoutMs: durationFlag(args.timeout, '--timeout'),
            rejections: args.rejections
              ? {
                  since:
                    args.since === undefined
                      ? undefined
                      : new Date(now.getTime() - durationFlag(args.since, '--since')),
                  auditLogs,
                  events: args.events,
                }
              : undefined,
          },
          {
            stdout: process.stdout,
            progress: process.stderr.isTTY ? process.stderr : undefined,
            env: environment(),
            now: () => now,
          },
        );
      },
    )
    .command(
      'version',
      'Print the version, the git commit it was built from, the Node.js that runs it and the platform',
      (command) =>
        command
          .option('output', {
            alias: 'o',
            describe: 'Output format',
            choices: ['text', 'json'] as const,
            default: 'text' as const,
          })
          .example('$0 version -o json', 'For a bug report'),
      async (args) => {
        // A static import of node:sea there: the single executable's code cache rules out import().
        const { currentRuntime } = await import('./runtime.ts');
        const { renderVersion, versionReport } = await import('./version.ts');
        process.stdout.write(renderVersion(versionReport(buildInfo(), currentRuntime()), args.output));
      },
    )
    .command(
      'completion <shell>',
      'Print a shell completion script for bash or zsh',
      (command) =>
        command
          .positional('shell', { describe: 'The shell', choices: COMPLETION_SHELLS, demandOption: true })
          .example(
            '$0 completion bash > ~/.local/share/bash-completion/completions/kubectl-remote_secret',
            'Complete kubectl-remote_secret in bash; kubectl_complete-remote_secret on PATH does `kubectl remote-secret`',
          ),
      async (args) => {
        const { completionScript } = await import('./completion.ts');
        process.stdout.write(completionScript(args.shell));
      },
    )
    .demandCommand(
      1,
      'Name a command: audit, check, completion, create, renew, verify, version or webhook-cert',
    )
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version('version', 'Show the version', versionLine(buildInfo()))
    // Laying out help text costs milliseconds that yargs spends on every run; wrap only when
    // help is going to be printed.
    .wrap(wantsHelp(argv) ? Math.min(110, process.stdout.columns || 100) : null)
    .fail((message, error) => {
      throw error instanceof Error ? error : new UsageError(message);
    });
  if (argv[0] === '--get-yargs-completions') return complete(parser, argv);
  try {
    await parser.parseAsync();
  } catch (error) {
    // Our usage errors (flags, --allow) and yargs' own; anything else is a bug and keeps its stack.
    const usage = error instanceof RemoteSecretError && exitStatusOf(error) === EXIT_USAGE;
    if (usage || !(error instanceof Error) || error.name === 'YError') {
      writeError(
        `${error instanceof Error ? error.message : String(error)}\nRun 'kubectl remote-secret --help' for usage.`,
      );
      return EXIT_USAGE;
    }
    throw error;
  }
  return exitCode;
}

/**
 * Shell completion: yargs' candidates for the words (captured, not printed), then contexts and
 * namespaces of the operator's clusters, without yargs' bogus `--n`-style aliases.
 */
async function complete(parser: Argv, argv: readonly string[]): Promise<number> {
  let output = '';
  await parser.exitProcess(false).parseAsync([...argv], {}, (_error, _argv, text) => {
    output = text;
  });
  const { completeWords } = await import('./completion.ts');
  const { clusterLookup } = await import('./completion-lookup.ts');
  const shell = process.env['SHELL'] ?? '';
  const lines = await completeWords(
    argv.slice(1),
    output === '' ? [] : output.split('\n'),
    clusterLookup(environment()),
    { zsh: shell.includes('zsh') },
  );
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
  return 0;
}

/** Where kubectl looks for kubeconfigs; read here, once, and passed down. */
function environment(): { kubeconfig: string | undefined; home: string | undefined } {
  return { kubeconfig: process.env['KUBECONFIG'], home: process.env['HOME'] ?? process.env['USERPROFILE'] };
}

/** A repeatable string flag arrives as undefined, one string, or an array of them. */
function wantsHelp(argv: readonly string[]): boolean {
  return argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv.includes('help');
}
