import type { Server } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readiness } from './server.ts';

export interface LifecycleOptions {
  /** Why the webhook cannot answer yet (index not synced), or undefined. */
  readonly notReady: () => string | undefined;
}

/** Readiness and the drain on SIGTERM, in one place. */
export class Lifecycle implements Readiness {
  private drainingSince: number | undefined;

  constructor(private readonly options: LifecycleOptions) {}

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  notReadyReason(): string | undefined {
    if (this.draining) return 'shutting down';
    return this.options.notReady();
  }

  /**
   * Fail readiness first and keep serving for `delayMs` while endpoints update (the API server
   * still sends requests meanwhile), then stop accepting, let in-flight requests finish and close
   * idle keep-alive connections; after `timeoutMs` from the start, close whatever is left.
   * Resolves true when everything finished in time.
   */
  async drain(server: Server, delayMs: number, timeoutMs: number): Promise<boolean> {
    this.drainingSince ??= Date.now();
    await sleep(delayMs);
    const closed = new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    server.closeIdleConnections();
    const idle = setInterval(() => {
      server.closeIdleConnections();
    }, 100);
    const deadline = sleep(Math.max(0, timeoutMs - delayMs), 'timeout' as const, { ref: false });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), deadline]);
    clearInterval(idle);
    if (outcome === 'timeout') server.closeAllConnections();
    return outcome === 'closed';
  }
}
