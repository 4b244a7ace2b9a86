// The webhook's executable entry: bundled into dist/remote-secret-webhook.mjs by `npm run build`.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
