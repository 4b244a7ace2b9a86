import { open } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Auditor } from '../shared/audit/audit.ts';
import { eventPages, remoteSecretPages, type Scope } from '../shared/audit/list.ts';
import { forEachPage } from '../shared/audit/pages.ts';
import { mergeRejections, readAuditLog, type AuditLogRead } from '../shared/audit/audit-log.ts';
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
  UsageError,
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
  /**
   * List the webhook's rejections instead, from this time on (undefined: all kept): from its
   * Events, from API server audit logs (`-` is standard input), or both, merged.
   */
  readonly rejections:
    | {
        readonly since: Date | undefined;
        readonly auditLogs?: readonly string[];
        /** Read the Events too (the default); false reads the audit logs only, offline. */
        readonly events?: boolean;
      }
    | undefined;
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
  try {
    // The audit logs alone need no cluster, so not the Kubernetes client either.
    if (options.rejections !== undefined && options.rejections.events === false) {
      return await listRejections(undefined, options, io);
    }
    const k8s = await loadClientNode();
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
  client: KubeClient | undefined,
  options: AuditCommandOptions,
  io: AuditIo,
): Promise<number> {
  const logs = options.rejections?.auditLogs ?? [];
  const fromLogs = logs.length === 0 ? [] : await readAuditLogs(logs, io);
  const found: Rejection[] = [];
  if (client !== undefined) {
    await forEachPage(eventPages(client, options.scope, REJECTED_REASON, options.pageSize), (items, page) => {
      for (const item of items) {
        const rejection = readRejection(item);
        if (rejection !== undefined) found.push(rejection);
      }
      io.progress?.write(`\r\u001b[Kread ${found.length} rejection Events (page ${page})`);
    });
    io.progress?.write('\r\u001b[K');
  }
  const inScope = fromLogs.filter(
    (rejection) =>
      !('namespace' in options.scope) || rejection.secret.startsWith(`${options.scope.namespace}/`),
  );
  const rejections = selectRejections(mergeRejections(inScope, found), options.rejections?.since);
  if (options.output === 'json')
    io.stdout.write(`${JSON.stringify(rejectionsDocument(rejections), null, 2)}\n`);
  else if (options.output === 'yaml') io.stdout.write(emitYaml(rejectionsDocument(rejections)));
  else io.stdout.write(renderRejectionsTable(rejections));
  if (rejections.length === 0) {
    const where = [
      ...(logs.length === 0 ? [] : [`in ${plural(logs.length, 'audit log')}`]),
      ...(client === undefined ? [] : [`${REJECTED_REASON} Events`]),
    ].join(' or ');
    writeWarning(
      `no rejections (${where}) ${'namespace' in options.scope ? `in namespace ${options.scope.namespace}` : 'in any namespace'}${options.rejections?.since === undefined ? '' : ` since ${options.rejections.since.toISOString()}`}`,
    );
  }
  // The history is a report, not a finding about what is stored now.
  return EXIT_OK;
}

/**
 * Read API server audit logs one line at a time (bounded memory whatever their size): plain or
 * gzipped (rotated with --audit-log-compress), `-` for standard input. Progress on a terminal.
 */
async function readAuditLogs(paths: readonly string[], io: AuditIo): Promise<Rejection[]> {
  let read: AuditLogRead = { rejections: [], malformed: 0, lines: 0 };
  const seen = new Set<string>();
  for (const path of paths) {
    const { stream, size } = await openAuditLog(path);
    // Bytes are counted on the file as read, before the gzip check looks at (and puts back) the
    // first chunk, so every byte counts once and the share ends at 100%.
    let bytes = 0;
    let shownAt: number | undefined;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        const now = Date.now();
        if (io.progress !== undefined && (shownAt === undefined || now - shownAt >= 200)) {
          shownAt = now;
          const share = size === undefined || size === 0 ? '' : ` (${Math.floor((bytes / size) * 100)}%)`;
          io.progress.write(`\r\u001b[Kreading ${path}: ${(bytes / 1024 / 1024).toFixed(0)} MiB${share}`);
        }
        done(null, chunk);
      },
    });
    stream.once('error', (error) => counted.destroy(error));
    stream.pipe(counted);
    read = await readAuditLog(decompressed(counted, path), read, seen);
    io.progress?.write('\r\u001b[K');
  }
  if (read.malformed > 0) {
    writeWarning(
      `skipped ${plural(read.malformed, 'line')} of the audit logs that mention violation codes but are not JSON audit Events`,
    );
  }
  return read.rejections;
}

/** One audit log, with its size for progress; a missing or unreadable file is a usage error. */
async function openAuditLog(path: string): Promise<{ stream: Readable; size: number | undefined }> {
  if (path === '-') return { stream: process.stdin, size: undefined };
  try {
    const handle = await open(path, 'r');
    const { size } = await handle.stat();
    return { stream: handle.createReadStream(), size };
  } catch (error) {
    throw new UsageError(
      `--audit-log ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        hint: "give the API server's audit log file (--audit-log-path), or - for standard input",
        cause: error,
      },
    );
  }
}

/** The text of a log: gunzipped when it starts with gzip's magic bytes, as rotated logs may. */
function decompressed(stream: Readable, path: string): Readable {
  const out = new PassThrough();
  let decided = false;
  stream.once('error', (error) => out.destroy(error));
  stream.on('data', function first(chunk: Buffer) {
    if (decided) return;
    decided = true;
    stream.off('data', first);
    stream.pause();
    stream.unshift(chunk);
    if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
      const gunzip = createGunzip();
      gunzip.once('error', (error) =>
        out.destroy(new UsageError(`--audit-log ${path}: not a readable gzip file (${error.message})`)),
      );
      stream.pipe(gunzip).pipe(out);
    } else {
      stream.pipe(out);
    }
  });
  stream.once('end', () => {
    if (!decided) out.end();
  });
  return out;
}
