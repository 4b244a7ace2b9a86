import { dump } from 'js-yaml';

/**
 * YAML as Kubernetes tools write it (sigs.k8s.io/yaml over go-yaml v2): mapping keys sorted,
 * sequences not indented under their key, `"double"` quotes wherever a plain scalar could be
 * read as something other than the string (`"true"`, `"no"`, `"0123"`, `"1e3"`), no line
 * folding and no anchors. Strings holding newlines become literal blocks (`|`), which is how
 * istioctl shows the kubeconfig under `stringData`.
 */
export function emitYaml(value: unknown): string {
  return dump(sortKeysDeep(value), {
    quoteStyle: 'double',
    lineWidth: -1,
    noRefs: true,
    seqNoIndent: true,
  });
}

/** A copy of `value` whose mappings list their keys in Go's order (byte-wise), at every depth. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort(byteOrder)) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) sorted[key] = sortKeysDeep(item);
  }
  return sorted;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
