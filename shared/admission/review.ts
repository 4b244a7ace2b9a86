import { isRecord } from '../json.ts';

/**
 * The `admission.k8s.io/v1` AdmissionReview contract, as far as a validating webhook for Secrets
 * needs it. The API server rejects a response whose envelope is not exactly v1 AdmissionReview or
 * whose `uid` differs from the request's, so both are fixed here and nowhere else.
 */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

export interface UserInfo {
  readonly username: string;
  readonly groups: readonly string[];
}

/** The fields of `request` the decision reads; `object` and `oldObject` stay unchecked here. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  readonly subResource: string;
  /** Empty on a CREATE that uses generateName. */
  readonly name: string;
  readonly namespace: string;
  readonly operation: Operation;
  readonly userInfo: UserInfo;
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly dryRun: boolean;
}

export interface AdmissionStatus {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  /**
   * For a denial the caller should retry: the API server turns `retryAfterSeconds` into a
   * `Retry-After` header, and client-go (kubectl) retries a 5xx that carries one.
   */
  readonly details?: { readonly retryAfterSeconds: number };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  /** Shown by kubectl as `Warning: <text>`; each one short line. */
  readonly warnings?: readonly string[];
  /** Keys are qualified names without "/": the API server prefixes them with the webhook name. */
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_KIND;
  readonly response: AdmissionResponse;
}

/** Why a request body is not an AdmissionReview we can answer: the server turns it into a 400. */
export type ReviewErrorCode =
  'not-an-object' | 'wrong-api-version' | 'wrong-kind' | 'no-request' | 'no-uid' | 'invalid-request';

export type ParsedReview =
  | { readonly ok: true; readonly request: AdmissionRequest }
  | {
      readonly ok: false;
      readonly code: ReviewErrorCode;
      readonly message: string;
      /** The request uid when it could be read, for the log line. */
      readonly uid?: string;
    };

/** Check an already JSON-parsed body and give it a type; nothing is trusted until here. */
export function parseAdmissionReview(body: unknown): ParsedReview {
  if (!isRecord(body)) {
    return { ok: false, code: 'not-an-object', message: 'the body is not a JSON object' };
  }
  const request = isRecord(body['request']) ? body['request'] : undefined;
  const uid = typeof request?.['uid'] === 'string' ? request['uid'] : undefined;
  const fail = (code: ReviewErrorCode, message: string): ParsedReview =>
    uid === undefined ? { ok: false, code, message } : { ok: false, code, message, uid };
  if (body['apiVersion'] !== ADMISSION_API_VERSION) {
    return fail(
      'wrong-api-version',
      `apiVersion is ${describe(body['apiVersion'])}; this webhook answers ${ADMISSION_API_VERSION} only (set admissionReviewVersions: [v1])`,
    );
  }
  if (body['kind'] !== ADMISSION_KIND) {
    return fail('wrong-kind', `kind is ${describe(body['kind'])}; expected ${ADMISSION_KIND}`);
  }
  if (request === undefined) return fail('no-request', 'the AdmissionReview has no request');
  if (uid === undefined || uid === '') return fail('no-uid', 'request.uid is missing');
  const operation = request['operation'];
  if (typeof operation !== 'string' || !OPERATIONS.includes(operation)) {
    return fail('invalid-request', `request.operation is ${describe(operation)}`);
  }
  const kind = request['kind'];
  const resource = request['resource'];
  if (!isRecord(kind) || !isRecord(resource)) {
    return fail('invalid-request', 'request.kind and request.resource must be objects');
  }
  const userInfo = isRecord(request['userInfo']) ? request['userInfo'] : {};
  const groups = Array.isArray(userInfo['groups']) ? userInfo['groups'] : [];
  return {
    ok: true,
    request: {
      uid,
      kind: { group: text(kind['group']), version: text(kind['version']), kind: text(kind['kind']) },
      resource: {
        group: text(resource['group']),
        version: text(resource['version']),
        resource: text(resource['resource']),
      },
      subResource: text(request['subResource']),
      name: text(request['name']),
      namespace: text(request['namespace']),
      operation: operation as Operation,
      userInfo: {
        username: text(userInfo['username']),
        groups: groups.filter((group): group is string => typeof group === 'string'),
      },
      object: request['object'] ?? null,
      oldObject: request['oldObject'] ?? null,
      dryRun: request['dryRun'] === true,
    },
  };
}

/** The v1 envelope around a response; a validating webhook never returns a patch. */
export function admissionReviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 64));
  return `a ${value === null ? 'null' : typeof value}`;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
