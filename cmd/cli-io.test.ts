import { describe, expect, it } from 'vitest';
import { RemoteSecretError } from '../shared/errors.ts';
import { KubeError } from '../shared/kube/errors.ts';
import { KubeconfigError } from '../shared/kube/kubeconfig.ts';
import { PlanError } from '../shared/remote-secret/plan.ts';
import { EXIT_FINDINGS, EXIT_USAGE, exitStatusOf, UsageError } from './cli-io.ts';

describe('exitStatusOf', () => {
  it.each([
    { error: new UsageError('m'), status: EXIT_USAGE },
    { error: new KubeconfigError('unknown-context', 'm'), status: EXIT_USAGE },
    { error: new KubeconfigError('no-kubeconfig', 'm'), status: EXIT_USAGE },
    { error: new RemoteSecretError('unusable-server', 'm'), status: EXIT_USAGE },
    { error: new KubeError('forbidden', 'm'), status: EXIT_FINDINGS },
    { error: new KubeError('timeout', 'm'), status: EXIT_FINDINGS },
    { error: new PlanError('service-account-missing', 'm'), status: EXIT_FINDINGS },
  ])('$error.name $error.code exits $status', ({ error, status }) => {
    expect(exitStatusOf(error)).toBe(status);
  });
});
