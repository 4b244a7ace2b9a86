import { INSECURE_OPTIONS, type AllowList } from './sanitize.ts';

/**
 * `--allow` values -> the set istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS holds for
 * the same text. Istio splits the variable on "," and keeps every piece exactly as written (no
 * trimming, case-sensitive), so a value copied from istiod's environment means the same here;
 * repeated flags are joined with ",". Nothing is refused: an entry that allows nothing in istiod
 * allows nothing here, and `allowListWarnings` says so.
 */
export function parseAllowList(values: readonly string[]): AllowList {
  return new Set(values.join(',').split(','));
}

/** One line per entry that does not do what it looks like it does, in istiod and here alike. */
export function allowListWarnings(allow: AllowList, flag = '--allow'): string[] {
  const warnings: string[] = [];
  for (const entry of allow) {
    if (entry === '' || (INSECURE_OPTIONS as readonly string[]).includes(entry)) continue;
    const meant = (INSECURE_OPTIONS as readonly string[]).find(
      (option) => option.toLowerCase() === entry.trim().toLowerCase(),
    );
    if (meant !== undefined) {
      warnings.push(
        `${flag}: ${JSON.stringify(entry)} allows nothing: istiod compares option names exactly (case and spaces count); write ${meant}`,
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
