import { Watch, type KubeConfig } from '@kubernetes/client-node';

/**
 * Watches one named object until `accept` returns a value for it, and resolves with that value.
 * A watch without a resourceVersion starts with the object's current state, so an object that is
 * already in the wanted state resolves at once, and no change can slip between a read and a watch.
 */
export function waitForObject<T>(
  kubeConfig: KubeConfig,
  collectionPath: string,
  name: string,
  accept: (object: unknown) => T | undefined,
  timeoutMs: number,
): Promise<T> {
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
          new Error(`${collectionPath}/${name} not in the expected state after ${String(timeoutMs)} ms`),
        );
      });
    }, timeoutMs);

    new Watch(kubeConfig)
      .watch(
        collectionPath,
        { fieldSelector: `metadata.name=${name}` },
        (phase: string, object: unknown) => {
          if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
          const value = accept(object);
          if (value !== undefined) {
            settle(() => {
              resolve(value);
            });
          }
        },
        (error: unknown) => {
          settle(() => {
            reject(error instanceof Error ? error : new Error(`watch of ${collectionPath} ended`));
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
            reject(error instanceof Error ? error : new Error(String(error)));
          });
        },
      );
  });
}
