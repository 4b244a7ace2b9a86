import { describe, expect, it } from 'vitest';
import { KubeError, statusOf, toKubeError } from './errors.ts';

const CONTEXT = {
  server: 'https://east.example:6443',
  action: 'list Secrets in namespace istio-system',
  timeoutMs: 15_000,
};

function apiException(code: number, status?: object) {
  // What client-node's ApiException carries: the HTTP code and the body (a Status, as text).
  return Object.assign(new Error(`HTTP-Code: ${code} Headers: {"authorization":"Bearer SECRET"}`), {
    code,
    body: status === undefined ? undefined : JSON.stringify({ kind: 'Status', ...status }),
  });
}

function fetchFailed(code: string) {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('toKubeError', () => {
  it.each([
    {
      name: '401',
      error: apiException(401),
      code: 'unauthorized',
      message: /did not accept the credentials/,
    },
    {
      name: '403',
      error: apiException(403, {
        reason: 'Forbidden',
        message: 'secrets is forbidden: User "alice" cannot list resource "secrets"',
      }),
      code: 'forbidden',
      message:
        /forbidden to list Secrets in namespace istio-system on https:\/\/east\.example:6443: secrets is forbidden: User "alice"/,
    },
    {
      name: '404',
      error: apiException(404, { reason: 'NotFound', message: 'not there' }),
      code: 'not-found',
      message: /not there/,
    },
    {
      name: '409 exists',
      error: apiException(409, { reason: 'AlreadyExists', message: 'exists' }),
      code: 'already-exists',
      message: /exists/,
    },
    {
      name: '409 conflict',
      error: apiException(409, { reason: 'Conflict', message: 'changed' }),
      code: 'conflict',
      message: /changed/,
    },
    {
      name: '422',
      error: apiException(422, { reason: 'Invalid', message: 'bad name' }),
      code: 'invalid',
      message: /refused to .*bad name/,
    },
    {
      name: 'a webhook',
      error: apiException(400, {
        message: 'admission webhook "remote-secrets.example" denied the request: exec is not allowed',
      }),
      code: 'refused-by-webhook',
      message: /denied the request: exec is not allowed/,
    },
    { name: '500', error: apiException(500), code: 'server-error', message: /answered 500/ },
    {
      name: 'a watch status',
      error: Object.assign(new Error('Forbidden'), { statusCode: 403 }),
      code: 'forbidden',
      message: /forbidden/,
    },
    {
      name: 'connection refused',
      error: fetchFailed('ECONNREFUSED'),
      code: 'unreachable',
      message: /cannot reach the API server at https:\/\/east\.example:6443 \(connection refused\)/,
    },
    { name: 'no such host', error: fetchFailed('ENOTFOUND'), code: 'unreachable', message: /no such host/ },
    {
      name: 'an unknown CA',
      error: fetchFailed('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
      code: 'tls',
      message: /not signed by the expected CA/,
    },
    {
      name: 'a wrong name',
      error: fetchFailed('ERR_TLS_CERT_ALTNAME_INVALID'),
      code: 'tls-name-mismatch',
      message: /does not name this host/,
    },
    {
      name: 'our deadline',
      error: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      code: 'timeout',
      message: /no answer from https:\/\/east\.example:6443 within 15s/,
    },
  ])('$name -> $code', ({ error, code, message }) => {
    const translated = toKubeError(error, CONTEXT);
    expect(translated).toBeInstanceOf(KubeError);
    expect(translated.code).toBe(code);
    expect(translated.message).toMatch(message);
    // client-node's own message lists every response header; ours must not.
    expect(translated.message).not.toContain('SECRET');
  });

  it('keeps a KubeError as it is', () => {
    const error = new KubeError('timeout', 'x');
    expect(toKubeError(error, CONTEXT)).toBe(error);
  });
});

describe('statusOf', () => {
  it.each([
    {
      body: '{"kind":"Status","reason":"NotFound","message":"m"}',
      status: { reason: 'NotFound', message: 'm' },
    },
    { body: { kind: 'Status', message: 'm' }, status: { reason: '', message: 'm' } },
    { body: '<html>', status: undefined },
    { body: { kind: 'Secret' }, status: undefined },
    { body: undefined, status: undefined },
  ])('$body', ({ body, status }) => {
    expect(statusOf(body)).toEqual(status);
  });
});
