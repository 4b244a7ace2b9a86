import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchIstiodClusters,
  istiodAgrees,
  istiodOpinion,
  istiodProblem,
  IstiodViewError,
} from './istiod.ts';

const CLUSTERS = [
  { id: 'primary', secretName: '', syncStatus: 'synced' },
  { id: 'east', secretName: 'istio-system/istio-remote-secret-east', syncStatus: 'synced' },
  { id: 'west', secretName: 'istio-system/istio-remote-secret-west', syncStatus: 'timeout' },
];

describe('istiodOpinion', () => {
  it.each([
    { cluster: 'east', secret: 'istio-system/istio-remote-secret-east', status: 'used', agrees: true },
    { cluster: 'west', secret: 'istio-system/istio-remote-secret-west', status: 'used', agrees: false },
    { cluster: 'east', secret: 'istio-system/copy-of-east', status: 'other-secret', agrees: false },
    {
      cluster: 'primary',
      secret: 'istio-system/istio-remote-secret-primary',
      status: 'config-cluster',
      agrees: false,
    },
    { cluster: 'north', secret: 'istio-system/istio-remote-secret-north', status: 'absent', agrees: false },
  ])('$cluster from $secret: $status', ({ cluster, secret, status, agrees }) => {
    const opinion = istiodOpinion(CLUSTERS, cluster, secret);
    expect(opinion.status).toBe(status);
    expect(istiodAgrees(opinion)).toBe(agrees);
    expect(istiodProblem(opinion) === undefined).toBe(agrees);
  });
});

describe('fetchIstiodClusters', () => {
  let server: Server;
  let base: string;
  let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(CLUSTERS) };

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url !== '/debug/clusterz') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });

  afterAll(() => {
    server.close();
  });

  it('reads the clusters istiod lists, with or without a trailing slash', async () => {
    answer = { status: 200, body: JSON.stringify(CLUSTERS) };
    expect(await fetchIstiodClusters(base, 2_000)).toEqual(CLUSTERS);
    expect(await fetchIstiodClusters(`${base}/`, 2_000)).toEqual(CLUSTERS);
  });

  it.each([
    { why: 'a status other than 200', answer: { status: 400, body: '' }, message: /answered 400/ },
    { why: 'text that is not JSON', answer: { status: 200, body: '<html>' }, message: /did not answer JSON/ },
    {
      why: 'JSON that is not a list',
      answer: { status: 200, body: '{"id": 1}' },
      message: /a list of clusters/,
    },
  ])('says what to do on $why', async ({ answer: next, message }) => {
    answer = next;
    const failure = fetchIstiodClusters(base, 2_000);
    await expect(failure).rejects.toThrow(IstiodViewError);
    await expect(failure).rejects.toThrow(message);
    await expect(failure).rejects.toMatchObject({
      code: 'istiod-unreachable',
      hint: expect.stringContaining('port-forward'),
    });
  });

  it.each([
    { base: 'not a url', message: /is not a URL/ },
    { base: 'ftp://127.0.0.1:1', message: /not an http or https URL/ },
  ])('refuses --istiod $base', async ({ base: given, message }) => {
    await expect(fetchIstiodClusters(given, 1_000)).rejects.toThrow(message);
  });

  it('says what to do when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(fetchIstiodClusters(`http://127.0.0.1:${String(port)}`, 1_000)).rejects.toThrow(
      /did not answer \(.*ECONNREFUSED.*\)/,
    );
  });
});
