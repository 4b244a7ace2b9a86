// The plugin's executable entry: bundled into dist/plugin/ by `npm run build` (lazy commands become chunks).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
