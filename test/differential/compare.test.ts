import { describe, expect, it } from 'vitest';
import { parseAllowList } from '../../shared/kubeconfig/allow-list.ts';
import { sanitizeKubeconfig } from '../../shared/kubeconfig/sanitize.ts';
import { compare } from './compare.ts';
import type { OracleResult, OracleUser } from './oracle.ts';

// compare() alone, on oracle answers written by hand: which disagreements count as the disk's.

const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

const kubeconfig = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://remote.example:6443' } }],
  users: [{ name: 'u', user: { tokenFile: TOKEN_PATH } }],
  contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'x',
};

const user: OracleUser = {
  name: 'u',
  tokenSha256: '',
  exec: false,
  tokenFile: true,
  clientKey: false,
  clientCertificate: false,
  authProvider: null,
};

function refusedAtClientConfig(error: string): OracleResult {
  return {
    id: '0',
    verdict: { accepted: false, stage: 'client-config', error },
    loaded: true,
    currentContext: 'x',
    users: [user],
    clusters: [{ name: 'c', server: 'https://remote.example:6443', proxyUrl: '', certificateAuthority: '' }],
    validateErrors: [],
    fileErrors: [],
  };
}

describe('compare', () => {
  const allow = parseAllowList(['tokenFile']);
  const ours = sanitizeKubeconfig(kubeconfig, allow);

  it('allows an allow-listed tokenFile, as istiod does', () => {
    expect(ours.allowed).toBe(true);
  });

  it("counts a missing allow-listed token file as the disk's (client-go opens it in ClientConfig)", () => {
    const oracle = refusedAtClientConfig(`open ${TOKEN_PATH}: no such file or directory`);
    expect(compare(ours, oracle, allow)).toEqual({
      kind: 'disk-dependent',
      detail: `open ${TOKEN_PATH}: no such file or directory`,
    });
  });

  it('still calls any other client-config refusal lenient', () => {
    const oracle = refusedAtClientConfig('illegal base64 data at input byte 4');
    expect(compare(ours, oracle, allow)).toMatchObject({ kind: 'lenient', stage: 'client-config' });
  });

  it('never calls a token file the allow-list forbids the disk’s', () => {
    const oracle = refusedAtClientConfig(`open ${TOKEN_PATH}: no such file or directory`);
    expect(compare(ours, oracle, new Set())).toMatchObject({ kind: 'false-allow' });
  });
});
