#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
'use strict';
try {
  require('../dist/commands/main.js').main(process.argv);
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes('dist/commands/main.js')) {
    process.stderr.write('spanledger is not built yet: run `npm run build` (npm ci does it for you).\n');
    process.exit(1);
  }
  throw error;
}
