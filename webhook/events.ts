import { hostname } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { violationsOf, type AdmissionDecision } from '../shared/admission/decide.ts';
import { oneLine } from '../shared/admission/render.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import type { StoredSecretStatus } from '../shared/audit/background.ts';
import { EVENT_ANNOTATION_PREFIX, REJECTED_REASON } from '../shared/audit/rejections.ts';
import { isRecord } from '../shared/json.ts';
import { plural } from '../shared/text.ts';

export { EVENT_ANNOTATION_PREFIX, REJECTED_REASON };
export const COMPONENT = 'remote-secret-webhook';
/** warn and audit modes admit the secret; the Event says so with its own reason. */
export const ADMITTED_REASON = 'RemoteSecretAdmittedWithViolations';
/** The background audit found a stored secret with violations that had none (or was not there). */
export const NONCOMPLIANT_REASON = 'RemoteSecretNonCompliant';
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

export type CreateEvent = (namespace: string, event: EventBody) => Promise<unknown>;

/**
 * `exists`: an Event of that name is there already (the background audit names its Events after
 * the secret's state, so another replica, or this one before a restart, wrote it).
 */
export type EventResult = 'created' | 'exists' | 'failed' | 'dropped';

export interface EventRecorderOptions {
  readonly create: CreateEvent;
  readonly onResult: (result: EventResult, error?: unknown) => void;
  readonly instance?: string;
}

/**
 * Writes one Warning Event per admission with violations, in the secret's namespace, off the
 * request path: the response never waits for the API server. A burst beyond 100 pending Events
 * is dropped and counted rather than queued without bound. Never on dry-run requests.
 */
export class EventRecorder {
  private pending = 0;
  private readonly inFlight = new Set<Promise<EventResult>>();
  private readonly instance: string;

  constructor(private readonly options: EventRecorderOptions) {
    this.instance = options.instance ?? hostname();
  }

  get reportingInstance(): string {
    return this.instance;
  }

  record(request: AdmissionRequest, decision: AdmissionDecision): void {
    if (request.dryRun || decision.secret === undefined) return;
    if (decision.verdict !== 'rejected' && decision.verdict !== 'warned' && decision.verdict !== 'audited')
      return;
    void this.send(buildEvent(request, decision, this.instance));
  }

  /**
   * Write one Event, within the same bound as admission Events; resolves with the result (also
   * reported to `onResult`) and never rejects.
   */
  send(event: EventBody): Promise<EventResult> {
    if (this.pending >= MAX_PENDING) {
      this.options.onResult('dropped');
      return Promise.resolve('dropped');
    }
    this.pending += 1;
    const sent: Promise<EventResult> = this.options
      .create(event.metadata.namespace, event)
      .then(
        (): EventResult => 'created',
        (error: unknown): EventResult => (isAlreadyExists(error) ? 'exists' : this.failed(error)),
      )
      .then((result) => {
        if (result !== 'failed') this.options.onResult(result);
        return result;
      })
      .finally(() => {
        this.pending -= 1;
        this.inFlight.delete(sent);
      });
    this.inFlight.add(sent);
    return sent;
  }

  private failed(error: unknown): 'failed' {
    this.options.onResult('failed', error);
    return 'failed';
  }

  /** Wait for Events already handed to the API server (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}

export function buildEvent(
  request: AdmissionRequest,
  decision: AdmissionDecision,
  instance: string,
): EventBody {
  const [namespace, name] = splitRef(decision.secret ?? request.name, request.namespace);
  const now = new Date();
  const found = violationsOf(decision.clusters);
  const summary = found
    .map(
      ({ cluster, violation }) =>
        `${violation.code} at ${cluster === '' ? '' : `${cluster}: `}${violation.path || '(kubeconfig)'}`,
    )
    .join('; ');
  const verb = decision.verdict === 'rejected' ? 'rejected' : `admitted (${decision.verdict} mode)`;
  const message = oneLine(
    `${request.operation} by ${request.userInfo.username || '(unknown user)'} ${verb}: ${plural(found.length, 'violation')}: ${summary}`,
  );
  const uid = objectUid(request.object);
  return {
    metadata: {
      name: `${name || 'remote-secret'}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`,
      namespace,
      annotations: eventAnnotations(request, decision),
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
function eventAnnotations(request: AdmissionRequest, decision: AdmissionDecision): Record<string, string> {
  const fields: Record<string, string> = {
    user: request.userInfo.username,
    operation: request.operation,
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
    metadata: {
      // A DNS subdomain of at most 253 characters: the secret's name (one too), cut and trimmed.
      name: `${status.name.slice(0, 236).replace(/[-.]+$/, '') || 'remote-secret'}.${state}`,
      namespace: status.namespace,
      annotations: Object.fromEntries(
        Object.entries(annotations).map(([key, value]) => [
          `${EVENT_ANNOTATION_PREFIX}${key}`,
          oneLine(value),
        ]),
      ),
    },
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

/** client-node's ApiException carries the HTTP status as `code`. */
function isAlreadyExists(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 409;
}
