import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServingCertificate,
} from './certificate.ts';

describe('self-signed webhook certificates', () => {
  const ca = createCertificateAuthority({ commonName: 'remote-secret-webhook-ca', validityDays: 365 });
  const leaf = issueServingCertificate(ca, {
    hosts: ['remote-secret-webhook.istio-system.svc', 'localhost', '127.0.0.1', '::1'],
    validityDays: 90,
  });

  it('issues a CA and a leaf that it signed, with SANs for every host', () => {
    expect(ca.certificate.ca).toBe(true);
    expect(leaf.certificate.ca).toBe(false);
    expect(leaf.certificate.verify(ca.certificate.publicKey)).toBe(true);
    expect(leaf.certificate.checkIssued(ca.certificate)).toBe(true);
    expect(leaf.certificate.subjectAltName).toBe(
      'DNS:remote-secret-webhook.istio-system.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(leaf.certificate.checkHost('remote-secret-webhook.istio-system.svc')).toBeDefined();
    expect(leaf.certificate.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const days = (Date.parse(leaf.certificate.validTo) - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(90);
  });

  it('is accepted by openssl as a server certificate chain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pki-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certificatePem);
      const out = execFileSync(
        'openssl',
        ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')],
        { encoding: 'utf8' },
      );
      expect(out.trim()).toMatch(/OK$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issues a client certificate that openssl accepts for sslclient and not for sslserver', () => {
    const client = issueClientCertificate(ca, {
      commonName: 'kube-apiserver-webhook-client',
      validityDays: 1,
    });
    expect(client.certificate.subject).toBe('CN=kube-apiserver-webhook-client');
    expect(client.certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const dir = mkdtempSync(join(tmpdir(), 'pki-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      writeFileSync(join(dir, 'client.pem'), client.certificatePem);
      const verify = (purpose: string) =>
        spawnSync(
          'openssl',
          ['verify', '-purpose', purpose, '-CAfile', join(dir, 'ca.pem'), join(dir, 'client.pem')],
          {
            encoding: 'utf8',
          },
        );
      expect(verify('sslclient').stdout.trim()).toMatch(/OK$/);
      expect(verify('sslserver').status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves TLS that a client trusting only the CA accepts', async () => {
    const server = createServer({ key: leaf.privateKeyPem, cert: leaf.certificatePem }, (socket) => {
      socket.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(
        { port, host: '127.0.0.1', ca: ca.certificatePem, servername: 'localhost' },
        () => {
          socket.setEncoding('utf8');
          socket.on('data', resolve);
        },
      );
      socket.on('error', reject);
    });
    server.close();
    expect(answer).toBe('ok');
  });
});
