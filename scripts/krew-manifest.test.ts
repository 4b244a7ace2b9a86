import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  archiveName,
  DEFAULT_BASE_URL,
  krewManifest,
  krewManifestProblems,
  renderKrewManifest,
  type KrewPlatform,
  type KrewPlugin,
  type ReleaseArchive,
} from './krew-manifest.ts';

const SHA_A = 'a'.repeat(64);
const SHA_B = '0123456789abcdef'.repeat(4);
const ARCHIVES: ReleaseArchive[] = [
  {
    target: { os: 'linux', arch: 'arm64' },
    name: archiveName('1.2.3', { os: 'linux', arch: 'arm64' }),
    sha256: SHA_B,
    files: ['kubectl-remote_secret', 'kubectl_complete-remote_secret'],
  },
  {
    target: { os: 'linux', arch: 'amd64' },
    name: archiveName('1.2.3', { os: 'linux', arch: 'amd64' }),
    sha256: SHA_A,
    files: ['kubectl-remote_secret', 'kubectl_complete-remote_secret', 'LICENSE'],
  },
  {
    target: { os: 'windows', arch: 'amd64' },
    name: archiveName('1.2.3', { os: 'windows', arch: 'amd64' }),
    sha256: SHA_A,
    files: ['kubectl-remote_secret.exe', 'LICENSE'],
  },
];
const manifest = krewManifest('1.2.3', `${DEFAULT_BASE_URL}/`, ARCHIVES);

describe('the generated krew manifest', () => {
  it('passes the checks of krew validate-krew-manifest, under the file name krew requires', () => {
    expect(krewManifestProblems('plugins/remote-secret.yaml', manifest)).toEqual([]);
  });

  it('is YAML that reads back as the same manifest', () => {
    expect(load(renderKrewManifest(manifest))).toEqual(manifest);
  });

  it('names each archive by version and platform, under the release URL, with its own sha256', () => {
    expect(manifest.spec.version).toBe('v1.2.3');
    expect(
      manifest.spec.platforms.map(({ selector, uri, sha256, bin }) => ({ selector, uri, sha256, bin })),
    ).toEqual([
      {
        selector: { matchLabels: { os: 'linux', arch: 'amd64' } },
        uri: `${DEFAULT_BASE_URL}/v1.2.3/kubectl-remote_secret_1.2.3_linux_amd64.tar.gz`,
        sha256: SHA_A,
        bin: 'kubectl-remote_secret',
      },
      {
        selector: { matchLabels: { os: 'linux', arch: 'arm64' } },
        uri: `${DEFAULT_BASE_URL}/v1.2.3/kubectl-remote_secret_1.2.3_linux_arm64.tar.gz`,
        sha256: SHA_B,
        bin: 'kubectl-remote_secret',
      },
      {
        selector: { matchLabels: { os: 'windows', arch: 'amd64' } },
        uri: `${DEFAULT_BASE_URL}/v1.2.3/kubectl-remote_secret_1.2.3_windows_amd64.zip`,
        sha256: SHA_A,
        bin: 'kubectl-remote_secret.exe',
      },
    ]);
    expect(manifest.spec.platforms[2]?.files).toEqual([
      { from: 'kubectl-remote_secret.exe', to: '.' },
      { from: 'LICENSE', to: '.' },
    ]);
    expect(manifest.spec.platforms[0]?.files).toEqual([
      { from: 'kubectl-remote_secret', to: '.' },
      { from: 'kubectl_complete-remote_secret', to: '.' },
      { from: 'LICENSE', to: '.' },
    ]);
  });
});

type Edit = (plugin: KrewPlugin) => KrewPlugin;
const withSpec =
  (spec: Partial<KrewPlugin['spec']>): Edit =>
  (plugin) => ({
    ...plugin,
    spec: { ...plugin.spec, ...spec },
  });
const withPlatform =
  (platform: Partial<KrewPlatform>): Edit =>
  (plugin) => ({
    ...plugin,
    spec: {
      ...plugin.spec,
      platforms: plugin.spec.platforms.map((item, index) => (index === 0 ? { ...item, ...platform } : item)),
    },
  });

describe('the checks catch what krew rejects', () => {
  it.each<{ name: string; file?: string; edit: Edit; problem: string }>([
    {
      name: 'a file not named after the plugin',
      file: 'plugins/remote_secret.yaml',
      edit: (plugin) => plugin,
      problem: 'the manifest file must be named remote-secret.yaml, after the plugin',
    },
    {
      name: 'another apiVersion',
      edit: (plugin) => ({ ...plugin, apiVersion: 'krew.googlecontainertools.github.com/v1alpha1' }),
      problem: 'apiVersion must be krew.googlecontainertools.github.com/v1alpha2',
    },
    {
      name: 'a name krew refuses',
      file: 'plugins/nul.yaml',
      edit: (plugin) => ({ ...plugin, metadata: { name: 'nul' } }),
      problem: 'the plugin name "nul" is not allowed',
    },
    {
      name: 'a version without its v',
      edit: withSpec({ version: '1.2.3' }),
      problem: 'spec.version "1.2.3" is not a v-prefixed semantic version',
    },
    {
      name: 'a short description over two lines',
      edit: withSpec({ shortDescription: 'one\ntwo' }),
      problem: 'spec.shortDescription has a line break',
    },
    {
      name: 'a short description over 70 characters',
      edit: withSpec({ shortDescription: 'word '.repeat(15) }),
      problem: 'spec.shortDescription is longer than 70 characters',
    },
    {
      name: 'a description line over 80 characters',
      edit: withSpec({ description: 'word '.repeat(17) }),
      problem: 'a line of spec.description is longer than 80 characters',
    },
    { name: 'no platforms', edit: withSpec({ platforms: [] }), problem: 'spec.platforms is empty' },
    {
      name: 'a sha256 in capitals',
      edit: withPlatform({ sha256: SHA_A.toUpperCase() }),
      problem: 'spec.platforms[0].sha256 is not a sha256 in lowercase hex',
    },
    {
      name: 'a plain-http download',
      edit: withPlatform({ uri: 'http://downloads.example/a.tar.gz' }),
      problem: 'spec.platforms[0].uri must be an https:// address',
    },
    {
      name: 'a bin the archive does not install',
      edit: withPlatform({ bin: 'kubectl-other' }),
      problem: 'spec.platforms[0].bin kubectl-other is not among the files it installs',
    },
    {
      name: 'a selector on another label',
      edit: withPlatform({
        selector: { matchLabels: { os: 'linux', arch: 'amd64', distro: 'debian' } as never },
      }),
      problem: 'spec.platforms[0].selector may only match os and arch',
    },
    {
      name: 'a platform krew does not know',
      edit: withPlatform({ selector: { matchLabels: { os: 'plan9', arch: 'amd64' } } }),
      problem: 'spec.platforms[0].selector matches no platform krew supports',
    },
    {
      name: 'two platforms for linux/amd64',
      edit: (plugin) =>
        withSpec({
          platforms: [
            ...plugin.spec.platforms,
            ...plugin.spec.platforms.filter(
              (platform) =>
                platform.selector.matchLabels.os === 'linux' &&
                platform.selector.matchLabels.arch === 'amd64',
            ),
          ],
        })(plugin),
      problem: 'spec.platforms 0, 3 all select linux/amd64',
    },
  ])('$name', ({ file, edit, problem }) => {
    expect(krewManifestProblems(file ?? 'plugins/remote-secret.yaml', edit(manifest))).toContain(problem);
  });
});
