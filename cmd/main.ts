import yargs from 'yargs';
import { EXIT_USAGE, UsageError, writeError } from './cli-io.ts';

/**
 * `kubectl remote-secret`: the plugin's entry point. It only parses the command line; each
 * command's module is imported when it runs, so `check` never loads the Kubernetes client.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const parser = yargs(argv)
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
              'Allow an insecure kubeconfig option, as PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS: exec, tokenFile, clientKey, clientCertificate, or an auth provider name (repeatable, or comma-separated)',
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
    .demandCommand(1, 'Name a command: check')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    // Laying out help text costs milliseconds that yargs spends on every run; wrap only when
    // help is going to be printed.
    .wrap(wantsHelp(argv) ? Math.min(110, process.stdout.columns || 100) : null)
    .fail((message, error) => {
      throw error instanceof Error ? error : new UsageError(message);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof UsageError || !(error instanceof Error) || error.name === 'YError') {
      writeError(
        `${error instanceof Error ? error.message : String(error)}\nRun 'kubectl remote-secret --help' for usage.`,
      );
      return EXIT_USAGE;
    }
    throw error;
  }
  return exitCode;
}

/** A repeatable string flag arrives as undefined, one string, or an array of them. */
function toList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function wantsHelp(argv: readonly string[]): boolean {
  return argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv.includes('help');
}
