import { isRecord, stringOrUndefined } from '../json.ts';
import { parseViolations, type Rejection } from './rejections.ts';

/**
 * The API server's audit log (JSON lines of audit.k8s.io/v1 Events) as a rejection history that
 * outlives Events: each admission request our webhook refused or warned about carries the
 * webhook's audit annotations, prefixed by the webhook's name (`<webhook>/verdict`,
 * `<webhook>/violation-codes`, ...), and the user who asked. Only the annotations and the
 * request's metadata are read; a log written at level `Request` would hold the Secret's body, and
 * nothing here looks at it.
 */

/** The verdicts worth listing: refused, or admitted with violations (warn or audit mode). */
const LISTED = new Set(['rejected', 'warned', 'audited']);
const VERDICT_SUFFIX = '/verdict';
/** Every line we want holds this; the others are skipped before JSON.parse, which is the cost. */
const MARKER = '/violation-codes"';

const VERBS: Readonly<Record<string, string>> = { create: 'CREATE', update: 'UPDATE', patch: 'UPDATE' };

/** One line of the log: a rejection (or warning), or undefined for every other line. */
export function readAuditLogLine(line: string): Rejection | undefined | 'malformed' {
  if (!line.includes(MARKER)) return undefined;
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return 'malformed';
  }
  if (!isRecord(event) || event['kind'] !== 'Event') return 'malformed';
  // At level Metadata each request logs RequestReceived and ResponseComplete; only the second
  // carries the admission annotations.
  if (event['stage'] !== 'ResponseComplete') return undefined;
  const annotations = isRecord(event['annotations']) ? event['annotations'] : {};
  const verdictKey = Object.keys(annotations).find(
    (key) =>
      key.endsWith(VERDICT_SUFFIX) &&
      annotations[`${key.slice(0, -VERDICT_SUFFIX.length)}/violation-codes`] !== undefined,
  );
  if (verdictKey === undefined) return undefined;
  const prefix = verdictKey.slice(0, -VERDICT_SUFFIX.length);
  const note = (key: string): string | undefined => stringOrUndefined(annotations[`${prefix}/${key}`]);
  const verdict = note('verdict') ?? '';
  if (!LISTED.has(verdict)) return undefined;
  const objectRef = isRecord(event['objectRef']) ? event['objectRef'] : {};
  const namespace = stringOrUndefined(objectRef['namespace']) ?? '';
  const name = stringOrUndefined(objectRef['name']) ?? '';
  const violations = parseViolations(note('violations')) ?? [];
  const list = (value: string | undefined): string[] =>
    value === undefined ? [] : value.split(',').filter((entry) => entry !== '');
  const requestUid = note('request-uid');
  const auditId = stringOrUndefined(event['auditID']);
  return {
    time: timeOf(event),
    user: userOf(event),
    operation:
      VERBS[stringOrUndefined(event['verb']) ?? ''] ?? (stringOrUndefined(event['verb']) ?? '').toUpperCase(),
    secret: namespace === '' ? name : `${namespace}/${name}`,
    clusters: list(note('clusters')),
    codes: list(note('violation-codes')),
    violations,
    count: 1,
    verdict,
    source: 'audit-log',
    // The API server wrote the record: the request and its user are real, whoever can reach
    // the webhook's port.
    authenticated: true,
    ...(requestUid === undefined ? {} : { requestUid }),
    ...(auditId === undefined ? {} : { auditId }),
  };
}

/** What reading one or more logs found. */
export interface AuditLogRead {
  readonly rejections: Rejection[];
  /** Lines that looked like ours but were not JSON audit Events. */
  readonly malformed: number;
  readonly lines: number;
}

/** A line longer than this is not an audit event of ours: skipped, so memory stays bounded. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const NEWLINE = 0x0a;
const MARKER_BYTES = Buffer.from(MARKER);

/**
 * Read audit log lines from `input` (already decompressed), in bounded memory: chunk by chunk,
 * never more than one chunk and one line held, keeping only the rejections. A chunk without our
 * annotation is only counted (most of a busy cluster's log). The same request seen twice (in two
 * rotated files, or a file given twice) is kept once, by the webhook's request uid, else by the
 * audit ID.
 */
export async function readAuditLog(
  input: AsyncIterable<Buffer | string>,
  into: AuditLogRead = { rejections: [], malformed: 0, lines: 0 },
  seen = new Set<string>(),
): Promise<AuditLogRead> {
  let { malformed, lines } = into;
  let pending: Buffer = Buffer.alloc(0);
  let skippingLongLine = false;
  const take = (line: string): void => {
    const found = readAuditLogLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (found === undefined) return;
    if (found === 'malformed') {
      malformed += 1;
      return;
    }
    const key = found.requestUid ?? found.auditId;
    if (key !== undefined) {
      if (seen.has(key)) return;
      seen.add(key);
    }
    into.rejections.push(found);
  };
  /** Every complete line of `data` (it ends with a newline). */
  const scan = (data: Buffer): void => {
    for (let at = data.indexOf(NEWLINE); at !== -1; at = data.indexOf(NEWLINE, at + 1)) lines += 1;
    for (let from = data.indexOf(MARKER_BYTES); from !== -1;) {
      const start = data.lastIndexOf(NEWLINE, from) + 1;
      const end = data.indexOf(NEWLINE, from);
      take(data.toString('utf8', start, end));
      from = data.indexOf(MARKER_BYTES, end + 1);
    }
  };
  for await (const piece of input) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      if (!skippingLongLine) pending = Buffer.concat([pending, chunk]);
      if (pending.length > MAX_LINE_BYTES) {
        skippingLongLine = true;
        pending = Buffer.alloc(0);
      }
      continue;
    }
    const first = chunk.indexOf(NEWLINE);
    if (skippingLongLine) {
      // The end of an over-long line: count it, skip it.
      lines += 1;
      malformed += 1;
      skippingLongLine = false;
    } else if (pending.length > 0) {
      scan(Buffer.concat([pending, chunk.subarray(0, first + 1)]));
    } else {
      scan(chunk.subarray(0, first + 1));
    }
    if (last > first) scan(chunk.subarray(first + 1, last + 1));
    // A copy: the rest of the chunk would otherwise keep the whole chunk alive.
    pending = Buffer.from(chunk.subarray(last + 1));
  }
  if (skippingLongLine) {
    lines += 1;
    malformed += 1;
  } else if (pending.length > 0) {
    scan(Buffer.concat([pending, Buffer.from([NEWLINE])]));
  }
  return { rejections: into.rejections, malformed, lines };
}

/**
 * Events and audit-log records together: an Event whose request is in the log is the same
 * refusal, and the log's record (one per request, with the user the API server authenticated)
 * is kept.
 */
export function mergeRejections(
  fromLog: readonly Rejection[],
  fromEvents: readonly Rejection[],
): Rejection[] {
  const logged = new Set(
    fromLog.flatMap((rejection) => (rejection.requestUid === undefined ? [] : [rejection.requestUid])),
  );
  return [
    ...fromLog,
    ...fromEvents.filter(
      (rejection) => rejection.requestUid === undefined || !logged.has(rejection.requestUid),
    ),
  ];
}

function userOf(event: Record<string, unknown>): string {
  const user = isRecord(event['user']) ? stringOrUndefined(event['user']['username']) : undefined;
  const as = isRecord(event['impersonatedUser'])
    ? stringOrUndefined(event['impersonatedUser']['username'])
    : undefined;
  return as === undefined ? (user ?? '') : `${user ?? '(unknown)'} as ${as}`;
}

function timeOf(event: Record<string, unknown>): string {
  for (const value of [event['stageTimestamp'], event['requestReceivedTimestamp']]) {
    const date = typeof value === 'string' ? new Date(value) : undefined;
    if (date !== undefined && Number.isFinite(date.getTime())) return date.toISOString();
  }
  return '';
}
