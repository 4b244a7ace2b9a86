import { loadClientNode } from '../shared/kube/client-node.ts';
import { RemoteSecretError } from '../shared/errors.ts';
import { operatorClient } from '../shared/kube/client.ts';
import { installWebhookCertificate } from '../shared/kube/webhook-certificate.ts';
import type { WebhookCertificateOptions } from '../shared/pki/webhook-certificate.ts';
import { EXIT_OK, exitStatusOf, writeErrorWithHint } from './cli-io.ts';

export interface WebhookCertOptions extends WebhookCertificateOptions {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  /** --timeout: the whole command. */
  readonly timeoutMs: number;
  /** --request-timeout: each call. */
  readonly requestTimeoutMs: number;
}

export interface WebhookCertIo {
  readonly stdout: NodeJS.WritableStream;
  readonly env: { readonly kubeconfig: string | undefined; readonly home: string | undefined };
}

/**
 * `kubectl remote-secret webhook-cert`: the webhook's serving certificate for clusters without
 * cert-manager. Writes the TLS Secret and sets caBundle; re-running it rotates both, keeping the
 * previous CA trusted meanwhile. Exit status 0 written, 1 an API call failed, 2 usage.
 */
export async function runWebhookCert(options: WebhookCertOptions, io: WebhookCertIo): Promise<number> {
  const k8s = await loadClientNode();
  try {
    const { client } = operatorClient(k8s, options, io.env);
    const plan = await installWebhookCertificate(client, options);
    io.stdout.write(
      [
        `secret/${options.secretName} written in namespace ${options.namespace} (kubernetes.io/tls)`,
        `validatingwebhookconfiguration/${options.webhookConfiguration}: caBundle set`,
        `DNS names: ${plan.dnsNames.join(', ')}`,
        `expires: ${plan.notAfter.toISOString()} (run this command again before then to renew)`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof RemoteSecretError)) throw error;
    writeErrorWithHint(error);
    return exitStatusOf(error);
  }
}
