import { hostname } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { violationCodes, violationsOf, type AdmissionDecision } from '../shared/admission/decide.ts';
import { oneLine } from '../shared/admission/render.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import type { StoredSecretStatus } from '../shared/audit/background.ts';
import type { ProbeResult } from '../shared/audit/probes.ts';
import type { RenewalFailure } from '../shared/controller/token-renewer.ts';
import {
  EVENT_ANNOTATION_PREFIX,
  REJECTED_REASON,
  UNAUTHENTICATED_NOTE,
} from '../shared/audit/rejections.ts';
import { errorCode } from '../shared/errors.ts';
import { isRecord } from '../shared/json.ts';
import { plural } from '../shared/text.ts';
import type { Caller } from './caller.ts';

export { EVENT_ANNOTATION_PREFIX, REJECTED_REASON };
export const COMPONENT = 'remote-secret-webhook';
/** warn and audit modes admit the secret; the Event says so with its own reason. */
export const ADMITTED_REASON = 'RemoteSecretAdmittedWithViolations';
/** The background audit found a stored secret with violations that had none (or was not there). */
export const NONCOMPLIANT_REASON = 'RemoteSecretNonCompliant';
/** --probe-remotes: a remote got worse as seen from the primary. */
export const UNREACHABLE_REASON = 'RemoteSecretUnreachable';
/** --renew-tokens: a renewable secret's token could not be renewed. */
export const RENEWAL_FAILED_REASON = 'RemoteSecretRenewalFailed';
const MAX_PENDING = 100;
const MAX_MESSAGE = 1024;

/**
 * A core/v1 Event as plain data. client-node's model classes serialize plain objects by their
 * declared type, so this is handed to `createNamespacedEvent` as it is.
 */
export interface EventBody {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly involvedObject: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly namespace: string;
    readonly name: string;
    readonly uid?: string;
  };
  readonly type: 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly action: string;
  readonly source: { readonly component: string; readonly host: string };
  readonly reportingComponent: string;
  readonly reportingInstance: string;
  readonly firstTimestamp: Date;
  readonly lastTimestamp: Date;
  readonly count: number;
}

/** The fields of an Event that a repeat of it changes (a JSON merge patch). */
export interface EventPatch {
  readonly count: number;
  readonly lastTimestamp: Date;
  readonly message: string;
  readonly metadata: { readonly annotations: Readonly<Record<string, string>> };
}

/**
 * Where Events go: the API server, through the webhook's one `KubeClient` (its timeouts, its
 * errors). Both reject with a `RemoteSecretError`: `already-exists` from `create`, `not-found`
 * from `patch` once the API server has let the Event expire (its --event-ttl, 1 h by default).
 */
export interface EventSink {
  create(event: EventBody): Promise<unknown>;
  patch(namespace: string, name: string, patch: EventPatch): Promise<unknown>;
}

/**
 * `created`, `patched`: written. `exists`: an Event of that name is there already (the background
 * audit names its Events after the secret's state, so another replica, or this one before a
 * restart, wrote it). `deferred`: the object's rate limit is spent; the count is kept and written
 * later. `dropped`: too many writes in flight.
 */
export type EventResult = 'created' | 'patched' | 'exists' | 'deferred' | 'failed' | 'dropped';

/** What the background loops (audit, probes, renewal) send their Events through: the recorder. */
export interface EventSender {
  send(event: EventBody): Promise<EventResult>;
  readonly reportingInstance: string;
}

export interface EventRecorderOptions {
  readonly sink: EventSink;
  readonly onResult: (result: EventResult, error?: unknown) => void;
  readonly instance?: string;
  readonly now?: () => Date;
  /** Writes one secret may burst to; client-go's EventSourceObjectSpamFilter allows 25. */
  readonly burst?: number;
  /**
   * One more write per this long once the burst is spent. client-go refills one per 5 minutes
   * and drops what comes over; here nothing is dropped, the count waits for the next token, so
   * the refill decides how stale a hot loop's count may get: 10 s.
   */
  readonly refillMs?: number;
  /** Series remembered at once (least recently seen forgotten first); client-go keeps 4,096. */
  readonly maxSeries?: number;
  /**
   * Writes for unauthenticated reviews (no --client-ca-file), all secrets together: a forger can
   * name a new secret in every review, which the per-secret bucket alone would not bound. 100,
   * then one more per `unauthenticatedRefillMs` (1 s).
   */
  readonly unauthenticatedBurst?: number;
  readonly unauthenticatedRefillMs?: number;
}

const DEFAULT_BURST = 25;
const DEFAULT_REFILL_MS = 10_000;
const DEFAULT_MAX_SERIES = 4096;
const DEFAULT_UNAUTHENTICATED_BURST = 100;
const DEFAULT_UNAUTHENTICATED_REFILL_MS = 1000;
/** The key of the one bucket every unauthenticated series shares; no secret key has a NUL. */
const UNAUTHENTICATED_BUCKET = '\u0000unauthenticated';

/** Repeats of one admission Event: the same secret, reason, user and violation codes. */
interface Series {
  readonly objectKey: string;
  /** From a review without a verified client certificate: also spends the shared bucket. */
  readonly authenticated: boolean;
  /** The latest repeat, as it would be created (its name stays the first one's). */
  event: EventBody;
  /** Repeats seen. */
  observed: number;
  /** The count the API server holds; 0 until the Event is created. */
  written: number;
  writing: boolean;
  retry: NodeJS.Timeout | undefined;
}

/** A token bucket per secret, as client-go's spam filter keeps per source and object. */
interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Writes a Warning Event for each admission with violations, in the secret's namespace, off the
 * request path: the response never waits for the API server. Never on dry-run requests.
 *
 * Repeats are aggregated as client-go's `EventCorrelator` does: the same secret, reason, user and
 * codes make one series, written as one Event whose `count` (and `lastTimestamp`, message) is
 * patched, so a GitOps loop re-applying a refused secret updates one Event instead of writing one
 * per retry. Each secret has a token bucket of writes; a repeat that finds it empty is still
 * counted, and the count is written when a token is back. Repeats that arrive while a write is in
 * flight are folded into the next one, so a burst of 50 costs a handful of writes and ends at
 * count 50. At most 100 writes are in flight at once; beyond that a write is dropped and counted.
 */
export class EventRecorder {
  private pending = 0;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly series = new Map<string, Series>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly instance: string;
  private readonly now: () => Date;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxSeries: number;

  constructor(private readonly options: EventRecorderOptions) {
    this.instance = options.instance ?? hostname();
    this.now = options.now ?? (() => new Date());
    this.burst = options.burst ?? DEFAULT_BURST;
    this.refillMs = options.refillMs ?? DEFAULT_REFILL_MS;
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  get reportingInstance(): string {
    return this.instance;
  }

  record(request: AdmissionRequest, decision: AdmissionDecision, caller: Caller): void {
    if (request.dryRun || decision.secret === undefined) return;
    if (decision.verdict !== 'rejected' && decision.verdict !== 'warned' && decision.verdict !== 'audited')
      return;
    const event = buildEvent(request, decision, caller, this.instance, this.now());
    // An unauthenticated sender writes any userInfo it likes: its reviews are one series per
    // secret and codes, so varying the user cannot multiply Events.
    const key = seriesKey(
      event,
      caller.authenticated ? request.userInfo.username : UNAUTHENTICATED_SERIES,
      violationCodes(decision.clusters),
    );
    let series = this.series.get(key);
    if (series === undefined) {
      series = {
        objectKey: objectKey(event),
        authenticated: caller.authenticated,
        event,
        observed: 0,
        written: 0,
        writing: false,
        retry: undefined,
      };
    } else {
      // Keep the first Event's name and first timestamp; take the latest message and annotations.
      series.event = {
        ...event,
        metadata: { ...event.metadata, name: series.event.metadata.name },
        firstTimestamp: series.event.firstTimestamp,
      };
      this.series.delete(key); // re-inserted below: the Map's order is least recently seen first
    }
    series.observed += 1;
    this.series.set(key, series);
    this.forgetOldest();
    this.write(series);
  }

  /**
   * Create one Event by name, within the same bounds as admission Events (in flight, per-object
   * rate); resolves with the result (also reported to `onResult`) and never rejects.
   */
  send(event: EventBody): Promise<EventResult> {
    if (this.pending >= MAX_PENDING) return Promise.resolve(this.report('dropped'));
    if (!this.takeToken(objectKey(event))) return Promise.resolve(this.report('deferred'));
    return this.track(
      this.options.sink.create(event).then(
        () => this.report('created'),
        (error: unknown) =>
          errorCode(error) === 'already-exists' ? this.report('exists') : this.failed(error),
      ),
    );
  }

  /**
   * Wait for the writes in flight, then write every count still unwritten once, whatever the
   * rate limit (shutdown, tests).
   */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    for (const series of this.series.values()) {
      clearTimeout(series.retry);
      series.retry = undefined;
      this.write(series, true);
    }
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private write(series: Series, ignoreRateLimit = false): void {
    if (series.writing || series.observed === series.written) return;
    if (this.pending >= MAX_PENDING) {
      this.report('dropped');
      return;
    }
    if (!ignoreRateLimit && !this.takeTokens(series)) {
      this.report('deferred');
      series.retry ??= setTimeout(() => {
        series.retry = undefined;
        this.write(series);
      }, this.refillMs).unref();
      return;
    }
    series.writing = true;
    const count = series.observed;
    const event = { ...series.event, count };
    const { sink } = this.options;
    const written =
      series.written === 0
        ? sink.create(event).then(() => this.report('created'))
        : sink
            .patch(event.metadata.namespace, event.metadata.name, {
              count,
              lastTimestamp: event.lastTimestamp,
              message: event.message,
              metadata: { annotations: event.metadata.annotations },
            })
            .then(
              () => this.report('patched'),
              // The API server let it expire: create it again, with the whole count, as client-go does.
              (error: unknown) => {
                if (errorCode(error) !== 'not-found') throw error;
                return sink.create(event).then(() => this.report('created'));
              },
            );
    void this.track(
      written.then(
        () => {
          series.written = count;
        },
        (error: unknown) => this.failed(error),
      ),
    ).finally(() => {
      series.writing = false;
      // Repeats that arrived meanwhile go out in one more write.
      if (series.written === count) this.write(series, ignoreRateLimit);
    });
  }

  private track<T>(write: Promise<T>): Promise<T> {
    this.pending += 1;
    const tracked = write.finally(() => {
      this.pending -= 1;
      this.inFlight.delete(tracked);
    });
    this.inFlight.add(tracked);
    return tracked;
  }

  /** The secret's token and, for an unauthenticated series, the shared one: both or neither. */
  private takeTokens(series: Series): boolean {
    if (series.authenticated) return this.takeToken(series.objectKey);
    const { unauthenticatedBurst, unauthenticatedRefillMs } = this.options;
    const shared = {
      burst: unauthenticatedBurst ?? DEFAULT_UNAUTHENTICATED_BURST,
      refillMs: unauthenticatedRefillMs ?? DEFAULT_UNAUTHENTICATED_REFILL_MS,
    };
    if (!this.takeToken(UNAUTHENTICATED_BUCKET, shared)) return false;
    if (this.takeToken(series.objectKey)) return true;
    const bucket = this.buckets.get(UNAUTHENTICATED_BUCKET);
    if (bucket !== undefined) bucket.tokens += 1; // not spent after all
    return false;
  }

  private takeToken(key: string, limit = { burst: this.burst, refillMs: this.refillMs }): boolean {
    const { burst, refillMs } = limit;
    const nowMs = this.now().getTime();
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedMs: nowMs };
    const refilled = Math.floor((nowMs - bucket.updatedMs) / refillMs);
    if (refilled > 0) {
      bucket.tokens = Math.min(burst, bucket.tokens + refilled);
      bucket.updatedMs += refilled * refillMs;
    }
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxSeries) this.buckets.delete(this.buckets.keys().next().value ?? '');
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private forgetOldest(): void {
    while (this.series.size > this.maxSeries) {
      const [key, oldest] = this.series.entries().next().value ?? ['', undefined];
      if (oldest !== undefined) clearTimeout(oldest.retry);
      this.series.delete(key);
    }
  }

  private report(result: EventResult): EventResult {
    this.options.onResult(result);
    return result;
  }

  private failed(error: unknown): 'failed' {
    this.options.onResult('failed', error);
    return 'failed';
  }
}

function objectKey(event: EventBody): string {
  return `${event.involvedObject.namespace}/${event.involvedObject.name}`;
}

/** Stands for the user in the series key of unauthenticated reviews; no username has a NUL. */
const UNAUTHENTICATED_SERIES = '\u0000unauthenticated';

function seriesKey(event: EventBody, user: string, codes: readonly string[]): string {
  return [objectKey(event), event.reason, user, [...codes].sort().join(',')].join('\u0000');
}

export function buildEvent(
  request: AdmissionRequest,
  decision: AdmissionDecision,
  caller: Caller,
  instance: string,
  now: Date = new Date(),
): EventBody {
  const [namespace, name] = splitRef(decision.secret ?? request.name, request.namespace);
  const found = violationsOf(decision.clusters);
  const summary = found
    .map(
      ({ cluster, violation }) =>
        `${violation.code} at ${cluster === '' ? '' : `${cluster}: `}${violation.path || '(kubeconfig)'}`,
    )
    .join('; ');
  // The mode as --mode spells it: warn and audit admit, enforce rejects.
  const verb =
    decision.verdict === 'rejected'
      ? 'rejected'
      : `admitted (${decision.verdict === 'warned' ? 'warn' : 'audit'} mode)`;
  const message = oneLine(
    `${request.operation} by ${request.userInfo.username || '(unknown user)'}${caller.authenticated ? '' : UNAUTHENTICATED_NOTE} ${verb}: ${plural(found.length, 'violation')}: ${summary}`,
  );
  const uid = objectUid(request.object);
  return {
    metadata: {
      name: `${name || 'remote-secret'}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`,
      namespace,
      annotations: eventAnnotations(request, decision, caller),
    },
    ...warningOnSecret({
      namespace,
      name,
      uid,
      reason: decision.verdict === 'rejected' ? REJECTED_REASON : ADMITTED_REASON,
      message,
      action: request.operation,
      instance,
      now,
    }),
  };
}

/** The part every Event of ours shares: a Warning about one Secret, from this webhook instance. */
function warningOnSecret(event: {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly reason: string;
  readonly message: string;
  readonly action: string;
  readonly instance: string;
  readonly now: Date;
}): Omit<EventBody, 'metadata'> {
  const { namespace, name, uid, message, instance, now } = event;
  return {
    involvedObject: {
      apiVersion: 'v1',
      kind: 'Secret',
      namespace,
      name,
      ...(uid === undefined ? {} : { uid }),
    },
    type: 'Warning',
    reason: event.reason,
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
    action: event.action,
    source: { component: COMPONENT, host: instance },
    reportingComponent: COMPONENT,
    reportingInstance: instance,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

/** User and operation, and the audit annotations the admission response carries (codes, paths). */
function eventAnnotations(
  request: AdmissionRequest,
  decision: AdmissionDecision,
  caller: Caller,
): Record<string, string> {
  const fields: Record<string, string> = {
    user: request.userInfo.username,
    operation: request.operation,
    // "false": the review came without a verified client certificate, so user is only a claim.
    authenticated: String(caller.authenticated),
    ...(caller.subject === undefined ? {} : { caller: caller.subject }),
    ...decision.response.auditAnnotations,
  };
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [`${EVENT_ANNOTATION_PREFIX}${key}`, oneLine(value)]),
  );
}

function splitRef(ref: string, fallbackNamespace: string): [string, string] {
  const slash = ref.indexOf('/');
  return slash === -1 ? [fallbackNamespace, ref] : [ref.slice(0, slash), ref.slice(slash + 1)];
}

function objectUid(object: unknown): string | undefined {
  const metadata = isRecord(object) ? object['metadata'] : undefined;
  const uid = isRecord(metadata) ? metadata['uid'] : undefined;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

/**
 * The Warning Event for a stored secret the background audit found newly non-compliant. Its name
 * is derived from the secret's uid, resourceVersion and codes, so every replica, and this one
 * after a restart, writes the same Event for the same state, and the API server keeps one
 * (409 for the others). Codes, cluster IDs and paths only; never a kubeconfig.
 */
export function buildNonCompliantEvent(status: StoredSecretStatus, instance: string, now: Date): EventBody {
  const codes = [...new Set(status.violations.map((found) => found.code))];
  const clusters = [...new Set(status.violations.map((found) => found.cluster).filter((id) => id !== ''))];
  const summary = status.violations
    .map(
      ({ cluster, code, path }) => `${code} at ${cluster === '' ? '' : `${cluster}: `}${path || '(secret)'}`,
    )
    .join('; ');
  const count = status.violations.length;
  const fix = status.hints.length === 0 ? '' : `; fix: ${status.hints.join('; ')}`;
  const message = oneLine(
    `stored remote secret ${status.secret} is non-compliant: ${plural(count, 'violation')}${clusters.length === 0 ? '' : ` in ${plural(clusters.length, 'cluster')}`}: ${summary}${fix}`,
  );
  const state = createHash('sha256')
    .update([status.secret, status.uid ?? '', status.resourceVersion ?? '', codes.join(',')].join('\u0000'))
    .digest('hex')
    .slice(0, 16);
  const annotations: Record<string, string> = {
    'found-by': 'background-audit',
    'violation-codes': codes.join(','),
    clusters: clusters.join(','),
    violations: JSON.stringify(status.violations.map(({ cluster, code, path }) => ({ cluster, code, path }))),
    ...(status.resourceVersion === undefined ? {} : { 'resource-version': status.resourceVersion }),
  };
  return {
    metadata: stateEventMetadata(status.namespace, status.name, state, annotations),
    ...warningOnSecret({
      namespace: status.namespace,
      name: status.name,
      uid: status.uid,
      reason: NONCOMPLIANT_REASON,
      message,
      action: 'Audit',
      instance,
      now,
    }),
  };
}

/**
 * The Event for a remote that got worse as probed from the primary. Its name is stable for one
 * secret version, cluster and outcome within an hour, so a new leader re-announcing what the last
 * one already told finds it written ('exists'), and a relapse an hour later is a new Event.
 */
export function probeWorsenedEvent(result: ProbeResult, instance: string, now: Date): EventBody {
  const state = hourlyState(now, [
    `${result.namespace}/${result.name}`,
    result.uid ?? '',
    result.resourceVersion ?? '',
    result.cluster,
    result.outcome,
  ]);
  const fix = result.hint === undefined ? '' : `; fix: ${result.hint}`;
  const annotations: Record<string, string> = {
    'found-by': 'remote-probe',
    clusters: result.cluster,
    outcome: result.outcome,
    ...(result.server === undefined ? {} : { server: result.server }),
    ...(result.resourceVersion === undefined ? {} : { 'resource-version': result.resourceVersion }),
  };
  return {
    metadata: stateEventMetadata(result.namespace, result.name, state, annotations),
    ...warningOnSecret({
      namespace: result.namespace,
      name: result.name,
      uid: result.uid,
      reason: UNREACHABLE_REASON,
      message: oneLine(
        `remote cluster "${result.cluster}" of ${result.namespace}/${result.name} is ${result.outcome} from the primary: ${result.message}${fix}`,
      ),
      action: 'Probe',
      instance,
      now,
    }),
  };
}

/**
 * The metadata of an Event named after the state it reports (`<secret>.<hash of the state>`), so
 * the API server keeps one per state; our annotations under EVENT_ANNOTATION_PREFIX, one line each.
 */
/**
 * --renew-tokens: a Warning on the Secret for a cluster whose token could not be renewed, with the
 * fix. Named per secret version, cluster, reason and hour, so retries within the hour (and a new
 * leader's) add to one Event's count instead of writing new ones.
 */
export function renewalFailedEvent(failure: RenewalFailure, instance: string, now: Date): EventBody {
  const state = hourlyState(now, [
    `${failure.namespace}/${failure.name}`,
    failure.uid ?? '',
    failure.resourceVersion ?? '',
    failure.cluster,
    failure.reason,
  ]);
  const fix = failure.hint === '' ? '' : `; fix: ${failure.hint}`;
  return {
    metadata: stateEventMetadata(failure.namespace, failure.name, state, {
      'found-by': 'token-renewal',
      clusters: failure.cluster,
      reason: failure.reason,
      'retry-at': failure.retryAt.toISOString(),
      ...(failure.resourceVersion === undefined ? {} : { 'resource-version': failure.resourceVersion }),
    }),
    ...warningOnSecret({
      namespace: failure.namespace,
      name: failure.name,
      uid: failure.uid,
      reason: RENEWAL_FAILED_REASON,
      message: oneLine(
        `the token of remote cluster "${failure.cluster}" in ${failure.namespace}/${failure.name} was not renewed (${failure.reason}): ${failure.message}${fix}`,
      ),
      action: 'Renew',
      instance,
      now,
    }),
  };
}

/** A short digest of `parts` and the hour `now` falls in: a name that repeats within the hour. */
function hourlyState(now: Date, parts: readonly string[]): string {
  const hour = Math.floor(now.getTime() / 3_600_000);
  return createHash('sha256')
    .update([...parts, String(hour)].join('\u0000'))
    .digest('hex')
    .slice(0, 16);
}

function stateEventMetadata(
  namespace: string,
  secret: string,
  state: string,
  annotations: Readonly<Record<string, string>>,
): EventBody['metadata'] {
  return {
    // A DNS subdomain of at most 253 characters: the secret's name (one too), cut and trimmed.
    name: `${secret.slice(0, 236).replace(/[-.]+$/, '') || 'remote-secret'}.${state}`,
    namespace,
    annotations: Object.fromEntries(
      Object.entries(annotations).map(([key, value]) => [`${EVENT_ANNOTATION_PREFIX}${key}`, oneLine(value)]),
    ),
  };
}
