import { request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface HttpsResponse {
  readonly status: number;
  readonly body: string;
}

/** A plain GET over TLS, for asserting on status codes the typed clients would turn into throws. */
export function httpsGet(url: string, options: RequestOptions = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET a path of the current cluster with the current user's credentials from kubeConfig. */
export async function kubeGet(kubeConfig: KubeConfig, path: string): Promise<HttpsResponse> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('kubeconfig has no current cluster');
  const options: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  return httpsGet(new URL(path, server).toString(), options);
}
