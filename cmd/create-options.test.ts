import { describe, expect, it } from 'vitest';
import { UsageError } from './cli-io.ts';
import { DEFAULT_RENEW_AFTER } from '../shared/remote-secret/renewal.ts';
import { parseCreateOptions, parseKeyValues, type CreateArgs } from './create-options.ts';

/** What yargs hands over when no flag is given. */
const DEFAULTS: CreateArgs = {
  'create-service-account': true,
  type: 'remote',
  'auth-type': 'bearer-token',
  timeout: '30s',
  'request-timeout': '15s',
  rotate: false,
  'retire-old': false,
  renew: false,
  'ca-from': 'token-secret',
  'dry-run': false,
  apply: false,
  'istio-namespace': 'istio-system',
};

const parse = (args: Partial<CreateArgs>) => parseCreateOptions({ ...DEFAULTS, ...args });

describe('create: defaults as istioctl', () => {
  it('reads the remote with its own kubeconfig, into istio-system, with the reader account and a reused token', () => {
    expect(parse({})).toEqual({
      remote: { kubeconfig: undefined, context: undefined },
      clusterId: undefined,
      type: 'remote',
      namespace: 'istio-system',
      serviceAccount: 'istio-reader-service-account',
      createServiceAccount: true,
      token: { from: 'existing-or-new-secret' },
      retireOld: false,
      auth: { kind: 'bearer-token' },
      caFrom: 'token-secret',
      server: undefined,
      tlsServerName: undefined,
      timeoutMs: 30_000,
      requestTimeoutMs: 15_000,
      output: undefined,
      dryRun: false,
      apply: undefined,
      warnings: [],
    });
  });

  it.each([
    { name: '-n wins', args: { namespace: 'mesh', 'istio-namespace': 'other' }, namespace: 'mesh' },
    { name: '-i without -n', args: { 'istio-namespace': 'other' }, namespace: 'other' },
    { name: 'neither', args: { 'istio-namespace': undefined }, namespace: 'istio-system' },
  ])('namespace: $name (never from a kubeconfig context)', ({ args, namespace }) => {
    expect(parse(args).namespace).toBe(namespace);
  });

  it('defaults the account to istiod for --type config', () => {
    expect(parse({ type: 'config' }).serviceAccount).toBe('istiod');
    expect(parse({ type: 'config', 'service-account': 'reader' }).serviceAccount).toBe('reader');
  });

  it('passes --auth-plugin-config through, repeated or comma-separated (istioctl drops it)', () => {
    const options = parse({
      'auth-type': 'plugin',
      'auth-plugin-name': 'oidc',
      'auth-plugin-config': ['client-id=istiod,idp-issuer-url=https://issuer.example', 'id-token=a=b'],
    });
    expect(options.auth).toEqual({
      kind: 'plugin',
      name: 'oidc',
      config: { 'client-id': 'istiod', 'idp-issuer-url': 'https://issuer.example', 'id-token': 'a=b' },
    });
    expect(options.token).toEqual({ from: 'none' });
    expect(options.warnings).toEqual([]);
  });

  it('warns that a provider other than oidc makes a secret istiod and the webhook refuse', () => {
    expect(parse({ 'auth-type': 'plugin', 'auth-plugin-name': 'gcp' }).warnings[0]).toContain(
      'istiod refuses',
    );
  });

  it.each([
    { args: { 'token-duration': '720h' }, token: { from: 'token-request', seconds: 2_592_000 } },
    { args: { rotate: true }, token: { from: 'new-secret' } },
    { args: { 'secret-name': 'mine' }, token: { from: 'named-secret', name: 'mine' } },
  ])('token source for $args', ({ args, token }) => {
    expect(parse(args).token).toEqual(token);
  });

  it('warns about a loopback --server but accepts it', () => {
    const options = parse({ server: 'https://127.0.0.1:6443' });
    expect(options.server).toBe('https://127.0.0.1:6443');
    expect(options.warnings[0]).toContain('loopback');
  });

  it('--apply with --primary-context', () => {
    expect(parse({ apply: true, 'primary-context': 'west' }).apply).toEqual({
      kubeconfig: undefined,
      context: 'west',
    });
  });

  it('--retire-old with --rotate is allowed with --apply, which applies before it retires', () => {
    expect(
      parse({ rotate: true, 'retire-old': true, apply: true, 'primary-context': 'west' }).retireOld,
    ).toBe(true);
  });
});

describe('create --renew', () => {
  it('needs --token-duration, and defaults the renewal share to two thirds', () => {
    const options = parse({ 'token-duration': '24h', renew: true });
    expect(options.token).toEqual({ from: 'token-request', seconds: 86_400 });
    expect(options.renew).toEqual({ renewAfter: DEFAULT_RENEW_AFTER });
  });

  it('takes --renew-after as a share strictly between 0 and 1', () => {
    expect(parse({ 'token-duration': '24h', renew: true, 'renew-after': '0.8' }).renew).toEqual({
      renewAfter: 0.8,
    });
  });

  it('is off unless asked for: --token-duration alone is not renewable', () => {
    expect(parse({ 'token-duration': '24h' }).renew).toBeUndefined();
  });
});

describe('create: usage errors (exit status 2) say which flag and what to do', () => {
  it.each([
    { args: { name: 'East_1' }, message: /--name "East_1" is not a valid DNS-1123 label/ },
    { args: { name: 'a'.repeat(64) }, message: /DNS-1123/ },
    { args: { server: 'http://east.example:6443' }, message: /not an https:\/\/ URL/ },
    { args: { server: 'east.example:6443' }, message: /pass --server https:\/\/east\.example:6443/ },
    { args: { type: 'primary' }, message: /--type "primary" is not one of remote, config/ },
    { args: { 'auth-type': 'plugin' }, message: /needs --auth-plugin-name/ },
    { args: { 'auth-plugin-name': 'oidc' }, message: /need --auth-type plugin/ },
    { args: { 'auth-plugin-config': 'k=v' }, message: /need --auth-type plugin/ },
    {
      args: { 'auth-type': 'plugin', 'auth-plugin-name': 'oidc', 'auth-plugin-config': 'novalue' },
      message: /write key=value/,
    },
    {
      args: { 'auth-type': 'plugin', 'auth-plugin-name': 'oidc', rotate: true },
      message: /--rotate is about ServiceAccount tokens/,
    },
    { args: { 'token-duration': '5m' }, message: /shorter than the 10m/ },
    { args: { 'token-duration': '30 days' }, message: /not a duration/ },
    { args: { 'token-duration': '1h', rotate: true }, message: /cannot be combined/ },
    { args: { rotate: true, 'secret-name': 'x' }, message: /do not combine it with --secret-name/ },
    { args: { rotate: true, 'retire-old': true }, message: /would invalidate the token istiod holds/ },
    {
      args: { 'token-duration': '1h', 'retire-old': true },
      message: /would invalidate the token istiod holds/,
    },
    { args: { apply: true }, message: /--apply needs the primary cluster/ },
    { args: { 'primary-context': 'west' }, message: /add --apply/ },
    { args: { timeout: 'soon' }, message: /--timeout "soon" is not a positive duration/ },
    { args: { 'request-timeout': '0' }, message: /--request-timeout/ },
    { args: { namespace: 'Istio' }, message: /not a valid namespace/ },
    { args: { 'service-account': 'Bad Name' }, message: /not a valid ServiceAccount name/ },
    { args: { 'ca-from': 'file' }, message: /--ca-from "file"/ },
    { args: { renew: true }, message: /--renew needs --token-duration: it renews a token that expires/ },
    {
      args: { renew: true, rotate: true },
      message: /--rotate is about token Secrets, whose tokens never expire/,
    },
    {
      args: { renew: true, 'secret-name': 'x' },
      message: /--secret-name is about token Secrets, whose tokens never expire/,
    },
    { args: { renew: true, 'token-duration': '1h', rotate: true }, message: /cannot be combined/ },
    {
      args: { renew: true, 'token-duration': '1h', 'create-service-account': false },
      message: /--renew creates RBAC on the remote .* --create-service-account=false says create makes none/,
    },
    {
      args: { 'auth-type': 'plugin', 'auth-plugin-name': 'oidc', renew: true },
      message: /--renew is about ServiceAccount tokens/,
    },
    {
      args: { 'token-duration': '1h', 'renew-after': '0.5' },
      message: /--renew-after is for --renew; add --renew/,
    },
    ...['0', '1', '1.5', '-0.2', 'half', '0.001', '0.996', '1e-1'].map((after) => ({
      args: { renew: true, 'token-duration': '1h', 'renew-after': after },
      message: new RegExp(
        `--renew-after "${after.replace('.', '\\.')}" is not a share of the token's life between 0 and 1`,
      ),
    })),
  ])('$args', ({ args, message }) => {
    expect(() => parse(args)).toThrow(UsageError);
    expect(() => parse(args)).toThrow(message);
  });
});

describe('parseKeyValues', () => {
  it('keeps "=" inside values and skips empty pairs', () => {
    expect(parseKeyValues(['a=1,,b=x=y'], '--f')).toEqual({ a: '1', b: 'x=y' });
  });
});
