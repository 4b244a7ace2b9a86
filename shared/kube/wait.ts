import type { KubeConfig } from '@kubernetes/client-node';
import type { ClientNodeModule } from './client-node.ts';
import { formatDuration } from '../time/duration.ts';
import { KubeError, toKubeError } from './errors.ts';

export interface WaitOptions {
  /** API path of the collection: `/api/v1/namespaces/istio-system/secrets`. */
  readonly collectionPath: string;
  readonly name: string;
  readonly timeoutMs: number;
  /** How the limit is named in the message ("--timeout 30s"); by default the duration. */
  readonly limit?: string | undefined;
  /** What did not happen, for the timeout message: "the token controller did not fill Secret x". */
  readonly what: string;
  /** What to check when it never happens. */
  readonly hint: string;
}

/**
 * Watch one named object until `accept` returns a value for it (it sees every event: ADDED,
 * MODIFIED, DELETED, ERROR). A watch without a
 * resourceVersion first reports the object as it is now, so an object already in the wanted
 * state resolves at once and no change can slip in between a read and the watch. The API server
 * ends watches from time to time; the watch is then opened again until the deadline.
 */
export function waitForObject<T>(
  k8s: ClientNodeModule,
  kubeConfig: KubeConfig,
  options: WaitOptions,
  accept: (object: unknown, phase: string) => T | undefined,
): Promise<T> {
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no server)';
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let controller: AbortController | undefined;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller?.abort();
      finish();
    };
    const timer = setTimeout(() => {
      settle(() => {
        reject(
          new KubeError(
            'timeout',
            `${options.what} within ${options.limit ?? formatDuration(options.timeoutMs)}`,
            {
              hint: options.hint,
            },
          ),
        );
      });
    }, options.timeoutMs);

    const open = (): void => {
      if (settled) return;
      new k8s.Watch(kubeConfig)
        .watch(
          options.collectionPath,
          { fieldSelector: `metadata.name=${options.name}` },
          (phase: string, object: unknown) => {
            // `accept` may throw to give up early (the object was deleted, say).
            try {
              const value = accept(object, phase);
              if (value !== undefined) {
                settle(() => {
                  resolve(value);
                });
              }
            } catch (error) {
              settle(() => {
                reject(error instanceof Error ? error : new Error(String(error)));
              });
            }
          },
          (error: unknown) => {
            if (settled) return;
            if (error === null || error === undefined) {
              // The server closed the watch: open it again (not in a tight loop) until the deadline.
              setTimeout(open, 200).unref();
              return;
            }
            settle(() => {
              reject(
                toKubeError(error, { server, action: `watch ${options.collectionPath}/${options.name}` }),
              );
            });
          },
        )
        .then(
          (abort) => {
            controller = abort;
            if (settled) abort.abort();
          },
          (error: unknown) => {
            settle(() => {
              reject(
                toKubeError(error, { server, action: `watch ${options.collectionPath}/${options.name}` }),
              );
            });
          },
        );
    };
    open();
  });
}
