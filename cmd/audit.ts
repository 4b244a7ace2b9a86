import { Auditor } from '../shared/audit/audit.ts';
import { eventPages, remoteSecretPages, type Scope } from '../shared/audit/list.ts';
import { forEachPage } from '../shared/audit/pages.ts';
import {
  readRejection,
  REJECTED_REASON,
  selectRejections,
  type Rejection,
} from '../shared/audit/rejections.ts';
import { operatorClient, type KubeClient } from '../shared/kube/client.ts';
import { loadClientNode } from '../shared/kube/client-node.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import { secretRef } from '../shared/remote-secret/model.ts';
import { plural } from '../shared/text.ts';
import { emitYaml } from '../shared/yaml/emit.ts';
import {
  EXIT_FINDINGS,
  EXIT_OK,
  EXIT_USAGE,
  writeError,
  writeErrorWithHint,
  writeWarning,
} from './cli-io.ts';
import {
  rejectionsDocument,
  renderAuditJson,
  renderAuditTable,
  renderAuditYaml,
  renderRejectionsTable,
} from './render-audit.ts';

export interface AuditCommandOptions {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly scope: Scope;
  readonly localClusterId: string | undefined;
  readonly allow: AllowList;
  readonly output: 'table' | 'json' | 'yaml';
  /** Risk notes fail the audit too (exit status 1). */
  readonly strict: boolean;
  /** Objects per list request (`limit`); the rest come page by page with `continue`. */
  readonly pageSize: number;
  readonly expiringWithinMs: number;
  readonly requestTimeoutMs: number;
  /** --timeout: the whole command. */
  readonly timeoutMs: number;
  /** List the webhook's rejection Events instead, from this time on (undefined: all kept). */
  readonly rejections: { readonly since: Date | undefined } | undefined;
}

export interface AuditIo {
  readonly stdout: NodeJS.WritableStream;
  /** Where the progress line goes; only given when standard error is a terminal. */
  readonly progress: NodeJS.WritableStream | undefined;
  readonly env: { readonly kubeconfig: string | undefined; readonly home: string | undefined };
  readonly now: () => Date;
}

/**
 * `kubectl remote-secret audit`: judge the multicluster Secrets stored in the primary with the
 * webhook's own decision, page by page, and add risk notes. Exit status 0 clean (or risk notes
 * only, without --strict), 1 a violation or an unreadable secret, 2 usage or API error.
 */
export async function runAudit(options: AuditCommandOptions, io: AuditIo): Promise<number> {
  const k8s = await loadClientNode();
  try {
    const { client } = operatorClient(k8s, options, io.env);
    if (options.rejections !== undefined) return await listRejections(client, options, io);
    return await auditStored(client, options, io);
  } catch (error) {
    // The secrets could not be listed at all (kubeconfig, API): no audit, exit status 2.
    if (!(error instanceof RemoteSecretError)) throw error;
    writeErrorWithHint(error);
    return EXIT_USAGE;
  } finally {
    io.progress?.write('\r\u001b[K');
  }
}

async function auditStored(client: KubeClient, options: AuditCommandOptions, io: AuditIo): Promise<number> {
  const auditor = new Auditor({
    allow: options.allow,
    localClusterId: options.localClusterId,
    now: io.now(),
    expiringWithinMs: options.expiringWithinMs,
  });
  let listed = 0;
  await forEachPage(remoteSecretPages(client, options.scope, options.pageSize), (items, page) => {
    for (const item of items) {
      const read = readRemoteSecretObject(
        item,
        secretRef({
          namespace: item.metadata.namespace ?? '',
          name: item.metadata.name ?? '',
        }),
      );
      auditor.add(read.secrets, read.errors);
    }
    listed += items.length;
    io.progress?.write(`\r\u001b[Kaudited ${plural(listed, 'secret')} (page ${page})`);
  });
  io.progress?.write('\r\u001b[K');
  const report = auditor.report();
  const render =
    options.output === 'json'
      ? renderAuditJson
      : options.output === 'yaml'
        ? renderAuditYaml
        : renderAuditTable;
  io.stdout.write(render(report));
  if (options.output === 'table')
    for (const error of report.errors) writeError(`${error.source}: ${error.message}`);
  if (report.summary.secrets === 0 && report.errors.length === 0) {
    writeWarning(
      `no remote secrets (Secrets labelled istio/multiCluster: "true") ${'namespace' in options.scope ? `in namespace ${options.scope.namespace}` : 'in any namespace'}; nothing was audited`,
    );
  }
  const failed =
    report.summary.violations > 0 || report.errors.length > 0 || (options.strict && report.summary.risks > 0);
  return failed ? EXIT_FINDINGS : EXIT_OK;
}

async function listRejections(
  client: KubeClient,
  options: AuditCommandOptions,
  io: AuditIo,
): Promise<number> {
  const found: Rejection[] = [];
  await forEachPage(eventPages(client, options.scope, REJECTED_REASON, options.pageSize), (items, page) => {
    for (const item of items) {
      const rejection = readRejection(item);
      if (rejection !== undefined) found.push(rejection);
    }
    io.progress?.write(`\r\u001b[Kread ${found.length} rejection Events (page ${page})`);
  });
  io.progress?.write('\r\u001b[K');
  const rejections = selectRejections(found, options.rejections?.since);
  if (options.output === 'json')
    io.stdout.write(`${JSON.stringify(rejectionsDocument(rejections), null, 2)}\n`);
  else if (options.output === 'yaml') io.stdout.write(emitYaml(rejectionsDocument(rejections)));
  else io.stdout.write(renderRejectionsTable(rejections));
  if (rejections.length === 0) {
    writeWarning(
      `no ${REJECTED_REASON} Events ${'namespace' in options.scope ? `in namespace ${options.scope.namespace}` : 'in any namespace'}${options.rejections?.since === undefined ? '' : ` since ${options.rejections.since.toISOString()}`}`,
    );
  }
  // The history is a report, not a finding about what is stored now.
  return EXIT_OK;
}
