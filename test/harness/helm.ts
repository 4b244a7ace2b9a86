import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import type { RenderedManifests } from './manifests.ts';
import { runProcess, type ProcessResult } from './process.ts';

export const CHART_DIR = fileURLToPath(new URL('../../charts/remote-secret-webhook', import.meta.url));

/** The release name and namespace that make the chart's names those of manifests/. */
export const RELEASE = { name: 'remote-secret-webhook', namespace: 'remote-secret-webhook' } as const;

/**
 * Helm's own state (repositories, cache, plugins) in one temporary directory, so that a user's
 * ~/.config/helm never takes part in a test and a test never writes there.
 */
export function helmEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
}

export interface HelmTemplateResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `helm template` of the chart with these values (a values file, as a user passes one). */
export function helmTemplate(
  helm: string,
  values: Record<string, unknown>,
  release: { readonly name: string; readonly namespace: string } = RELEASE,
): HelmTemplateResult {
  const home = mkdtempSync(join(tmpdir(), 'helm-home-'));
  try {
    const valuesFile = join(home, 'values.yaml');
    writeFileSync(valuesFile, JSON.stringify(values));
    const result = spawnSync(
      helm,
      ['template', release.name, CHART_DIR, '--namespace', release.namespace, '--values', valuesFile],
      { encoding: 'utf8', timeout: 60_000, env: helmEnv(home) },
    );
    if (result.error !== undefined) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** `helm template` that must succeed, parsed like renderManifests' kustomize output. */
export function renderChart(helm: string, values: Record<string, unknown>): RenderedManifests {
  const result = helmTemplate(helm, values);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  const objects = loadAll(result.stdout).filter(
    (entry): entry is KubernetesObject => typeof entry === 'object' && entry !== null && 'kind' in entry,
  );
  return { yaml: result.stdout, objects };
}

/** Any other helm command (lint, install, upgrade, uninstall), never throwing on a non-zero exit. */
export function helmRun(
  helm: string,
  home: string,
  args: readonly string[],
  kubeconfigPath?: string,
): Promise<ProcessResult> {
  return runProcess(helm, kubeconfigPath === undefined ? args : ['--kubeconfig', kubeconfigPath, ...args], {
    timeout: 120_000,
    env: { ...helmEnv(home), ...(kubeconfigPath === undefined ? {} : { KUBECONFIG: kubeconfigPath }) },
  });
}
