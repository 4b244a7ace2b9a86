import { describe, expect, it } from 'vitest';
import { allowListWarnings, parseAllowList } from './allow-list.ts';

describe("parseAllowList: istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS, read as Istio reads it", () => {
  it.each([
    { values: [], set: [''] },
    { values: ['exec'], set: ['exec'] },
    { values: ['exec,tokenFile'], set: ['exec', 'tokenFile'] },
    { values: ['exec', 'tokenFile,gcp'], set: ['exec', 'tokenFile', 'gcp'] },
    { values: ['certificateAuthority'], set: ['certificateAuthority'] },
    // Istio splits on "," and keeps every piece as written.
    { values: ['exec, tokenFile'], set: ['exec', ' tokenFile'] },
    { values: ['TokenFile'], set: ['TokenFile'] },
    { values: ['exec,'], set: ['exec', ''] },
  ])('$values holds $set', ({ values, set }) => {
    expect([...parseAllowList(values)].sort()).toEqual([...set].sort());
  });
});

describe('allowListWarnings', () => {
  it.each([
    { value: 'exec,tokenFile,clientKey,clientCertificate,certificateAuthority', warnings: [] },
    { value: 'exec, tokenFile', warnings: [/" tokenFile" allows nothing.*write tokenFile/] },
    { value: 'tokenfile', warnings: [/"tokenfile" allows nothing: option names are compared exactly/] },
    { value: 'CertificateAuthority', warnings: [/write certificateAuthority/] },
    { value: 'gcp', warnings: [/"gcp" lets the auth provider.*removed it/] },
    { value: 'openstack', warnings: [/no provider of that name/] },
    { value: 'oidc', warnings: [/oidc is always allowed/] },
    { value: 'my-provider ', warnings: [/does not trim spaces.*"my-provider"/] },
  ])('warns about $value', ({ value, warnings }) => {
    const found = allowListWarnings(parseAllowList([value]));
    expect(found).toHaveLength(warnings.length);
    warnings.forEach((pattern, index) => {
      expect(found[index]).toMatch(pattern);
    });
  });
});
