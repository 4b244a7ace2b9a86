// The plugin's executable entry, bundled by `npm run build` into one CommonJS file,
// dist/plugin/kubectl-remote_secret.cjs: Node loads a single CommonJS file faster than a tree of
// ES modules, and each command's code (with the built-in modules it needs) is only evaluated
// when that command runs.
import { main } from './main.ts';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // A call the command gave up on (a stopped API server) can hold its socket for a while; the
  // command is done, so the process ends soon, whatever is still open.
  setTimeout(() => process.exit(code), 200).unref();
});
