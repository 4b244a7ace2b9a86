/**
 * A value from an untrusted kubeconfig (a name, a key, an apiVersion) in quotes, for a message.
 * Broken YAML can make a value swallow the lines after it, token and all; a value with a line
 * break or a control character is therefore described, never repeated. Long values are cut.
 */
export function quote(value: string, max = 100): string {
  if (/[\p{Cc}\p{Zl}\p{Zp}]/u.test(value)) {
    return `(a value of ${String(value.length)} characters over several lines, not shown)`;
  }
  return `"${value.length > max ? `${value.slice(0, max)}…` : value}"`;
}
