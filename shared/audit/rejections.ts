import { isRecord, stringOrUndefined } from '../json.ts';

/** The reason of the Event the webhook writes for each refused secret (webhook/events.ts). */
export const REJECTED_REASON = 'RemoteSecretRejected';
/**
 * Prefix of that Event's annotations: who did what, and the codes found where, as data, so
 * `audit --rejections` need not parse the message (which is clipped at 1 KiB).
 */
export const EVENT_ANNOTATION_PREFIX = 'remote-secret-webhook/';
/**
 * Follows the user in the message of an Event from a review that came without a verified client
 * certificate (the webhook runs without --client-ca-file): the user is the sender's claim.
 */
export const UNAUTHENTICATED_NOTE = ' (unauthenticated caller)';

/** One refused apply of a remote secret, as the webhook's Event recorded it. */
export interface Rejection {
  /** ISO time of the Event (last seen), or '' when the Event carries none. */
  readonly time: string;
  readonly user: string;
  readonly operation: string;
  /** `namespace/name` of the refused secret. */
  readonly secret: string;
  readonly clusters: readonly string[];
  readonly codes: readonly string[];
  /** Codes with where they were found, when the Event carries them. */
  readonly violations: readonly { readonly cluster: string; readonly code: string; readonly path: string }[];
  readonly count: number;
  /** `rejected`; from an audit log also `warned` or `audited` (admitted with violations). */
  readonly verdict: string;
  /** Where it was read: the webhook's Event, or the API server's audit log. */
  readonly source: 'event' | 'audit-log';
  /** The AdmissionReview's uid, which the Event and the audit log both carry (newer webhooks). */
  readonly requestUid?: string;
  /** The API server's audit ID, for an audit-log record. */
  readonly auditId?: string;
  /**
   * Whether the webhook verified the caller's client certificate: false means anyone who could
   * reach the webhook may have sent it, with any user. Undefined when the Event does not say
   * (an older webhook).
   */
  readonly authenticated?: boolean;
}

/**
 * Read one Event (untrusted: anyone who may create Events can write one with this reason) into
 * a Rejection. Annotations win; an Event from an older webhook without them is read from its
 * message, `CREATE by alice rejected: 2 violations: exec at east: users[0].user.exec; ...`.
 */
export function readRejection(event: unknown): Rejection | undefined {
  const object = record(event);
  if (object === undefined || object['reason'] !== REJECTED_REASON) return undefined;
  const metadata = record(object['metadata']) ?? {};
  const annotations = record(metadata['annotations']) ?? {};
  const involved = record(object['involvedObject']) ?? {};
  const note = (key: string): string | undefined =>
    stringOrUndefined(annotations[`${EVENT_ANNOTATION_PREFIX}${key}`]);
  const message = stringOrUndefined(object['message']) ?? '';
  const fromMessage = parseMessage(message);
  const violations = parseViolations(note('violations')) ?? fromMessage.violations;
  const codes = note('violation-codes')
    ?.split(',')
    .filter((code) => code !== '') ?? [...new Set(violations.map((found) => found.code))];
  const clusters = note('clusters')
    ?.split(',')
    .filter((cluster) => cluster !== '') ?? [
    ...new Set(violations.map((found) => found.cluster).filter((cluster) => cluster !== '')),
  ];
  const namespace =
    stringOrUndefined(involved['namespace']) ?? stringOrUndefined(metadata['namespace']) ?? '';
  const name = stringOrUndefined(involved['name']) ?? '';
  const count = object['count'];
  const requestUid = note('request-uid');
  const authenticated = note('authenticated') ?? fromMessage.authenticated;
  return {
    time: timeOf(object, metadata),
    user: note('user') ?? fromMessage.user,
    operation: note('operation') ?? fromMessage.operation,
    secret: namespace === '' ? name : `${namespace}/${name}`,
    clusters,
    codes,
    violations,
    count: typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : 1,
    verdict: 'rejected',
    source: 'event',
    ...(requestUid === undefined ? {} : { requestUid }),
    ...(authenticated === 'true' ? { authenticated: true } : {}),
    ...(authenticated === 'false' ? { authenticated: false } : {}),
  };
}

/** Newest first, and only those at or after `since` (when given); undated Events sort last. */
export function selectRejections(rejections: readonly Rejection[], since: Date | undefined): Rejection[] {
  const from = since?.toISOString();
  return rejections
    .filter((rejection) => from === undefined || (rejection.time !== '' && rejection.time >= from))
    .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.secret.localeCompare(b.secret)));
}

function timeOf(event: Record<string, unknown>, metadata: Record<string, unknown>): string {
  for (const value of [
    event['lastTimestamp'],
    event['eventTime'],
    event['firstTimestamp'],
    metadata['creationTimestamp'],
  ]) {
    const date = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : undefined;
    if (date !== undefined && Number.isFinite(date.getTime())) return date.toISOString();
  }
  return '';
}

const MESSAGE = /^(\S+) by (.*?) rejected: \d+ violations?: (.*)$/s;

function parseMessage(message: string): {
  user: string;
  operation: string;
  violations: Rejection['violations'];
  authenticated: 'false' | undefined;
} {
  const match = MESSAGE.exec(message);
  if (match === null) return { user: '', operation: '', violations: [], authenticated: undefined };
  const [, operation = '', claimed = '', summary = ''] = match;
  const unauthenticated = claimed.endsWith(UNAUTHENTICATED_NOTE);
  const user = unauthenticated ? claimed.slice(0, -UNAUTHENTICATED_NOTE.length) : claimed;
  const violations = summary
    .split('; ')
    .map((part) => /^([a-z-]+) at (?:([^:\s]+): )?(.*)$/.exec(part))
    .filter((found) => found !== null)
    .map(([, code = '', cluster = '', path = '']) => ({ code, cluster, path }));
  return {
    user: user === '(unknown user)' ? '' : user,
    operation,
    violations,
    authenticated: unauthenticated ? 'false' : undefined,
  };
}

export function parseViolations(value: string | undefined): Rejection['violations'] | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  return parsed.flatMap((entry: unknown) => {
    const found = record(entry);
    const code = stringOrUndefined(found?.['code']);
    if (found === undefined || code === undefined) return [];
    return [
      {
        code,
        cluster: stringOrUndefined(found['cluster']) ?? '',
        path: stringOrUndefined(found['path']) ?? '',
      },
    ];
  });
}

function record(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}
