// `npm run bundle` (part of `npm run build`): dist/plugin/kubectl-remote_secret.cjs, with the
// version and git commit baked in.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitCommit, projectVersion } from './build-info.ts';
import { bundlePluginForNode } from './bundle-plugin.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
await bundlePluginForNode(root, join(root, 'dist/plugin/kubectl-remote_secret.cjs'), {
  version: projectVersion(root),
  commit: gitCommit(root),
});
