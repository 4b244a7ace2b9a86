import { pino, type DestinationStream, type Logger } from 'pino';
import { violationsOf, type AdmissionDecision } from '../shared/admission/decide.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import type { Caller } from './caller.ts';

/**
 * The structured audit line for one decided request. It names who did what to which secret and
 * which codes were found where; it never holds a kubeconfig, a token or a violation message.
 * `authenticated: false` says the user in it is the sender's claim, not the API server's word.
 */
export function logDecision(
  log: Logger,
  request: AdmissionRequest,
  decision: AdmissionDecision,
  caller: Caller,
): void {
  const who = {
    authenticated: caller.authenticated,
    ...(caller.subject === undefined ? {} : { caller: caller.subject }),
  };
  if (decision.verdict === 'skipped' || decision.verdict === 'allowed') {
    if (log.isLevelEnabled('debug')) {
      log.debug(
        {
          uid: request.uid,
          operation: request.operation,
          secret: decision.secret,
          verdict: decision.verdict,
          skipReason: decision.skipReason,
          ...who,
        },
        'admission decided',
      );
    }
    return;
  }
  const found = violationsOf(decision.clusters);
  log.warn(
    {
      audit: true,
      uid: request.uid,
      user: request.userInfo.username,
      ...who,
      operation: request.operation,
      dryRun: request.dryRun,
      namespace: request.namespace,
      name: request.name,
      secret: decision.secret,
      verdict: decision.verdict,
      clusters: [...new Set(found.map(({ cluster }) => cluster))],
      codes: [...new Set(found.map(({ violation }) => violation.code))],
      violations: found.map(({ cluster, violation }) => ({
        cluster,
        code: violation.code,
        path: violation.path,
      })),
    },
    `remote secret ${decision.verdict}`,
  );
}

/** Paths pino blanks out, should a kubeconfig or token ever reach a log call by mistake. */
export const REDACT_PATHS = [
  'kubeconfig',
  '*.kubeconfig',
  'token',
  '*.token',
  'data',
  '*.data',
  'stringData',
  '*.stringData',
  'object',
  '*.object',
  'oldObject',
  '*.oldObject',
  'req.headers.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * The webhook's root logger: JSON lines, secrets redacted. Every line names the service; the
 * parts of the webhook log through children that add their own `component`, so the root carries
 * none (pino does not merge bindings: a `component` on both would be written twice in one line).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'remote-secret-webhook' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
