import { INSECURE_OPTIONS, OWN_OPTIONS, type AllowList } from './sanitize.ts';

/**
 * `--allow` values -> the set istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS holds for
 * the same text (plus our own `certificateAuthority`, which istiod ignores). Istio splits the
 * variable on "," and keeps every piece exactly as written (no trimming, case-sensitive), so a
 * value copied from istiod's environment means the same here; repeated flags are joined with ",".
 * Nothing is refused: an entry that allows nothing in istiod allows nothing here, and
 * `allowListWarnings` says so.
 */
export function parseAllowList(values: readonly string[]): AllowList {
  return new Set(values.join(',').split(','));
}

const KNOWN_OPTIONS: readonly string[] = [...INSECURE_OPTIONS, ...OWN_OPTIONS];

/** One line per entry that does not do what it looks like it does, in istiod and here alike. */
export function allowListWarnings(allow: AllowList, flag = '--allow'): string[] {
  const warnings: string[] = [];
  for (const entry of allow) {
    if (entry === '' || KNOWN_OPTIONS.includes(entry)) continue;
    const meant = KNOWN_OPTIONS.find((option) => option.toLowerCase() === entry.trim().toLowerCase());
    if (meant !== undefined) {
      warnings.push(
        `${flag}: ${JSON.stringify(entry)} allows nothing: option names are compared exactly (case and spaces count, as in istiod); write ${meant}`,
      );
    } else if (entry === 'oidc') {
      warnings.push(`${flag}: oidc is always allowed; the entry changes nothing`);
    } else if (entry.trim() !== entry) {
      warnings.push(
        `${flag}: ${JSON.stringify(entry)} allows nothing: istiod does not trim spaces around names; write ${JSON.stringify(entry.trim())}`,
      );
    } else {
      warnings.push(
        `${flag}: ${JSON.stringify(entry)} lets the auth provider of that name past istiod's sanitizer, but istiod's client-go has ${entry === 'gcp' || entry === 'azure' ? 'removed it' : 'no provider of that name'}, so such kubeconfigs still fail`,
      );
    }
  }
  return warnings;
}
