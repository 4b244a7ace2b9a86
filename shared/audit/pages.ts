/** One page of a Kubernetes list: its items and the token for the next page ('' or absent: done). */
export interface Page<T> {
  readonly items: readonly T[];
  readonly continueToken: string | undefined;
}

/** Ask for one page, given the previous page's continue token (undefined for the first). */
export type FetchPage<T> = (continueToken: string | undefined) => Promise<Page<T>>;

/**
 * Walk a chunked list (`limit` / `continue`) page by page, handing each page to `onPage` (and
 * waiting for it, when it returns a promise) before asking for the next, so a namespace with 10,000 secrets never has to be held as one response.
 * Returns how many pages were read. A repeated continue token would loop forever, so it stops.
 */
export async function forEachPage<T>(
  fetchPage: FetchPage<T>,
  onPage: (items: readonly T[], pageNumber: number) => void | Promise<void>,
): Promise<number> {
  let token: string | undefined;
  const seen = new Set<string>();
  let pages = 0;
  for (;;) {
    const page = await fetchPage(token);
    pages += 1;
    await onPage(page.items, pages);
    token = page.continueToken === '' ? undefined : page.continueToken;
    if (token === undefined) return pages;
    if (seen.has(token)) throw new Error(`the API server returned the continue token of page ${pages} twice`);
    seen.add(token);
  }
}
