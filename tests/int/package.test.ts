import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/cli';
import { emulatorHost, freshConnection } from '../support/spanner';

/**
 * spanledger as a user gets it: `npm pack`, installed from the tarball into an empty project.
 * The packaged example compiles there with TypeScript against the packaged types, runs
 * against the emulator, the ES module entry imports, and the bin answers. A file missing
 * from `files`, a type that does not resolve or an export the ESM entry forgets fails here.
 */
jest.setTimeout(300_000);

const run = promisify(execFile);
let project: string;

beforeAll(async () => {
  project = mkdtempSync(path.join(os.tmpdir(), 'spanledger-package-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: ROOT, maxBuffer: 64 * 2 ** 20 });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'billing-service', private: true, version: '1.0.0' }));
  // Dependencies come from the npm cache that `npm ci` filled; the registry only when missing.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(project, filename)], { cwd: project, maxBuffer: 64 * 2 ** 20 });
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

test('the packaged example compiles against the packaged types and runs on a migrated database', async () => {
  const installed = path.join(project, 'node_modules', 'spanledger');
  cpSync(path.join(installed, 'examples', 'ledger.ts'), path.join(project, 'ledger.ts'));
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, 'ledger.ts', '--strict', '--target', 'es2022', '--module', 'node16', '--moduleResolution', 'node16', '--outDir', 'out', '--skipLibCheck'], { cwd: project }).catch(
    (error: { stdout?: string }) => {
      throw new Error(`the example does not compile against the package:\n${error.stdout ?? ''}`);
    },
  );
  const connection = await freshConnection('pkg');
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SPANNER_EMULATOR_HOST: emulatorHost(), SPANNER_DATABASE_ID: connection.settings.databaseId };
  await connection.close();
  const { stdout } = await run(process.execPath, ['out/ledger.js'], { cwd: project, env });
  expect(stdout).toContain('invalid on purpose: amountMicroUsd');
  expect(stdout).toContain('outcomes: accepted, accepted, invalid');
  expect(stdout).toContain('again: duplicate');
  // 50 + 5 bonus, less the 20 invoice it paid at once.
  expect(stdout).toContain('balance: 35000000 µUSD (deposits 50000000, bonuses 5000000, charges -20000000)');
  expect(stdout).toContain('revenue: 20000000 µUSD');
  expect(stdout).toContain('audit: ok');
});

test('the ES module entry exports what the CommonJS one does', async () => {
  const script = `
    import * as esm from 'spanledger';
    import { createRequire } from 'node:module';
    const cjs = createRequire(import.meta.url)('spanledger');
    const missing = Object.keys(cjs).filter((name) => !(name in esm) && name !== '__esModule');
    console.log(JSON.stringify({ missing, parse: esm.parseCommand('{}').ok, schema: esm.commandsJsonSchema().$schema }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project });
  expect(JSON.parse(stdout)).toEqual({ missing: [], parse: false, schema: 'https://json-schema.org/draft/2020-12/schema' });
});

test('the installed bin runs, at the package version', async () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const { stdout } = await run(path.join(project, 'node_modules', '.bin', 'spanledger'), ['--version'], { cwd: project });
  expect(stdout.trim()).toBe(version);
});
