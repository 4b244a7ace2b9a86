import {
  planWebhookCertificate,
  type WebhookCertificateOptions,
  type WebhookCertificatePlan,
} from '../pki/webhook-certificate.ts';
import { asModel, type KubeClient } from './client.ts';

/**
 * Write the plan with the operator's own kubeconfig: create or replace the Secret, then set
 * caBundle on every webhook of the configuration (JSON patch). Returns what was written. Every
 * call goes through `client` (its timeouts and the command's deadline); a failed one is a
 * KubeError that says which call, on which server, and what to check.
 */
export async function installWebhookCertificate(
  client: KubeClient,
  options: WebhookCertificateOptions,
): Promise<WebhookCertificatePlan> {
  const { k8s } = client;
  const secretRef = `Secret ${options.namespace}/${options.secretName}`;
  const existing = await client.read(`read ${secretRef}`, (request) =>
    client.core.readNamespacedSecret({ name: options.secretName, namespace: options.namespace }, request),
  );
  const previousCa = existing?.data?.['ca.crt'];
  const plan = planWebhookCertificate(
    options,
    previousCa === undefined ? undefined : Buffer.from(previousCa, 'base64').toString('utf8'),
  );
  const resourceVersion = existing?.metadata?.resourceVersion;
  const body = asModel(k8s.V1Secret, {
    ...plan.secret,
    metadata: { ...plan.secret.metadata, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
  });
  await (existing === undefined
    ? client.call(`create ${secretRef}`, (request) =>
        client.core.createNamespacedSecret({ namespace: options.namespace, body }, request),
      )
    : client.call(`replace ${secretRef}`, (request) =>
        client.core.replaceNamespacedSecret(
          { name: options.secretName, namespace: options.namespace, body },
          request,
        ),
      ));
  const configurationRef = `ValidatingWebhookConfiguration ${options.webhookConfiguration}`;
  const configuration = await client.call(`read ${configurationRef}`, (request) =>
    client.admissionRegistration.readValidatingWebhookConfiguration(
      { name: options.webhookConfiguration },
      request,
    ),
  );
  const patch = (configuration.webhooks ?? []).map((_webhook, index) => ({
    op: 'add',
    path: `/webhooks/${index}/clientConfig/caBundle`,
    value: plan.caBundle,
  }));
  await client.call(
    `set caBundle on ${configurationRef}`,
    (request) =>
      client.admissionRegistration.patchValidatingWebhookConfiguration(
        { name: options.webhookConfiguration, body: patch },
        request,
      ),
    { name: 'Content-Type', value: k8s.PatchStrategy.JsonPatch },
  );
  return plan;
}
