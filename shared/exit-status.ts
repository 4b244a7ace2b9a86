/** Exit statuses of the plugin and the webhook, as kubectl plugins use them. */
export const EXIT_OK = 0;
/** Findings (a rejected secret, a failed check), or work that failed (an API call, a shutdown). */
export const EXIT_FINDINGS = 1;
/** A usage or configuration error: flags, a kubeconfig, an unreadable file. */
export const EXIT_USAGE = 2;
