import { spawnSync } from 'node:child_process';
import type {
  KubernetesObject,
  V1Deployment,
  V1PodDisruptionBudget,
  V1Role,
  V1Service,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';

/** What `kubectl apply -k DIR` would send, as `kubectl kustomize DIR` renders it. */
export interface RenderedManifests {
  readonly yaml: string;
  readonly objects: readonly KubernetesObject[];
}

/** Render a kustomization with the real kubectl (its built-in kustomize). Throws if it fails. */
export function renderManifests(dir: string): RenderedManifests {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  const objects = loadAll(result.stdout).filter(
    (entry): entry is KubernetesObject => typeof entry === 'object' && entry !== null && 'kind' in entry,
  );
  return { yaml: result.stdout, objects };
}

interface KindMap {
  Deployment: V1Deployment;
  Service: V1Service;
  PodDisruptionBudget: V1PodDisruptionBudget;
  Role: V1Role;
  ValidatingWebhookConfiguration: V1ValidatingWebhookConfiguration;
}

/** Every object of `kind` (cast to client-node's type for it: our own manifests, not input). */
export function objectsOf<K extends keyof KindMap>(
  manifests: RenderedManifests,
  kind: K,
): readonly KindMap[K][] {
  // Rendered from YAML, these are plain objects; client-node's V1 classes declare fields only.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  return manifests.objects.filter((object) => object.kind === kind);
}

/** The one object of `kind`; throws when there is none or more than one. */
export function onlyObject<K extends keyof KindMap>(manifests: RenderedManifests, kind: K): KindMap[K] {
  const found = objectsOf(manifests, kind);
  const [object] = found;
  if (object === undefined || found.length !== 1) {
    throw new Error(`expected one ${kind}, found ${String(found.length)}`);
  }
  return object;
}
