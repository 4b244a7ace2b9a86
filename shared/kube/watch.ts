import { STATUS_CODES } from 'node:http';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { HttpMethod, RequestContext, type KubeConfig, type Watch } from '@kubernetes/client-node';
import { fetch } from 'undici';

/** What `Watch#watch` does. */
export type WatchFn = Watch['watch'];

/** client-node's: with no byte for this long, a watch is ended as timed out (and reopened). */
const WATCH_TIMEOUT_MS = 30_000;

/**
 * client-node's `Watch#watch` (same URL, authentication, dispatcher, 30 s connect and inactivity
 * timeout, and `done` semantics), but `stop` also ends a watch that is still connecting.
 * client-node hands back its AbortController only once the response headers have arrived. An
 * informer stopped before that cannot abort the request: it stays open until its 30 s timeout,
 * and the process waits with it (a SIGTERM during a watch's reconnect took 30 s to exit).
 */
export function stoppableWatch(kubeConfig: KubeConfig, stop: AbortSignal): WatchFn {
  return async (path, queryParams, callback, done) => {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error('No currently active cluster');
    const url = new URL(cluster.server + path);
    url.searchParams.set('watch', 'true');
    for (const [key, value] of Object.entries(queryParams)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const controller = new AbortController();
    const abortOnStop = (): void => {
      controller.abort(stop.reason);
    };
    stop.addEventListener('abort', abortOnStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const resetTimer = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      }, WATCH_TIMEOUT_MS).unref();
    };
    let ended = false;
    const end = (error: unknown): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      stop.removeEventListener('abort', abortOnStop);
      controller.abort();
      done(
        error !== null && error !== undefined && timedOut
          ? new DOMException('The operation was aborted due to timeout', 'TimeoutError')
          : error,
      );
    };
    if (stop.aborted) {
      end(stop.reason);
      return controller;
    }
    try {
      const context = new RequestContext(url.toString(), HttpMethod.GET);
      await kubeConfig.applySecurityAuthentication(context);
      resetTimer();
      const dispatcher = context.getDispatcher();
      const response = await fetch(url, {
        method: 'GET',
        headers: context.getHeaders(),
        ...(dispatcher === undefined ? {} : { dispatcher }),
        signal: controller.signal,
      });
      if (response.status !== 200 || response.body === null) {
        const error = new Error(
          response.statusText || STATUS_CODES[response.status] || 'Internal Server Error',
        );
        (error as Error & { statusCode: number }).statusCode = response.status;
        throw error;
      }
      // The connect timeout is over; from here on it is an inactivity timeout.
      resetTimer();
      const body = Readable.fromWeb(response.body);
      body.on('error', end);
      body.on('close', () => {
        end(null);
      });
      body.on('data', resetTimer);
      const lines = createInterface(body);
      lines.on('error', end);
      lines.on('close', () => {
        end(null);
      });
      lines.on('line', (line) => {
        let event: { type: string; object: unknown };
        try {
          event = JSON.parse(line) as { type: string; object: unknown };
        } catch {
          return; // as client-node: a line that is not JSON is skipped
        }
        callback(event.type, event.object, event);
      });
    } catch (error) {
      end(error);
    }
    return controller;
  };
}
