import { describe, expect, it } from 'vitest';
import { forEachPage, type Page } from './pages.ts';

/** A list of `total` items served `limit` at a time, with the continue tokens the server hands out. */
function server(total: number, limit: number) {
  const requests: (string | undefined)[] = [];
  const fetch = (token: string | undefined): Promise<Page<number>> => {
    requests.push(token);
    const start = token === undefined ? 0 : Number(token.slice('page-'.length));
    const items = Array.from({ length: Math.max(0, Math.min(limit, total - start)) }, (_, i) => start + i);
    const next = start + limit;
    return Promise.resolve({ items, continueToken: next < total ? `page-${next}` : '' });
  };
  return { fetch, requests };
}

describe('forEachPage', () => {
  it.each([
    { total: 0, limit: 500, pages: 1 },
    { total: 500, limit: 500, pages: 1 },
    { total: 501, limit: 500, pages: 2 },
    { total: 10_000, limit: 500, pages: 20 },
    { total: 7, limit: 2, pages: 4 },
  ])('$total items, $limit a page: $pages pages', async ({ total, limit, pages }) => {
    const { fetch, requests } = server(total, limit);
    const seen: number[] = [];
    const sizes: number[] = [];
    expect(
      await forEachPage(fetch, (items) => {
        seen.push(...items);
        sizes.push(items.length);
      }),
    ).toBe(pages);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(requests[0]).toBeUndefined();
    expect(requests.slice(1)).toEqual(Array.from({ length: pages - 1 }, (_, i) => `page-${(i + 1) * limit}`));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
  });

  it('stops on a continue token that comes back twice', async () => {
    const fetch = () => Promise.resolve({ items: [1], continueToken: 'again' });
    await expect(forEachPage(fetch, () => undefined)).rejects.toThrow(/continue token/);
  });

  it('passes an API error through', async () => {
    const fetch = () => Promise.reject(new Error('410 Gone'));
    await expect(forEachPage(fetch, () => undefined)).rejects.toThrow('410 Gone');
  });
});
