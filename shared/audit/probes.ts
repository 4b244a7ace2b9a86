import type { ClusterVerification } from '../remote-secret/verify.ts';

/**
 * What a probe from the primary found for one cluster, worst last: `forbidden` reached and
 * authenticated but lacks reader permissions, `unauthenticated` reached but the credential was
 * refused, `unreachable` never got an answer (network, TLS, a redirect, a refused address).
 * `skipped`: not probed (a proxy-url, a CA file on istiod's disk, an exec the webhook never runs).
 */
export type ProbeOutcome = 'ok' | 'forbidden' | 'unauthenticated' | 'unreachable' | 'skipped';

export const PROBE_OUTCOMES: readonly ProbeOutcome[] = [
  'ok',
  'forbidden',
  'unauthenticated',
  'unreachable',
  'skipped',
];

const SEVERITY: Readonly<Record<ProbeOutcome, number>> = {
  skipped: -1,
  ok: 0,
  forbidden: 1,
  unauthenticated: 2,
  unreachable: 3,
};

/** Missing permissions named in a result's message. */
const MISSING_NAMED = 3;

/** One cluster of one stored secret, as the last probe found it. Never holds a credential. */
export interface ProbeResult {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly cluster: string;
  readonly server: string | undefined;
  readonly outcome: ProbeOutcome;
  /** What failed (or why not probed), and what to do; empty for ok. */
  readonly message: string;
  readonly hint: string | undefined;
  readonly seconds: number;
}

/** The outcome and its explanation, from verify's per-step statuses. */
export function probeOutcome(verification: ClusterVerification): {
  outcome: ProbeOutcome;
  message: string;
  hint: string | undefined;
} {
  const { reachable, auth, rbac } = verification;
  if (reachable.status === 'failed') {
    return { outcome: 'unreachable', message: reachable.message ?? 'unreachable', hint: reachable.hint };
  }
  if (reachable.status === 'skipped') {
    return { outcome: 'skipped', message: reachable.message ?? 'not probed', hint: undefined };
  }
  if (auth.status === 'failed') {
    return {
      outcome: 'unauthenticated',
      message: auth.message ?? 'the credential was refused',
      hint: auth.hint,
    };
  }
  if (rbac.status === 'failed') {
    // A few by name (an Event message is short); verify lists them all.
    const named = rbac.missing.slice(0, MISSING_NAMED);
    const more = rbac.missing.length - named.length;
    const missing =
      named.length === 0 ? '' : `: ${named.join(', ')}${more > 0 ? ` and ${String(more)} more` : ''}`;
    return {
      outcome: 'forbidden',
      message: `${rbac.message ?? 'missing permissions'}${missing}`,
      hint: rbac.hint,
    };
  }
  return { outcome: 'ok', message: '', hint: undefined };
}

/**
 * A server URL without its userinfo (`https://user:password@host` -> `https://host`): a probe's
 * results go to Events and PolicyReports, which more people read than the secret, and a
 * password in the URL is a credential. The rest is kept as written, so it still matches the
 * kubeconfig.
 */
export function withoutUserinfo(server: string): string {
  const userinfo = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/.exec(server);
  return userinfo === null ? server : `${userinfo[1] ?? ''}${server.slice(userinfo[0].length)}`;
}

/** The key of one cluster of one secret. */
export function probeKey(result: Pick<ProbeResult, 'namespace' | 'name' | 'cluster'>): string {
  return `${result.namespace}/${result.name}\u0000${result.cluster}`;
}

/**
 * Which results got worse since the last round this tracker saw: a failing outcome more severe
 * than the last one announced (a cluster seen for the first time counts as having been ok).
 * `markAnnounced` records an outcome once its Event was written, so one that could not be
 * written is announced again by the next round.
 */
export class ProbeTracker {
  private announced = new Map<string, ProbeOutcome>();

  /** The worsened results of a complete round; forgets clusters the round no longer has. */
  completeRound(results: readonly ProbeResult[]): ProbeResult[] {
    const seen = new Map<string, ProbeOutcome>();
    const worse: ProbeResult[] = [];
    for (const result of results) {
      const key = probeKey(result);
      const before = this.announced.get(key) ?? 'ok';
      if (SEVERITY[result.outcome] > Math.max(0, SEVERITY[before])) {
        worse.push(result);
        seen.set(key, before);
      } else {
        // Better or the same: remembered now, so a later relapse is news again.
        seen.set(key, result.outcome);
      }
    }
    this.announced = seen;
    return worse;
  }

  markAnnounced(result: ProbeResult): void {
    this.announced.set(probeKey(result), result.outcome);
  }
}
