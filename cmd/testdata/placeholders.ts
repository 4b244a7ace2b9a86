/**
 * What golden files of `create` hold instead of a server, a CA and a token. The unit test renders
 * with them; the end-to-end test substitutes them into the real output, so one golden file holds
 * for both and no real credential is ever written to one.
 */
export const GOLDEN_PLACEHOLDERS = { server: 'https://remote.example:6443', caData: 'Q0FEQVRB', token: 'TOKEN' } as const;
