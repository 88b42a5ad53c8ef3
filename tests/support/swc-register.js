'use strict';
/**
 * Lets a plain `node` child process run the TypeScript sources directly:
 *   node -r ./tests/support/swc-register.js some-script.ts
 * Tests use it for child processes (a parent that gets SIGKILLed, a CLI run) without
 * depending on a possibly stale dist/. Same compiler and target as jest's @swc/jest.
 */
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
