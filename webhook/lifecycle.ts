import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { VALIDATE_PATH, type Readiness } from './server.ts';

export interface LifecycleOptions {
  /** Why the webhook cannot answer yet (index not synced), or undefined. */
  readonly notReady: () => string | undefined;
}

export interface DrainOptions {
  /** Keep serving this long after SIGTERM while /readyz fails and the endpoints update. */
  readonly delayMs: number;
  /** From SIGTERM, when whatever is still open is closed by force. */
  readonly timeoutMs: number;
  /**
   * Once the listener is closed, a connection without a request in progress is closed (gracefully)
   * when it has been idle this long: not one accepted a moment ago whose first request is on
   * its way, nor one its client has just used.
   */
  readonly idleMs?: number;
  /**
   * After the delay, the listener stays open while admission requests still arrive (the endpoints
   * have not caught up), until none has for this long, at most half-way to the timeout.
   */
  readonly quietMs?: number;
}

/** What the drain did, for the log line and the exit status. */
export interface DrainReport {
  /** Nothing was cut off: every request was answered and no connection had to be destroyed. */
  readonly clean: boolean;
  /** Requests answered after SIGTERM (each with `Connection: close`). */
  readonly requestsServed: number;
  /** Idle keep-alive connections the webhook closed itself (TLS close_notify, then FIN). */
  readonly idleClosed: number;
  /** Connections still open at the shutdown timeout, destroyed. */
  readonly forciblyClosed: number;
  /**
   * Requests that got no answer: in progress on a destroyed connection, or sent by a client on
   * an idle connection the webhook had just closed.
   */
  readonly requestsCutOff: number;
  /** From SIGTERM to closing the listener: the delay, or longer while admission requests came. */
  readonly listenerClosedAfterMs: number;
  /** Admission requests still arrived after the delay: the endpoints were slower than it. */
  readonly waitedForQuiet: boolean;
  readonly durationMs: number;
}

export const DEFAULT_IDLE_CLOSE_MS = 1000;
export const DEFAULT_QUIET_MS = 1000;
const SWEEP_MS = 100;

/** One TLS connection as the drain sees it. */
interface Connection {
  readonly socket: TLSSocket;
  /** Requests on it not answered yet (HTTP/1.1 pipelining aside, 0 or 1). */
  active: number;
  /** Since when it has had no request in progress (accepted, or its last answer sent). */
  idleSince: number;
  /** The drain closed it as idle: a request arriving now cannot be answered. */
  closing: boolean;
}

/** Readiness and the drain on SIGTERM, in one place. */
export class Lifecycle implements Readiness {
  private drainingSince: number | undefined;
  /** Every TCP connection (a TLS handshake may be under way) and every TLS connection. */
  private readonly sockets = new Set<Socket>();
  private readonly connections = new Map<Socket, Connection>();
  private served = 0;
  private cutOff = 0;
  /** When the last admission request arrived: only the API server sends them, via the Service. */
  private lastAdmissionAt = 0;

  constructor(private readonly options: LifecycleOptions) {}

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  notReadyReason(): string | undefined {
    if (this.draining) return 'shutting down';
    return this.options.notReady();
  }

  /** Follow the server's connections and requests, from before it listens: the drain needs them. */
  track(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      this.connections.set(socket, { socket, active: 0, idleSince: Date.now(), closing: false });
      socket.once('close', () => this.connections.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // Probes and scrapes come to the pod itself, whatever its endpoints say; admission does not.
      if (req.url?.startsWith(VALIDATE_PATH) === true) this.lastAdmissionAt = Date.now();
      const connection = this.connections.get(req.socket);
      if (connection === undefined) return;
      if (connection.closing) this.cutOff += 1;
      connection.active += 1;
      res.once('close', () => {
        connection.active -= 1;
        connection.idleSince = Date.now();
        if (this.draining && res.writableFinished) this.served += 1;
      });
    });
  }

  /**
   * Fail readiness first and keep serving for `delayMs` while the endpoints update (the API server
   * still sends requests meanwhile, each answered with `Connection: close` so that its client
   * reconnects elsewhere), and on while admission requests still arrive; then stop accepting, let requests in progress finish, and close each
   * connection once it has been idle for `idleMs`; at `timeoutMs` from the start, destroy whatever
   * is left. Reports what it had to cut off: `clean` only when nothing was.
   */
  async drain(server: Server, options: DrainOptions): Promise<DrainReport> {
    this.drainingSince ??= Date.now();
    const start = this.drainingSince;
    const idleMs = options.idleMs ?? DEFAULT_IDLE_CLOSE_MS;
    const quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    await sleep(options.delayMs);
    // Closing the listener resets the connections the kernel has accepted and Node not yet taken,
    // unseen by this process: wait until the API server has stopped coming here.
    const closeBy = start + options.delayMs + (options.timeoutMs - options.delayMs) / 2;
    let waitedForQuiet = false;
    while (Date.now() - this.lastAdmissionAt < quietMs && Date.now() < closeBy) {
      waitedForQuiet = true;
      await sleep(Math.min(SWEEP_MS, quietMs));
    }
    // net's close, not http's: http's also destroys every connection without a request in
    // progress, one accepted a moment ago whose first request is on its way included, and
    // abruptly, in a race with a client sending on it.
    const listenerClosedAt = Date.now();
    const closed = new Promise<'closed'>((resolve) => {
      NetServer.prototype.close.call(server, () => {
        resolve('closed');
      });
    });
    let idleClosed = 0;
    const sweep = () => {
      const now = Date.now();
      for (const connection of this.connections.values()) {
        if (connection.active > 0 || connection.closing || now - connection.idleSince < idleMs) continue;
        connection.closing = true;
        idleClosed += 1;
        connection.socket.end();
      }
    };
    sweep();
    const sweeper = setInterval(sweep, SWEEP_MS);
    const deadline = sleep(Math.max(0, start + options.timeoutMs - Date.now()), 'timeout' as const, {
      ref: false,
    });
    const outcome = await Promise.race([closed, deadline]);
    clearInterval(sweeper);
    let forciblyClosed = 0;
    if (outcome === 'timeout') {
      // Every TCP connection still open, a TLS handshake under way included.
      forciblyClosed = this.sockets.size;
      for (const connection of this.connections.values()) {
        this.cutOff += connection.active;
        connection.socket.destroy();
      }
      for (const socket of this.sockets) socket.destroy();
    }
    return {
      clean: forciblyClosed === 0 && this.cutOff === 0,
      requestsServed: this.served,
      idleClosed,
      forciblyClosed,
      requestsCutOff: this.cutOff,
      listenerClosedAfterMs: listenerClosedAt - start,
      waitedForQuiet,
      durationMs: Date.now() - start,
    };
  }
}
