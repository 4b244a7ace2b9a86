import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createServingCertificate } from '../test/harness/tls.ts';
import { fixedRate } from './fixed-rate.ts';

const certificate = await createServingCertificate();
const RATE = 100;
const body = () => Buffer.from('{"request":{"uid":"u"}}');

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server?.closeAllConnections();
  server = undefined;
});

/** A loopback HTTPS server answering each request with `answer`, after reading its body. */
async function serve(
  answer: (req: IncomingMessage, res: ServerResponse, count: number) => void,
): Promise<number> {
  let count = 0;
  server = createServer({ key: certificate.keyPem, cert: certificate.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      expect(JSON.parse(Buffer.concat(chunks).toString('utf8'))).toEqual({ request: { uid: 'u' } });
      count += 1;
      answer(req, res, count);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('fixedRate, the open-loop generator', () => {
  it('sends rate x seconds requests, after one per connection to open them, and times each', async () => {
    const port = await serve((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"response":{"allowed":true}}');
    });
    const result = await fixedRate(port, RATE, 1, body);
    expect(result).toMatchObject({ sent: RATE, errors: 0 });
    expect(result.latenciesUs).toHaveLength(RATE);
    expect(result.timed).toHaveLength(RATE);
    expect(result.latenciesUs).toEqual([...result.latenciesUs].sort((a, b) => a - b));
    expect(result.latenciesUs[0]).toBeGreaterThan(0);
  });

  it('counts answers other than 200 as errors, and still times them', async () => {
    const port = await serve((_req, res, count) => {
      res.statusCode = count % 2 === 0 ? 503 : 200;
      res.end('{}');
    });
    const result = await fixedRate(port, RATE, 1, body);
    expect(result.sent).toBe(RATE);
    expect(result.errors).toBeGreaterThanOrEqual(RATE / 2 - 10);
    expect(result.errors).toBeLessThanOrEqual(RATE / 2 + 10);
    expect(result.latenciesUs).toHaveLength(RATE);
  });

  it('opens a new connection when the server closes one after its answer', async () => {
    const port = await serve((_req, res) => {
      res.setHeader('Connection', 'close');
      res.end('{}');
    });
    const result = await fixedRate(port, RATE, 1, body);
    expect(result).toMatchObject({ sent: RATE, errors: 0 });
    expect(result.latenciesUs).toHaveLength(RATE);
  });

  it('counts a reset connection and an answer without Content-Length as errors, without hanging', async () => {
    const port = await serve((req, res, count) => {
      if (count % 10 === 3) req.socket.destroy();
      else if (count % 10 === 7) {
        res.write('{'); // written before the end: chunked, no Content-Length
        res.end('}');
      } else res.end('{}');
    });
    const result = await fixedRate(port, RATE, 1, body);
    expect(result.sent).toBe(RATE);
    // The 100 timed requests are the server's 17th to 116th (16 opened the connections): 20 of
    // them end in 3 or 7.
    expect(result.errors).toBe(20);
    expect(result.latenciesUs).toHaveLength(RATE - 20);
  });
});
