import { X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueServingCertificate } from './certificate.ts';

/**
 * The serving certificate for the webhook in clusters without cert-manager, as the plugin's
 * `kubectl remote-secret webhook-cert` writes it: a CA of our own and a leaf for the Service's DNS
 * names in a `kubernetes.io/tls` Secret the Deployment mounts (the webhook reloads it without a
 * restart), and the CA in the ValidatingWebhookConfiguration's caBundle. Re-running it rotates
 * both; the previous CA stays in caBundle so the API server trusts old and new pods meanwhile.
 */
export interface WebhookCertificateOptions {
  readonly namespace: string;
  readonly service: string;
  readonly secretName: string;
  readonly webhookConfiguration: string;
  /** Leaf validity; renew by re-running before it ends. */
  readonly validityDays: number;
  readonly now?: Date;
}

export const WEBHOOK_CERTIFICATE_DEFAULTS = {
  namespace: 'remote-secret-webhook',
  service: 'remote-secret-webhook',
  secretName: 'remote-secret-webhook-tls',
  webhookConfiguration: 'remote-secret-webhook',
  validityDays: 365,
} as const satisfies WebhookCertificateOptions;

export interface WebhookCertificatePlan {
  /** The `kubernetes.io/tls` Secret as plain JSON (data base64). */
  readonly secret: {
    readonly apiVersion: 'v1';
    readonly kind: 'Secret';
    readonly type: 'kubernetes.io/tls';
    readonly metadata: {
      readonly name: string;
      readonly namespace: string;
      readonly labels: Record<string, string>;
    };
    readonly data: { readonly 'tls.crt': string; readonly 'tls.key': string; readonly 'ca.crt': string };
  };
  /** base64 of the PEM bundle for every webhook's clientConfig.caBundle. */
  readonly caBundle: string;
  readonly dnsNames: readonly string[];
  readonly notAfter: Date;
}

/** The DNS names the API server may dial for a `service` clientConfig. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
    service,
  ];
}

/** Pure: a new CA and leaf, and the caBundle that trusts them (plus `previousCaPem`, if given). */
export function planWebhookCertificate(
  options: WebhookCertificateOptions,
  previousCaPem?: string,
): WebhookCertificatePlan {
  const now = options.now ?? new Date();
  const ca = createCertificateAuthority({
    commonName: `${options.service}.${options.namespace} webhook CA`,
    // The CA outlives its leaves so a leaf can be re-issued without touching caBundle's trust.
    validityDays: options.validityDays * 2,
    now,
  });
  const dnsNames = serviceDnsNames(options.service, options.namespace);
  const leaf = issueServingCertificate(ca, { hosts: dnsNames, validityDays: options.validityDays, now });
  const previous = previousCaPem === undefined ? [] : stillValidCertificates(previousCaPem, now);
  const bundle = [ca.certificatePem, ...previous].join('');
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: options.secretName,
        namespace: options.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'kubectl-remote-secret' },
      },
      data: {
        'tls.crt': b64(leaf.certificatePem),
        'tls.key': b64(leaf.privateKeyPem),
        'ca.crt': b64(bundle),
      },
    },
    caBundle: b64(bundle),
    dnsNames,
    notAfter: new Date(leaf.certificate.validTo),
  };
}

/** The PEM certificates in `pem` that have not expired at `now` (older CAs drop out of the bundle). */
function stillValidCertificates(pem: string, now: Date): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  return blocks
    .filter((block) => {
      try {
        return new Date(new X509Certificate(block).validTo) > now;
      } catch {
        return false;
      }
    })
    .slice(0, 1)
    .map((block) => (block.endsWith('\n') ? block : `${block}\n`));
}
