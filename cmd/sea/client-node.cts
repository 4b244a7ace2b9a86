// In the single executable only (scripts/bundle-plugin.ts resolves `@kubernetes/client-node` to
// this file): client-node, bundled on its own, is an asset of the executable, compiled when a
// command first calls loadClientNode(); --help and check never pay for its 4 MB. CommonJS, because
// the bundler turns that dynamic import into a require of this module, whose exports must be
// client-node's. Its body runs on that first require, not at start-up.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS module takes its imports so */
import sea = require('node:sea');
import vm = require('node:vm');
import path = require('node:path');
/* eslint-enable @typescript-eslint/no-require-imports */

// Keep in step with CLIENT_NODE_ASSET in scripts/bundle-plugin.ts.
const ASSET = 'client-node.cjs';

const clientNode = { exports: {} as unknown };
// The executable's `require` loads built-in modules only, which is all the bundled client-node
// needs (the optional native helpers of ws are behind try/catch).
const run = vm.compileFunction(
  sea.getAsset(ASSET, 'utf8'),
  ['exports', 'require', 'module', '__filename', '__dirname'],
  { filename: path.join(process.execPath, ASSET) },
) as (...args: unknown[]) => void;
Reflect.apply(run, clientNode.exports, [
  clientNode.exports,
  require,
  clientNode,
  process.execPath,
  path.dirname(process.execPath),
]);

export = clientNode.exports;
