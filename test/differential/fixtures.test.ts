import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { reviewKubeconfig } from '../../shared/kubeconfig/review.ts';
import type { SanitizeResult } from '../../shared/kubeconfig/sanitize.ts';
import { decodeText, MANIFEST_LIMITS, readSecretManifests } from '../../shared/remote-secret/manifests.ts';
import { readYaml } from '../../shared/yaml/parse.ts';
import { parseAllowList } from '../../shared/kubeconfig/allow-list.ts';
import { ALLOW_LIST_VALUES, allowListLabel } from './allow-lists.ts';
import { compare, describeComparison, unexplained, type Comparison } from './compare.ts';
import { DELIBERATE } from './deliberate.ts';
import type { OracleResult } from './oracle.ts';
import { describeWithOracle } from './suite.ts';

/**
 * Every kubeconfig fixture in the repository through our decision and through istiod's own
 * client builder (the Istio oracle): the kubeconfigs inside the remote secret manifests of test/testdata/secrets, and the
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
 *   exec-v1-without-interactive-mode.yaml               Validate refuses (v1 must set interactiveMode)
 * Found once the oracle was Istio's own client builder (istio.io/istio, DefaultBuildClientsFromConfig)
 * instead of a copy of its sanitizer:
 *   tab-before-json-root.json                           istiod refuses (a tab outside the flow root)
 *   uint64-key.yaml                                     istiod refuses (an integer key above int64)
 *   duplicate-extension-name.yaml                       istiod refuses (Load maps extensions by name)
 *   server-several-colons.yaml, server-unbracketed-ipv6.yaml, server-path-without-scheme.yaml
 *                                                       istiod refuses (DefaultServerURL, Go 1.26)
 *   proxy-url-unbracketed-ipv6.yaml                     istiod refuses (several colons in the host)
 *   ca-data-not-a-certificate.yaml                      istiod refuses (no CA certificate parses)
 *   oidc-without-issuer.yaml                            istiod refuses (oidc needs an issuer)
 *   date-like-name.yaml                                 istiod allows; we refused it as a timestamp
 Found by the generated cases under an allow-list that permits tokenFile:
 *   username-with-token-file.yaml                       istiod refuses (basic auth and a token read
 *     from tokenFile: "username/password or bearer token may be set, but not both")
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
  'kubeconfigs/block-scalar-without-final-newline.yaml': {
    codes: ['ambiguous-yaml'],
    reason:
      'the token is a | block that ends the file without a newline: go-yaml reads no final line break, YAML 1.2 readers one; we refuse rather than report a token istiod would not send',
  },
};

/**
 * Kubeconfigs the oracle must see as unsafe: a check that the oracle is not blind (a broken
 * oracle that reports nothing unsafe would make the false-allow test pass vacuously).
 */
const ORACLE_SEES: Readonly<Record<string, RegExp>> = {
  'secrets/exec.yaml#evil-exec': /not allowed: exec is not allowed/,
  'secrets/token-file.yaml#evil-tokenfile': /not allowed: tokenFile is not allowed/,
  // Validate opens the key file before the sanitizer runs; where it exists, the sanitizer refuses.
  'secrets/client-key.yaml#evil-key': /unable to read client-key \/etc\/certs\/key\.pem/,
  'secrets/client-certificate.yaml#evil-cert': /unable to read client-cert|clientCertificate is not allowed/,
  'secrets/auth-provider-gcp.yaml#evil-gcp': /not allowed: auth provider gcp is not allowed/,
  'secrets/second-user-exec.yaml#sneaky': /not allowed: exec is not allowed/,
  'secrets/merge-key.yaml#evil-merge': /not allowed: tokenFile is not allowed/,
  'secrets/multi-doc.yaml#evil-exec': /not allowed: exec is not allowed/,
  'kubeconfigs/flow-question-mark-exec.yaml': /not allowed: exec is not allowed/,
  'kubeconfigs/flow-question-mark-token-file.yaml': /not allowed: tokenFile is not allowed/,
};

/** What istiod says of the fixtures that pin a disagreement found against Istio's own code. */
const ISTIOD_REFUSES: Readonly<Record<string, RegExp>> = {
  'kubeconfigs/tab-before-json-root.json':
    /cannot be loaded: yaml: found character that cannot start any token/,
  'kubeconfigs/uint64-key.yaml': /cannot be loaded: unsupported map key of type: uint64/,
  'kubeconfigs/duplicate-extension-name.yaml': /cannot be loaded: .*NamedExtension.*duplicate name "dup"/,
  'kubeconfigs/server-several-colons.yaml':
    /failed to create kube clients: host must be a URL or a host:port pair/,
  'kubeconfigs/server-unbracketed-ipv6.yaml':
    /failed to create kube clients: host must be a URL or a host:port pair/,
  'kubeconfigs/server-path-without-scheme.yaml':
    /failed to create kube clients: host must be a URL or a host:port pair/,
  'kubeconfigs/proxy-url-unbracketed-ipv6.yaml': /not valid: .*invalid 'proxy-url'/,
  'kubeconfigs/ca-data-not-a-certificate.yaml':
    /failed to create kube clients: unable to load root certificates/,
  'kubeconfigs/oidc-without-issuer.yaml': /failed to create kube clients: Must provide idp-issuer-url/,
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

function review(text: string, allow = parseAllowList([])): SanitizeResult {
  return reviewKubeconfig(text, { allow });
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

describeWithOracle("kubeconfig fixtures: our decision against istiod's", (oracle) => {
  const { cases, skipped } = collectFixtures();
  let results: OracleResult[] = [];
  let comparisons: { id: string; comparison: Comparison }[] = [];

  beforeAll(async () => {
    results = await (await oracle()).run(cases.map(({ id, bytes }) => ({ id, kubeconfig: bytes })));
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

  it("has an oracle that refuses the unsafe fixtures in Istio's own words", () => {
    for (const [id, error] of Object.entries(ORACLE_SEES)) {
      const verdict = results.find((item) => item.id === id)?.verdict;
      expect(verdict?.accepted, id).toBe(false);
      expect(verdict?.accepted === false ? verdict.error : '', id).toMatch(error);
    }
  });

  it('pins each disagreement found against Istio: istiod refuses the fixture, and so do we', () => {
    for (const [id, error] of Object.entries(ISTIOD_REFUSES)) {
      const verdict = results.find((item) => item.id === id)?.verdict;
      expect(verdict?.accepted === false ? verdict.error : 'accepted', id).toMatch(error);
      expect(cases.find((item) => item.id === id)?.ours.allowed, id).toBe(false);
    }
  });

  it('never allows a fixture that istiod refuses to run or read files for', () => {
    const falseAllows = comparisons
      .filter(({ comparison }) => comparison.kind === 'false-allow')
      .map(({ id, comparison }) => `${id}: ${describeComparison(comparison)}`);
    expect(falseAllows).toEqual([]);
  });

  it('allows no fixture that istiod would refuse, and reads allowed ones as client-go does', () => {
    const wrong = comparisons
      .filter(({ comparison }) => !['agree', 'stricter', 'false-allow'].includes(comparison.kind))
      .map(({ id, comparison }) => `${id}: ${describeComparison(comparison)}`);
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

  it('agrees with istiod on the clean fixtures', () => {
    const allowedByBoth = comparisons.filter(
      ({ id, comparison }) =>
        comparison.kind === 'agree' && cases.find((item) => item.id === id)?.ours.allowed,
    );
    expect(allowedByBoth.map(({ id }) => id)).toEqual(
      expect.arrayContaining([
        'secrets/clean.yaml#east',
        'secrets/clean-data.yaml#west',
        'kubeconfigs/clean.yaml',
        'kubeconfigs/date-like-name.yaml',
      ]),
    );
  });

  it.each(
    ALLOW_LIST_VALUES.filter((value) => value !== undefined).map((value) => ({
      value,
      label: allowListLabel(value),
    })),
  )('gives the verdicts istiod gives under $label', async ({ value }) => {
    const allow = parseAllowList([value]);
    const istiod = await oracle({ insecureKubeconfigOptions: value });
    const answers = await istiod.run(cases.map(({ id, bytes }) => ({ id, kubeconfig: bytes })));
    const wrong = cases.flatMap(({ id, bytes, ours: asDefault }, index) => {
      const result = answers[index];
      if (result === undefined) return [`${id}: no answer`];
      const decoded = decodeText(bytes);
      const ours = decoded.ok ? review(decoded.text, allow) : asDefault;
      const comparison = compare(ours, result, allow);
      if (comparison.kind === 'agree' || comparison.kind === 'disk-dependent') return [];
      if (comparison.kind === 'stricter' && unexplained(comparison.violations, DELIBERATE).length === 0)
        return [];
      return [`${id}: ${describeComparison(comparison)}`];
    });
    expect(wrong).toEqual([]);
  });
});
