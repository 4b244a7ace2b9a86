import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

const CLIENT_NODE = '@kubernetes/client-node';

/** What every build of the plugin bakes in (cmd/build-info.ts reads it). */
export interface BakedInfo {
  readonly version: string;
  readonly commit: string;
}

/**
 * The options both flavours of the plugin bundle share: one CommonJS file (Node loads it faster
 * than a tree of ES modules), each command's code evaluated only when that command runs.
 */
function pluginOptions(root: string, baked: BakedInfo): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: ['cmd/entry.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    // yargs reads import.meta.url, which a CommonJS file does not have.
    define: {
      'import.meta.url': '__importMetaUrl',
      KUBECTL_REMOTE_SECRET_VERSION: JSON.stringify(baked.version),
      KUBECTL_REMOTE_SECRET_COMMIT: JSON.stringify(baked.commit),
    },
    banner: { js: "var __importMetaUrl=require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
  };
}

/**
 * dist/plugin/kubectl-remote_secret.cjs, which bin/kubectl-remote_secret runs with the project's
 * Node: @kubernetes/client-node stays in node_modules and is imported when a command needs it.
 */
export async function bundlePluginForNode(root: string, outfile: string, baked: BakedInfo): Promise<void> {
  await build({ ...pluginOptions(root, baked), outfile, sourcemap: true, external: [CLIENT_NODE] });
}

/** The two scripts of the single executable: the plugin, and client-node as an asset. */
export interface SeaScripts {
  readonly main: string;
  readonly clientNode: string;
}

/** The asset's key in the executable; cmd/sea/client-node.cts reads it. */
export const CLIENT_NODE_ASSET = 'client-node.cjs';

/**
 * The single executable's main script, and client-node bundled on its own. A single executable can
 * `require` built-in modules only, so client-node must be inside it; compiling its 4 MB on every
 * start would cost `--help` and `check` about a quarter of their time, so it is an asset that
 * cmd/sea/client-node.cts compiles on the first loadClientNode() (esbuild turns that dynamic
 * import into a lazy require of the loader).
 */
export async function bundlePluginForSea(
  root: string,
  outDir: string,
  baked: BakedInfo,
): Promise<SeaScripts> {
  const scripts = { main: join(outDir, 'main.cjs'), clientNode: join(outDir, CLIENT_NODE_ASSET) };
  const loader = join(root, 'cmd/sea/client-node.cts');
  const clientNodeFromAsset: Plugin = {
    name: 'client-node-from-sea-asset',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: loader }));
    },
  };
  const main = await build({
    ...pluginOptions(root, baked),
    target: 'node26',
    outfile: scripts.main,
    plugins: [clientNodeFromAsset],
    metafile: true,
  });
  const leaked = packagesIn(main.metafile).filter((name) => name.startsWith('@kubernetes/'));
  if (leaked.length > 0) {
    throw new Error(`the main script must not contain ${leaked.join(', ')}: it is loaded from an asset`);
  }
  // Node's docs: import() does not work in a single executable with a code cache. esbuild turns
  // the import() of a bundled module into a require; one of a built-in module it keeps.
  if (/[^\w$.]import\(/.test(readFileSync(scripts.main, 'utf8'))) {
    throw new Error(
      `${scripts.main} calls import(): import the module statically, in a lazily imported file`,
    );
  }
  await build({
    absWorkingDir: root,
    stdin: { contents: `export * from '${CLIENT_NODE}';`, resolveDir: root, sourcefile: 'client-node.js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node26',
    minify: true,
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: "var __importMetaUrl=require('node:url').pathToFileURL(__filename).href;" },
    outfile: scripts.clientNode,
    logLevel: 'warning',
  });
  return scripts;
}

/** The npm packages a bundle was built from. */
function packagesIn(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  return [...names].sort();
}
