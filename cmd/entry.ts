// The plugin's executable entry: bundled into dist/kubectl-remote_secret.mjs by `npm run build`.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
