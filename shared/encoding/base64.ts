/**
 * Whether `value` is padded standard base64, as Go's `encoding/base64.StdEncoding` (and so
 * `json.Unmarshal` into `[]byte`) accepts it. Go ignores CR and LF; callers strip them first.
 *
 * Node's decoder is native and fast but forgiving: it skips characters outside the alphabet and
 * also takes the URL-safe `-` and `_`. So: decode, and require every character to have counted
 * (the decoded length is exactly what the text length promises) and neither URL-safe character.
 */
export function isStandardBase64(value: string): boolean {
  return decodeStandardBase64(value) !== undefined;
}

/** The bytes of `value` when it is padded standard base64 (see `isStandardBase64`), else `undefined`. */
export function decodeStandardBase64(value: string): Buffer | undefined {
  const length = value.length;
  if (length % 4 !== 0) return undefined;
  if (length === 0) return Buffer.alloc(0);
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  const firstPad = value.indexOf('=');
  if (firstPad !== -1 && firstPad < length - padding) return undefined;
  if (value.includes('-') || value.includes('_')) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === (length / 4) * 3 - padding ? bytes : undefined;
}

/** Remove the line breaks Go's decoder skips, without copying when there are none. */
export function withoutLineBreaks(value: string): string {
  return value.includes('\n') || value.includes('\r') ? value.replace(/[\r\n]/g, '') : value;
}
