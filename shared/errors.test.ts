import { describe, expect, it } from 'vitest';
import { errorCode, RemoteSecretError } from './errors.ts';
import { KubeError } from './kube/errors.ts';
import { KubeconfigError } from './kube/kubeconfig.ts';
import { fetchIstiodClusters, IstiodViewError } from './kube/istiod.ts';
import { PlanError } from './remote-secret/plan.ts';
import { UnverifiableError } from './remote-secret/verify.ts';

describe('one error base class with a stable code', () => {
  const cause = new Error('underneath');
  it.each([
    { error: new KubeError('forbidden', 'm', { hint: 'h', cause }), name: 'KubeError', code: 'forbidden' },
    {
      error: new KubeconfigError('no-context', 'm', { hint: 'h', cause }),
      name: 'KubeconfigError',
      code: 'no-context',
    },
    {
      error: new PlanError('secret-missing', 'm', { hint: 'h', cause }),
      name: 'PlanError',
      code: 'secret-missing',
    },
    {
      error: new IstiodViewError('m', { cause }),
      name: 'IstiodViewError',
      code: 'istiod-unreachable',
      hint: /port-forward/,
    },
    { error: new UnverifiableError('m'), name: 'UnverifiableError', code: 'unverifiable' },
  ])('$name is a RemoteSecretError with code $code', ({ error, name, code, ...expected }) => {
    expect(error).toBeInstanceOf(RemoteSecretError);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(errorCode(error)).toBe(code);
    expect(error.message).toBe('m');
    if (error.hint !== undefined) {
      expect(error.hint).toMatch('hint' in expected ? expected.hint : /^h$/);
      expect(error.cause).toBe(cause);
    }
  });

  it.each([
    { name: 'a plain Error', error: new Error('x') },
    {
      name: 'an Error with a numeric code (client-node)',
      error: Object.assign(new Error('x'), { code: 404 }),
    },
    {
      name: 'an Error with a string code (node:fs)',
      error: Object.assign(new Error('x'), { code: 'ENOENT' }),
    },
    { name: 'a string', error: 'x' },
    { name: 'undefined', error: undefined },
  ])('errorCode of $name is undefined: only our own codes are switched on', ({ error }) => {
    expect(errorCode(error)).toBeUndefined();
  });

  it('a throwing reader throws the base class, so callers need no subclass import', async () => {
    await expect(fetchIstiodClusters('not a url', 1_000)).rejects.toThrow(RemoteSecretError);
  });
});
