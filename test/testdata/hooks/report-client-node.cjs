// Preloaded by a test (node -r): reports on stderr, at exit, whether anything resolved
// @kubernetes/client-node, through require or import.
'use strict';
let loaded = false;
require('node:module').registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === '@kubernetes/client-node' || specifier.startsWith('@kubernetes/client-node/')) loaded = true;
    return nextResolve(specifier, context);
  },
});
process.on('exit', () => {
  process.stderr.write(`\nclient-node loaded: ${String(loaded)}\n`);
});
