import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { planWebhookCertificate, WEBHOOK_CERTIFICATE_DEFAULTS } from './webhook-certificate.ts';

const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const certificates = (bundle: string) =>
  (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );

describe('planWebhookCertificate', () => {
  it('writes a TLS Secret for the Service DNS names and a caBundle that verifies it', () => {
    const plan = planWebhookCertificate(WEBHOOK_CERTIFICATE_DEFAULTS);
    expect(plan.secret).toMatchObject({
      type: 'kubernetes.io/tls',
      metadata: { name: 'remote-secret-webhook-tls', namespace: 'remote-secret-webhook' },
    });
    const leaf = new X509Certificate(pem(plan.secret.data['tls.crt']));
    expect(leaf.subjectAltName).toContain('DNS:remote-secret-webhook.remote-secret-webhook.svc');
    const [ca] = certificates(pem(plan.caBundle));
    expect(ca !== undefined && leaf.verify(ca.publicKey)).toBe(true);
    expect(pem(plan.secret.data['tls.key'])).toContain('BEGIN PRIVATE KEY');
  });

  it('keeps the previous CA in the bundle on rotation, so old and new pods are both trusted', () => {
    const first = planWebhookCertificate(WEBHOOK_CERTIFICATE_DEFAULTS);
    const second = planWebhookCertificate(WEBHOOK_CERTIFICATE_DEFAULTS, pem(first.secret.data['ca.crt']));
    const bundle = certificates(pem(second.caBundle));
    expect(bundle).toHaveLength(2);
    const oldLeaf = new X509Certificate(pem(first.secret.data['tls.crt']));
    const newLeaf = new X509Certificate(pem(second.secret.data['tls.crt']));
    expect(bundle.some((ca) => oldLeaf.verify(ca.publicKey))).toBe(true);
    expect(bundle.some((ca) => newLeaf.verify(ca.publicKey))).toBe(true);
    // A third rotation drops the oldest CA: the bundle never grows past two.
    const third = planWebhookCertificate(WEBHOOK_CERTIFICATE_DEFAULTS, pem(second.secret.data['ca.crt']));
    expect(certificates(pem(third.caBundle))).toHaveLength(2);
  });
});
