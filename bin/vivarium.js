#!/usr/bin/env node
// The `vivarium` binary: a shim over the compiled CLI (`npm run build` writes dist/).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (error) {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli/main.js')) {
    process.stderr.write('vivarium: the CLI is not built; run `npm run build` first\n');
    process.exit(70);
  }
  throw error;
}
process.exitCode = await cli.main(process.argv);
