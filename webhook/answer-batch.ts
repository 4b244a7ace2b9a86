import type { ServerResponse } from 'node:http';

interface Pending {
  readonly res: ServerResponse;
  readonly body: string;
}

/**
 * Admission answers written together at the end of the event loop's turn, once every request
 * that arrived with it has been decided, as Redis writes its replies before it sleeps. Each
 * write on a loopback or LAN connection wakes the reader; when the caller's thread sleeps
 * between answers, that wake-up costs the webhook as much as a decision (on a VM, an
 * inter-processor interrupt per answer). Written in a burst, the first answer wakes the caller
 * and the rest find it running. A request waits at most for the others of its turn to be
 * decided: nothing at all when it came alone.
 *
 * Status, headers and body are fixed when the answer is queued; `answered` tells a later
 * refusal (a handler that throws after it answered) that the request has its answer.
 */
export class AnswerBatch {
  private pending: Pending[] = [];
  private readonly held = new WeakSet<ServerResponse>();
  private scheduled = false;

  constructor(private readonly schedule: (flush: () => void) => void = setImmediate) {}

  /** Queue `body` as the JSON answer to `res`, written at the end of this turn. */
  send(res: ServerResponse, status: number, body: string): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    this.held.add(res);
    this.pending.push({ res, body });
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flush);
    }
  }

  /** Whether `res` has its answer: written, or queued to be. */
  answered(res: ServerResponse): boolean {
    return res.headersSent || this.held.has(res);
  }

  /** Whether the answer to `res` is queued and not yet written. */
  queued(res: ServerResponse): boolean {
    return this.held.has(res);
  }

  /** Answers queued and not yet written. */
  get size(): number {
    return this.pending.length;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const { res, body } of batch) {
      this.held.delete(res);
      // A caller that went away in the meantime has nobody to read the answer.
      if (!res.destroyed && !res.writableEnded) res.end(body);
    }
  };
}
