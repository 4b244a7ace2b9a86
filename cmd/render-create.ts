import {
  renderManifestJson,
  renderManifestYaml,
  type SecretManifest,
} from '../shared/remote-secret/build.ts';
import type { PlannedObject } from '../shared/remote-secret/plan.ts';
import { emitYaml } from '../shared/yaml/emit.ts';

/** What `create --dry-run` shows: the remote's changes, then the primary's secret with a placeholder token. */
export interface DryRunReport {
  readonly context: string;
  readonly server: string;
  readonly create: readonly PlannedObject[];
  readonly retire: readonly string[];
  readonly namespace: string;
  readonly secret: SecretManifest;
}

export function renderSecret(secret: SecretManifest, format: 'yaml' | 'json'): string {
  return format === 'json' ? renderManifestJson(secret) : renderManifestYaml(secret);
}

/**
 * YAML: one document per object the remote would get, each under a comment saying so, then the
 * primary's secret commented out, line by line. So `kubectl apply -f` of the output can only
 * ever create the remote's objects, on the cluster it is pointed at, and never the primary's
 * secret next to them; that secret's token is a placeholder which `check` and the webhook refuse
 * (`placeholder-token`) anyway. JSON: one object, the two clusters under their own keys.
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
      primary: { secret: report.secret },
    });
  }
  const parts: string[] = [
    `# Dry run: nothing was changed.\n# For the remote cluster (context "${report.context}", ${report.server}):\n`,
  ];
  if (report.create.length === 0)
    parts.push('# nothing to create: the ServiceAccount, RBAC and token Secret exist.\n');
  for (const planned of report.create) {
    parts.push(`# would create ${planned.kind} ${describe(planned)}\n${emitYaml(planned.object)}---\n`);
  }
  if (retire.length > 0) parts.push(`# would delete token Secrets (--retire-old): ${retire.join(', ')}\n`);
  const secret = emitYaml(report.secret)
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => `#   ${line}`)
    .join('\n');
  parts.push(
    `# For the primary cluster, not to be applied: commented out, and its token is a placeholder\n# that check and the webhook refuse. Run create without --dry-run for the real secret.\n${secret}\n`,
  );
  return parts.join('');
}

function describe(planned: PlannedObject): string {
  const metadata = planned.object.metadata as
    { name?: string; generateName?: string; namespace?: string } | undefined;
  const name = metadata?.name ?? `${metadata?.generateName ?? ''}<generated>`;
  return metadata?.namespace === undefined ? name : `${metadata.namespace}/${name}`;
}
