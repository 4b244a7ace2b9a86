#!/usr/bin/env node
// Entry point of the plugin when run from a checkout (after `npm run build`).
import module from 'node:module';

module.enableCompileCache?.();
const { main } = await import('../dist/cmd/main.js');
process.exitCode = await main(process.argv.slice(2));
