import {
  renderManifestJson,
  renderManifestYaml,
  type SecretManifest,
} from '../shared/remote-secret/build.ts';
import type { PlannedObject } from '../shared/remote-secret/plan.ts';
import { emitYaml } from '../shared/yaml/emit.ts';

/** What `create --dry-run` shows: the remote's changes, then the secret with a placeholder token. */
export interface DryRunReport {
  readonly context: string;
  readonly server: string;
  readonly create: readonly PlannedObject[];
  readonly retire: readonly string[];
  readonly namespace: string;
  readonly secret: SecretManifest;
}

/** Placeholders of a dry run (and of golden files): never a real credential. */
export const DRY_RUN_TOKEN = 'DRY-RUN-PLACEHOLDER-TOKEN';

export function renderSecret(secret: SecretManifest, format: 'yaml' | 'json'): string {
  return format === 'json' ? renderManifestJson(secret) : renderManifestYaml(secret);
}

/**
 * YAML: one document per object the remote would get, each under a comment saying so, then the
 * secret in istioctl's format. It is for reading, not for `kubectl apply` (the token is a
 * placeholder). JSON: one object with the same content, for tools.
 */
export function renderDryRun(report: DryRunReport, format: 'yaml' | 'json'): string {
  const retire = report.retire.map((name) => `${report.namespace}/${name}`);
  if (format === 'json') {
    return renderManifestJson({
      dryRun: true,
      remote: {
        context: report.context,
        server: report.server,
        create: report.create.map((planned) => planned.object),
        deleteTokenSecrets: retire,
      },
      secret: report.secret,
    });
  }
  const parts: string[] = [
    `# Dry run: nothing was changed. On the remote cluster (context "${report.context}", ${report.server}):\n`,
  ];
  if (report.create.length === 0)
    parts.push('# nothing to create: the ServiceAccount, RBAC and token Secret exist.\n');
  for (const planned of report.create) {
    parts.push(`# would create ${planned.kind} ${describe(planned)}\n${emitYaml(planned.object)}---\n`);
  }
  if (retire.length > 0) parts.push(`# would delete token Secrets (--retire-old): ${retire.join(', ')}\n`);
  parts.push(`# For the primary cluster (the token is a placeholder):\n${renderManifestYaml(report.secret)}`);
  return parts.join('');
}

function describe(planned: PlannedObject): string {
  const metadata = planned.object.metadata as
    { name?: string; generateName?: string; namespace?: string } | undefined;
  const name = metadata?.name ?? `${metadata?.generateName ?? ''}<generated>`;
  return metadata?.namespace === undefined ? name : `${metadata.namespace}/${name}`;
}
