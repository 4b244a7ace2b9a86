import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { violationsOf, type AdmissionDecision } from '../shared/admission/decide.ts';
import { oneLine } from '../shared/admission/render.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import { EVENT_ANNOTATION_PREFIX, REJECTED_REASON } from '../shared/audit/rejections.ts';

export { EVENT_ANNOTATION_PREFIX, REJECTED_REASON };
export const COMPONENT = 'remote-secret-webhook';
/** warn and audit modes admit the secret; the Event says so with its own reason. */
export const ADMITTED_REASON = 'RemoteSecretAdmittedWithViolations';
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

export interface EventRecorderOptions {
  readonly create: CreateEvent;
  readonly onResult: (result: 'created' | 'failed' | 'dropped', error?: unknown) => void;
  readonly instance?: string;
}

/**
 * Writes one Warning Event per admission with violations, in the secret's namespace, off the
 * request path: the response never waits for the API server. A burst beyond 100 pending Events
 * is dropped and counted rather than queued without bound. Never on dry-run requests.
 */
export class EventRecorder {
  private pending = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly instance: string;

  constructor(private readonly options: EventRecorderOptions) {
    this.instance = options.instance ?? hostname();
  }

  record(request: AdmissionRequest, decision: AdmissionDecision): void {
    if (request.dryRun || decision.secret === undefined) return;
    if (decision.verdict !== 'rejected' && decision.verdict !== 'warned' && decision.verdict !== 'audited')
      return;
    if (this.pending >= MAX_PENDING) {
      this.options.onResult('dropped');
      return;
    }
    const event = buildEvent(request, decision, this.instance);
    const namespace = event.metadata.namespace;
    this.pending += 1;
    const sent = this.options
      .create(namespace, event)
      .then(
        () => {
          this.options.onResult('created');
        },
        (error: unknown) => {
          this.options.onResult('failed', error);
        },
      )
      .finally(() => {
        this.pending -= 1;
        this.inFlight.delete(sent);
      });
    this.inFlight.add(sent);
  }

  /** Wait for Events already handed to the API server (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
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
    `${request.operation} by ${request.userInfo.username || '(unknown user)'} ${verb}: ${found.length} violation${found.length === 1 ? '' : 's'}: ${summary}`,
  );
  const uid = objectUid(request.object);
  return {
    metadata: {
      name: `${name || 'remote-secret'}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`,
      namespace,
      annotations: eventAnnotations(request, decision),
    },
    involvedObject: {
      apiVersion: 'v1',
      kind: 'Secret',
      namespace,
      name,
      ...(uid === undefined ? {} : { uid }),
    },
    type: 'Warning',
    reason: decision.verdict === 'rejected' ? REJECTED_REASON : ADMITTED_REASON,
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
    action: request.operation,
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
  if (object === null || typeof object !== 'object') return undefined;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (metadata === null || typeof metadata !== 'object') return undefined;
  const uid = (metadata as { uid?: unknown }).uid;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}
