import { load } from 'js-yaml';
import { expect } from 'vitest';
import { kubectl } from './kubectl.ts';

/** A Secret as the primary stores it (`kubectl get -o json`), the fields the renewal tests read. */
export interface StoredSecret {
  metadata: { resourceVersion: string; labels: Record<string, string>; annotations: Record<string, string> };
  data: Record<string, string>;
}

/** The Secret as stored now; fails the test if kubectl cannot read it. */
export async function storedSecret(
  kubeconfigPath: string,
  namespace: string,
  name: string,
): Promise<StoredSecret> {
  const got = await kubectl(kubeconfigPath, ['get', 'secret', name, '-n', namespace, '-o', 'json']);
  expect(got.status, got.stderr).toBe(0);
  return JSON.parse(got.stdout) as StoredSecret;
}

/** The kubeconfig text under one data key. */
export function kubeconfigOf(secret: StoredSecret, key: string): string {
  return Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
}

/** The bearer token of a kubeconfig's first user (our own test kubeconfigs: one user). */
export function tokenOf(kubeconfig: string): string {
  return (load(kubeconfig) as { users: { user: { token?: string } }[] }).users[0]?.user.token ?? '';
}
