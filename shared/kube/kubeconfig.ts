import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { RemoteSecretError, type ErrorDetails } from '../errors.ts';
import type { ClientNodeModule } from './client-node.ts';

export type KubeconfigErrorCode =
  'no-kubeconfig' | 'unreadable-kubeconfig' | 'unknown-context' | 'no-context';

/** The operator's kubeconfig cannot be used as asked: a usage problem, exit status 2. */
export class KubeconfigError extends RemoteSecretError {
  override readonly name = 'KubeconfigError';
  declare readonly code: KubeconfigErrorCode;

  constructor(code: KubeconfigErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

export interface KubeconfigSource {
  /** --kubeconfig (or --primary-kubeconfig): one file, used alone. */
  readonly path?: string | undefined;
  /** --context (or --primary-context): must name a context of the loaded files. */
  readonly context?: string | undefined;
  /** The value of $KUBECONFIG, read by main. */
  readonly env?: string | undefined;
  /** The home directory, for ~/.kube/config. */
  readonly home?: string | undefined;
  /** Names the flags in messages: "--kubeconfig" or "--primary-kubeconfig". */
  readonly flagPrefix?: string;
}

/** A trusted kubeconfig, loaded by client-node, with the context it will use. */
export interface OperatorKubeConfig {
  readonly kubeConfig: KubeConfig;
  readonly context: string;
  readonly server: string;
  /** Where it came from, for messages: the file(s). */
  readonly files: readonly string[];
}

/**
 * Load the operator's own kubeconfig the way kubectl finds it: the flag's file, else every file
 * in $KUBECONFIG (the first to define a name or a current context wins), else ~/.kube/config.
 * This is trusted input: client-node may read its files and run its exec plugins (EKS, GKE
 * logins). Kubeconfigs from Secrets never come here; they go through the sanitizer.
 */
export function loadOperatorKubeConfig(k8s: ClientNodeModule, source: KubeconfigSource): OperatorKubeConfig {
  const flag = source.flagPrefix ?? '';
  const { kubeConfig, files } = loadKubeconfigFiles(k8s, source);
  const names = kubeConfig.getContexts().map((context) => context.name);
  const wanted = source.context ?? '';
  if (wanted !== '') {
    if (!names.includes(wanted)) {
      throw new KubeconfigError('unknown-context', `context "${wanted}" is not in ${files.join(', ')}`, {
        hint: names.length > 0 ? `known contexts: ${names.join(', ')}` : 'the kubeconfig has no contexts',
      });
    }
    kubeConfig.setCurrentContext(wanted);
  } else if (kubeConfig.getCurrentContext() === '' || !names.includes(kubeConfig.getCurrentContext())) {
    throw new KubeconfigError('no-context', `${files.join(', ')} has no usable current-context`, {
      hint: `pass --${flag}context NAME${names.length > 0 ? ` (one of ${names.join(', ')})` : ''}`,
    });
  }
  const context = kubeConfig.getCurrentContext();
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null || cluster.server === '') {
    throw new KubeconfigError(
      'unreadable-kubeconfig',
      `context "${context}" names no cluster with a server`,
      {
        hint: `fix the context in ${files.join(', ')}`,
      },
    );
  }
  return { kubeConfig, context, server: cluster.server, files };
}

/**
 * The kubeconfig files as kubectl merges them, before a context is chosen (completion lists the
 * contexts from here). `source.context` is not looked at.
 */
export function loadKubeconfigFiles(
  k8s: ClientNodeModule,
  source: KubeconfigSource,
): { readonly kubeConfig: KubeConfig; readonly files: readonly string[] } {
  const files = kubeconfigFiles(source);
  if (files.length === 0) {
    throw new KubeconfigError('no-kubeconfig', 'no kubeconfig found', {
      hint: `pass --${source.flagPrefix ?? ''}kubeconfig FILE, or set KUBECONFIG`,
    });
  }
  const kubeConfig = new k8s.KubeConfig();
  for (const [index, file] of files.entries()) {
    const part = new k8s.KubeConfig();
    try {
      part.loadFromFile(file);
    } catch (error) {
      throw new KubeconfigError(
        'unreadable-kubeconfig',
        `cannot load kubeconfig ${file}: ${error instanceof Error ? firstLine(error.message) : String(error)}`,
        { cause: error },
      );
    }
    if (index === 0) {
      kubeConfig.loadFromOptions({
        clusters: part.clusters,
        users: part.users,
        contexts: part.contexts,
        currentContext: part.currentContext,
      });
    } else {
      mergeFirstWins(kubeConfig, part);
    }
  }
  return { kubeConfig, files };
}

function kubeconfigFiles(source: KubeconfigSource): string[] {
  if (source.path !== undefined && source.path !== '') return [source.path];
  if (source.env !== undefined && source.env !== '') {
    return source.env.split(delimiter).filter((file) => file !== '' && existsSync(file));
  }
  if (source.home === undefined || source.home === '') return [];
  const file = join(source.home, '.kube', 'config');
  return existsSync(file) ? [file] : [];
}

/** kubectl's rule for several files: the first definition of a name, and of current-context, wins. */
function mergeFirstWins(into: KubeConfig, from: KubeConfig): void {
  for (const cluster of from.clusters) if (into.getCluster(cluster.name) === null) into.addCluster(cluster);
  for (const user of from.users) if (into.getUser(user.name) === null) into.addUser(user);
  for (const context of from.contexts) {
    if (into.getContextObject(context.name) === null) into.addContext(context);
  }
  if (into.getCurrentContext() === '' && from.getCurrentContext() !== '') {
    into.setCurrentContext(from.getCurrentContext());
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
