import { isSea } from 'node:sea';
import type { Runtime } from './version.ts';

/** The Node.js running the plugin, and whether it is the released single executable. */
export function currentRuntime(): Runtime {
  return {
    nodeVersion: process.version,
    platform: process.platform,
    arch: process.arch,
    singleExecutable: isSea(),
  };
}
