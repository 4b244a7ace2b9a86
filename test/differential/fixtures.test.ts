import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { reviewKubeconfig } from '../../shared/kubeconfig/review.ts';
import type { SanitizeResult } from '../../shared/kubeconfig/sanitize.ts';
import { decodeText, MANIFEST_LIMITS, readSecretManifests } from '../../shared/remote-secret/manifests.ts';
import { readYaml } from '../../shared/yaml/parse.ts';
import { compare, describeComparison, onlyUnmirrored, type Comparison } from './compare.ts';
import type { OracleResult } from './oracle.ts';
import { describeWithOracle } from './suite.ts';

/**
 * Every kubeconfig fixture in the repository through our reader and through client-go (the
 * oracle): the kubeconfigs inside the remote secret manifests of test/testdata/secrets, and the
 * files of test/testdata/kubeconfigs. Fixture texts are never printed: they hold canary tokens.
 */

/*
 * test/testdata/kubeconfigs holds one kubeconfig per disagreement the differential suite found,
 * each fixed in shared/ (before the fix: what the comparison said):
 *   flow-question-mark-exec.yaml, flow-question-mark-token-file.yaml   false allow: in `{?exec: ...}`
 *     go-yaml reads "?" as the key indicator and sees exec / tokenFile; we read the key "?exec"
 *   line-separator-in-quoted-server.yaml                different server: go-yaml folds U+2028
 *   next-line-in-plain-token.yaml                       NEL, a line break to go-yaml only (was
 *     refused before only because js-yaml stumbled on it; now refused for that reason)
 *   block-scalar-without-final-newline.yaml             different token: a final `|` block at EOF
 *   kind-capitalised.yaml, apiversion-capitalised.yaml  istiod refuses (case-insensitive type check)
 *   escaped-slash.json, surrogate-pair-escape.json      istiod refuses (\/ and \uD83D escapes)
 *   tab-after-dash.yaml                                 istiod refuses (tab where go-yaml wants none)
 *   nan-in-extension.yaml                               istiod refuses (.nan cannot become JSON)
 *   null-key.yaml, long-key.yaml, anchor-name-with-dot.yaml  istiod refuses (go-yaml cannot read them)
 *   flow-colon-before-bracket.yaml                      istiod refuses (`as-groups:[x]` in flow)
 *   proxy-url-without-scheme.yaml, proxy-url-trailing-newline.yaml  istiod's Validate refuses
 *   as-uid-without-as.yaml                              istiod's Validate refuses (uid needs `as`)
 *   exec-v1-without-interactive-mode.yaml               Validate refuses; NOT mirrored yet (see
 *     UNMIRRORED_VALIDATE_ERRORS in compare.ts): it matters only when exec is allowed
 * and clean.yaml, the form tools write, which both must allow and read alike.
 */

const TESTDATA = fileURLToPath(new URL('../testdata/', import.meta.url));

/**
 * Where we refuse what istiod would use, on purpose. The test fails on a stricter fixture that is
 * not listed here, and on a listed one that is no longer stricter.
 */
const STRICTER: Readonly<Record<string, { readonly codes: readonly string[]; readonly reason: string }>> = {
  'secrets/duplicate-keys.yaml#evil-dup': {
    codes: ['ambiguous-yaml'],
    reason:
      'a key written twice: go-yaml keeps the last copy, other readers the first or an error; we refuse rather than pick one',
  },
  'secrets/exec-uppercase.yaml#evil-case': {
    codes: ['ambiguous-yaml'],
    reason:
      'client-go ignores `Exec` (its JSON names are case-sensitive), but other readers may honour it; a remote secret must not carry exec under any spelling',
  },
  'secrets/token-file-client-node.yaml#evil-token-file': {
    codes: ['ambiguous-yaml'],
    reason:
      'client-go ignores `token-file`, but @kubernetes/client-node reads it as the token file; a kubeconfig that reads a local file in one client is refused',
  },
  'secrets/yaml11-bool.yaml#yes-bool': {
    codes: ['ambiguous-yaml'],
    reason:
      'the plain `yes` is true in YAML 1.1 (client-go) and the string "yes" in YAML 1.2; we refuse rather than guess which boolean the writer meant',
  },
  'kubeconfigs/block-scalar-without-final-newline.yaml': {
    codes: ['ambiguous-yaml'],
    reason:
      'the token is a | block that ends the file without a newline: go-yaml reads no final line break, YAML 1.2 readers one; we refuse rather than report a token istiod would not send',
  },
  'kubeconfigs/line-separator-in-quoted-server.yaml': {
    codes: ['ambiguous-yaml'],
    reason:
      'go-yaml v2 folds U+2028 in a quoted scalar to a space and so reads another server than a YAML 1.2 reader; we refuse NEL, LS and PS rather than report a server istiod would not use',
  },
};

/**
 * Kubeconfigs the oracle must see as unsafe: a check that the oracle is not blind (a broken
 * oracle that reports nothing unsafe would make the false-allow test pass vacuously).
 */
const ORACLE_SEES: Readonly<Record<string, string>> = {
  'secrets/exec.yaml#evil-exec': 'exec',
  'secrets/token-file.yaml#evil-tokenfile': 'tokenFile',
  'secrets/client-key.yaml#evil-key': 'client-key',
  'secrets/client-certificate.yaml#evil-cert': 'client-certificate',
  'secrets/auth-provider-gcp.yaml#evil-gcp': 'auth-provider gcp',
  'secrets/second-user-exec.yaml#sneaky': 'exec',
  'secrets/merge-key.yaml#evil-merge': 'tokenFile',
  'secrets/multi-doc.yaml#evil-exec': 'exec',
  'kubeconfigs/flow-question-mark-exec.yaml': 'exec',
  'kubeconfigs/flow-question-mark-token-file.yaml': 'tokenFile',
};

interface FixtureCase {
  readonly id: string;
  readonly bytes: Uint8Array;
  readonly ours: SanitizeResult;
}

function collectFixtures(): { cases: FixtureCase[]; skipped: string[] } {
  const cases: FixtureCase[] = [];
  const skipped: string[] = [];
  const secretsDir = join(TESTDATA, 'secrets');
  for (const file of readdirSync(secretsDir).sort()) {
    if (!/\.(?:ya?ml|json)$/.test(file)) continue;
    const text = readFileSync(join(secretsDir, file), 'utf8');
    for (const secret of readSecretManifests(text, file).secrets) {
      for (const cluster of secret.clusters) {
        const id = `secrets/${file}#${cluster.id}`;
        if (cluster.kubeconfig.ok) {
          const { text: kubeconfig } = cluster.kubeconfig;
          cases.push({ id, bytes: Buffer.from(kubeconfig, 'utf8'), ours: review(kubeconfig) });
          continue;
        }
        // Not text (binary data): istiod would still get the bytes, so ask the oracle about them.
        const bytes = rawSecretValue(text, secret.name, cluster.id);
        if (bytes === undefined) skipped.push(`${id}: ${cluster.kubeconfig.reason}`);
        else cases.push({ id, bytes, ours: refused(cluster.kubeconfig.reason) });
      }
    }
  }
  const kubeconfigDir = join(TESTDATA, 'kubeconfigs');
  for (const file of readdirSync(kubeconfigDir).sort()) {
    const bytes = readFileSync(join(kubeconfigDir, file));
    const decoded = decodeText(bytes);
    const ours = decoded.ok ? review(decoded.text) : refused(decoded.reason);
    cases.push({ id: `kubeconfigs/${file}`, bytes, ours });
  }
  return { cases, skipped };
}

function review(text: string): SanitizeResult {
  return reviewKubeconfig(text, { allow: new Set<string>() });
}

function refused(reason: string): SanitizeResult {
  return { allowed: false, violations: [{ code: 'invalid-kubeconfig', path: '', message: reason }] };
}

/** The bytes of `data.<key>` in the Secret `name`, when that value is valid base64. */
function rawSecretValue(text: string, name: string, key: string): Uint8Array | undefined {
  const parsed = readYaml(text, { limits: MANIFEST_LIMITS, strict: false });
  if (!parsed.ok) return undefined;
  for (const document of parsed.documents) {
    if (!isRecord(document) || !isRecord(document['metadata']) || document['metadata']['name'] !== name) {
      continue;
    }
    const value = isRecord(document['data']) ? document['data'][key] : undefined;
    if (typeof value !== 'string') return undefined;
    const compact = value.replace(/\s/g, '');
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) return undefined;
    return Buffer.from(compact, 'base64');
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

describeWithOracle('kubeconfig fixtures: our reader against client-go', process.env, (oracle) => {
  const { cases, skipped } = collectFixtures();
  let results: OracleResult[] = [];
  let comparisons: { id: string; comparison: Comparison }[] = [];

  beforeAll(async () => {
    results = await oracle().run(cases.map(({ id, bytes }) => ({ id, kubeconfig: bytes })));
    comparisons = cases.map((fixture, index) => {
      const result = results[index];
      if (result === undefined) throw new Error(`no oracle result for ${fixture.id}`);
      return { id: fixture.id, comparison: compare(fixture.ours, result) };
    });
  });

  it('finds the kubeconfigs in both fixture folders', () => {
    expect(cases.filter(({ id }) => id.startsWith('secrets/')).length).toBeGreaterThanOrEqual(20);
    expect(cases.filter(({ id }) => id.startsWith('kubeconfigs/')).length).toBeGreaterThanOrEqual(10);
    // Only values the API server itself would refuse (invalid base64) may be left out.
    expect(skipped.every((line) => line.includes('base64'))).toBe(true);
  });

  it('has an oracle that sees the unsafe fixtures', () => {
    for (const [id, field] of Object.entries(ORACLE_SEES)) {
      const result = results.find((item) => item.id === id);
      expect(result, id).toBeDefined();
      expect(
        result?.unsafe.some((entry) => entry.endsWith(`: ${field}`)),
        `${id} shows ${field}`,
      ).toBe(true);
    }
  });

  it('never allows a fixture in which client-go sees exec, a file or an unsafe auth provider', () => {
    const falseAllows = comparisons
      .filter(({ comparison }) => comparison.kind === 'false-allow')
      .map(({ id, comparison }) => `${id}: ${describeComparison(comparison)}`);
    expect(falseAllows).toEqual([]);
  });

  it('allows no fixture that istiod would refuse, and reads allowed ones as client-go does', () => {
    const wrong = comparisons
      .filter(({ comparison }) => comparison.kind === 'lenient' || comparison.kind === 'different-reading')
      .map(({ id, comparison }) => `${id}: ${describeComparison(comparison)}`);
    expect(wrong).toEqual([]);
  });

  it('allows nothing that client-go cannot load or validate, even with every option allowed', () => {
    const everything = new Set(['exec', 'tokenFile', 'clientKey', 'clientCertificate', 'gcp', 'azure', '']);
    const wrong = cases.flatMap(({ id, bytes }, index) => {
      const result = results[index];
      if (result === undefined || (result.loadError === null && result.validateErrors.length === 0))
        return [];
      if (onlyUnmirrored(result)) return [];
      const decoded = decodeText(bytes);
      const allowed = decoded.ok && reviewKubeconfig(decoded.text, { allow: everything }).allowed;
      return allowed ? [`${id}: ${result.loadError ?? result.validateErrors.join('; ')}`] : [];
    });
    expect(wrong).toEqual([]);
  });

  it('is stricter than istiod only where the table says so, and for the stated reason', () => {
    const stricter = comparisons.flatMap(({ id, comparison }) =>
      comparison.kind === 'stricter'
        ? [{ id, codes: [...new Set(comparison.violations.map(({ code }) => code))] }]
        : [],
    );
    expect(stricter.map(({ id }) => id).sort()).toEqual(Object.keys(STRICTER).sort());
    for (const { id, codes } of stricter)
      expect(codes.sort(), id).toEqual([...(STRICTER[id]?.codes ?? [])].sort());
  });

  it('agrees with client-go on the clean fixtures', () => {
    const allowedByBoth = comparisons.filter(
      ({ id, comparison }) =>
        comparison.kind === 'agree' && cases.find((item) => item.id === id)?.ours.allowed,
    );
    expect(allowedByBoth.map(({ id }) => id)).toEqual(
      expect.arrayContaining([
        'secrets/clean.yaml#east',
        'secrets/clean-data.yaml#west',
        'kubeconfigs/clean.yaml',
      ]),
    );
  });
});
