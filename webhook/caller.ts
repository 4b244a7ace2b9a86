/**
 * Who sent a review, as far as TLS can tell. `authenticated`: its client certificate chains to
 * `--client-ca-file`; false when no client CA is configured: then anyone who reaches the port can
 * send one, and its userInfo is whatever the sender wrote, so log lines and Events say so.
 */
export interface Caller {
  readonly authenticated: boolean;
  /** The verified client certificate's subject, e.g. `CN=kube-apiserver-webhook-client`. */
  readonly subject?: string;
}

/** What a caller is when /validate has no client authentication. */
export const UNAUTHENTICATED: Caller = { authenticated: false };
