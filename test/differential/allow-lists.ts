/**
 * Values of istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS the differential suites run
 * under, written as an operator would copy them from istiod's environment. Each is given to the
 * oracle as it stands and to our parser as `--allow` would get it; the verdicts must match.
 * `undefined` is istiod's default: the variable unset.
 */
export const ALLOW_LIST_VALUES: readonly (string | undefined)[] = [
  undefined,
  'exec',
  'tokenFile,clientKey,clientCertificate',
  // A space after the comma: istiod does not trim, so this allows exec only.
  'exec, tokenFile',
  // Every option and every provider name the generator writes, with an empty entry at the end.
  'exec,tokenFile,clientKey,clientCertificate,gcp,azure,openstack,OIDC,oidc ,',
];

/** How a value reads in a test name. */
export function allowListLabel(value: string | undefined): string {
  return value === undefined ? 'the default allow-list' : `allow-list ${JSON.stringify(value)}`;
}
