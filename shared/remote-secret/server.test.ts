import { describe, expect, it } from 'vitest';
import { checkServerUrl } from './server.ts';

describe('checkServerUrl', () => {
  it.each([
    'https://192.0.2.10:6443',
    'https://api.east.example',
    'https://rancher.example/k8s/clusters/c-abc12',
    'https://[2001:db8::1]:6443',
  ])('accepts %s without a warning', (server) => {
    expect(checkServerUrl(server)).toEqual({ ok: true, server });
  });

  it.each([
    { server: 'https://127.0.0.1:6443', reason: 'a loopback address' },
    { server: 'https://127.8.0.2:6443', reason: 'a loopback address' },
    { server: 'https://localhost:6443', reason: 'a loopback name' },
    { server: 'https://api.localhost', reason: 'a loopback name' },
    { server: 'https://[::1]:6443', reason: 'a loopback address' },
    { server: 'https://0.0.0.0:6443', reason: 'an unspecified address' },
    { server: 'https://169.254.10.1', reason: 'a link-local address' },
    { server: 'https://[fe80::1]:6443', reason: 'a link-local address' },
  ])('accepts $server with a warning ($reason)', ({ server, reason }) => {
    const result = checkServerUrl(server);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warning).toContain(reason);
  });

  it.each([
    { server: 'http://east.example:6443', message: 'not an https:// URL' },
    { server: 'east.example:6443', message: 'not an https:// URL' },
    { server: 'api.east.example', message: 'no scheme' },
    { server: 'https://', message: 'not a URL' },
    { server: 'https://user:pw@api.east.example', message: 'credentials' },
    { server: 'https://api.east.example/?x=1', message: 'query' },
    { server: '', message: 'not a URL' },
  ])('refuses $server', ({ server, message }) => {
    const result = checkServerUrl(server);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(message);
    expect(!result.ok && result.hint).toMatch(/^pass --server https:\/\//);
  });
});
