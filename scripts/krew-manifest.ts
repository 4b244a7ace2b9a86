// The krew plugin manifest (https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/),
// generated for the archives of one release, and the checks krew's own validator
// (sigs.k8s.io/krew validate-krew-manifest) makes of it.
import { dump } from 'js-yaml';
import { executableName, type Target } from './sea.ts';

export const KREW_API_VERSION = 'krew.googlecontainertools.github.com/v1alpha2';
export const PLUGIN_NAME = 'remote-secret';
export const PLUGIN_BINARY = 'kubectl-remote_secret';
export const COMPLETION_BINARY = 'kubectl_complete-remote_secret';

/**
 * Placeholder: where the release archives are published, `<base>/v<version>/<archive>`. Set
 * RELEASE_BASE_URL (or `npm run package -- --base-url`) to the real address.
 */
export const DEFAULT_BASE_URL =
  'https://github.com/kubectl-remote-secret/kubectl-remote-secret/releases/download';
export const HOMEPAGE = 'https://github.com/kubectl-remote-secret/kubectl-remote-secret';

export interface KrewFileOperation {
  readonly from: string;
  readonly to: string;
}

export interface KrewPlatform {
  readonly selector: { readonly matchLabels: { readonly os: string; readonly arch: string } };
  readonly uri: string;
  readonly sha256: string;
  readonly files: readonly KrewFileOperation[];
  readonly bin: string;
}

export interface KrewPlugin {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly version: string;
    readonly homepage: string;
    readonly shortDescription: string;
    readonly description: string;
    readonly caveats: string;
    readonly platforms: readonly KrewPlatform[];
  };
}

export interface ReleaseArchive {
  readonly target: Target;
  /** File name of the .tar.gz, as published under the release's base URL. */
  readonly name: string;
  readonly sha256: string;
  /** The files in the archive, which krew copies into the plugin's folder. */
  readonly files: readonly string[];
}

/** `kubectl-remote_secret_<version>_<os>_<arch>.tar.gz`, or `.zip` for Windows (as krew expects). */
export const archiveName = (version: string, target: Target): string =>
  `${PLUGIN_BINARY}_${version}_${target.os}_${target.arch}.${target.os === 'windows' ? 'zip' : 'tar.gz'}`;

export function krewManifest(
  version: string,
  baseUrl: string,
  archives: readonly ReleaseArchive[],
): KrewPlugin {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    apiVersion: KREW_API_VERSION,
    kind: 'Plugin',
    metadata: { name: PLUGIN_NAME },
    spec: {
      version: `v${version}`,
      homepage: HOMEPAGE,
      shortDescription: 'Create, check and audit safe Istio multicluster remote secrets',
      description: [
        'Creates least-privilege, exec-free Istio multicluster remote secrets',
        '(istioctl create-remote-secret, and safer); checks remote secret manifests',
        'offline for kubeconfigs that would run code or read files on istiod;',
        'verifies that each secret reaches, authenticates to and may read its',
        'cluster; audits the remote secrets stored in a primary cluster.',
        '',
      ].join('\n'),
      caveats: [
        'Shell completion of `kubectl remote-secret` (kubectl 1.26 and later, with',
        "kubectl's own completion loaded) needs kubectl_complete-remote_secret on",
        "PATH. It is in the plugin's folder; copy it once (it runs whichever",
        'kubectl-remote_secret is on PATH, so it outlives upgrades):',
        '  cd "${KREW_ROOT:-$HOME/.krew}"',
        '  cp store/remote-secret/*/kubectl_complete-remote_secret bin/',
        '',
      ].join('\n'),
      platforms: [...archives]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((archive) => ({
          selector: { matchLabels: { os: archive.target.os, arch: archive.target.arch } },
          uri: `${base}/v${version}/${archive.name}`,
          sha256: archive.sha256,
          files: archive.files.map((file) => ({ from: file, to: '.' })),
          bin: executableName(archive.target),
        })),
    },
  };
}

export function renderKrewManifest(plugin: KrewPlugin): string {
  return dump(plugin, { lineWidth: -1, noRefs: true });
}

// The <os,arch> pairs krew releases for; a platform must select one, and only one platform each.
const KREW_PLATFORMS: readonly (readonly [string, string])[] = [
  ['linux', 'amd64'],
  ['linux', 'arm64'],
  ['linux', 'arm'],
  ['linux', '386'],
  ['darwin', 'amd64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
  ['windows', '386'],
];
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i;
// krew's semver: a leading v, then MAJOR.MINOR.PATCH, optional pre-release and build.
const KREW_SEMVER = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/**
 * The problems krew's validator would report for the manifest in `fileName` (none: valid),
 * including its warnings on line length, which krew-index reviewers enforce. It checks a manifest
 * this script generated, so the shape is the type's; the rules are krew's.
 */
export function krewManifestProblems(fileName: string, plugin: KrewPlugin): string[] {
  const problems: string[] = [];
  if (plugin.apiVersion !== KREW_API_VERSION) problems.push(`apiVersion must be ${KREW_API_VERSION}`);
  if (plugin.kind !== 'Plugin') problems.push('kind must be Plugin');
  const name = plugin.metadata.name;
  if (!/^[\w-]+$/.test(name) || WINDOWS_RESERVED.test(name))
    problems.push(`the plugin name "${name}" is not allowed`);
  if (!fileName.endsWith('.yaml')) problems.push('the manifest file must end in .yaml');
  if (fileName.replace(/^.*\//, '') !== `${name}.yaml`) {
    problems.push(`the manifest file must be named ${name}.yaml, after the plugin`);
  }
  const spec = plugin.spec;
  if (!KREW_SEMVER.test(spec.version))
    problems.push(`spec.version "${spec.version}" is not a v-prefixed semantic version`);
  if (spec.shortDescription === '') problems.push('spec.shortDescription is empty');
  if (/[\r\n]/.test(spec.shortDescription)) problems.push('spec.shortDescription has a line break');
  if (!linesFit(spec.shortDescription, 70))
    problems.push('spec.shortDescription is longer than 70 characters');
  if (!linesFit(spec.description, 80))
    problems.push('a line of spec.description is longer than 80 characters');
  if (!linesFit(spec.caveats, 80)) problems.push('a line of spec.caveats is longer than 80 characters');
  if (spec.platforms.length === 0) problems.push('spec.platforms is empty');
  spec.platforms.forEach((platform, index) => {
    const at = `spec.platforms[${index}]`;
    if (!/^https:\/\//.test(platform.uri)) problems.push(`${at}.uri must be an https:// address`);
    if (!/^[a-f0-9]{64}$/.test(platform.sha256))
      problems.push(`${at}.sha256 is not a sha256 in lowercase hex`);
    if (platform.bin === '') problems.push(`${at}.bin is empty`);
    if (platform.files.length === 0) problems.push(`${at}.files must be left out or list files`);
    for (const file of platform.files) {
      if (file.from === '' || file.to === '') problems.push(`${at}.files needs from and to`);
    }
    if (
      !platform.files.some((file) => file.from === platform.bin || file.from.endsWith(`/${platform.bin}`))
    ) {
      problems.push(`${at}.bin ${platform.bin} is not among the files it installs`);
    }
    const labels = Object.keys(platform.selector.matchLabels);
    if (labels.length === 0 || labels.some((key) => key !== 'os' && key !== 'arch')) {
      problems.push(`${at}.selector may only match os and arch`);
    }
    if (!KREW_PLATFORMS.some(([os, arch]) => selects(platform, os, arch))) {
      problems.push(`${at}.selector matches no platform krew supports`);
    }
  });
  for (const [os, arch] of KREW_PLATFORMS) {
    const matching = spec.platforms.flatMap((platform, index) =>
      selects(platform, os, arch) ? [index] : [],
    );
    if (matching.length > 1) problems.push(`spec.platforms ${matching.join(', ')} all select ${os}/${arch}`);
  }
  return problems;
}

function selects(platform: KrewPlatform, os: string, arch: string): boolean {
  const { matchLabels } = platform.selector;
  return matchLabels.os === os && matchLabels.arch === arch;
}

/** krew lets a line run over when it is a single word (a long URL). */
function linesFit(text: string, width: number): boolean {
  return text.split('\n').every((line) => line.length <= width || !line.trim().includes(' '));
}
