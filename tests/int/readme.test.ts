import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/cli';

/**
 * The README's "Using it" block, run as written: each line in a shell at the repository's
 * root, in order, with nothing but a state folder of its own (so the local stack it starts
 * is this test's, and `dev down` stops it). A line that fails, or a block that no longer
 * starts and stops its stack, fails the test.
 */
jest.setTimeout(300_000);

const run = promisify(execFile);

function usingItLines(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '');
}

test('every line of "Using it" works in order, from dev up to dev down', async () => {
  const lines = usingItLines();
  expect(lines[0]).toBe('npx spanledger dev up');
  expect(lines[lines.length - 1]).toBe('npx spanledger dev down');
  const state = mkdtempSync(path.join(os.tmpdir(), 'spanledger-readme-'));
  // A shell as a reader's: no test stack in the environment, the state folder its own.
  const { SPANNER_EMULATOR_HOST: _spanner, KAFKA_BROKERS: _kafka, SPANNER_DATABASE_ID: _database, ...inherited } = process.env;
  const env = { ...inherited, SPANLEDGER_STATE_DIR: state };
  const outputs: Record<string, string> = {};
  try {
    for (const line of lines) {
      const result = await run('bash', ['-c', line], { cwd: ROOT, env, maxBuffer: 16 * 2 ** 20 }).catch((error: { code?: number; stdout?: string; stderr?: string }) => {
        throw new Error(`README line failed (exit ${error.code}): ${line}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
      outputs[line] = result.stdout;
    }
  } finally {
    await run('bash', ['-c', 'npx spanledger dev down'], { cwd: ROOT, env }).catch(() => undefined);
    rmSync(state, { recursive: true, force: true });
  }
  // The sample's user ends with $30.55: deposits 50 + 8 with the 10 % bonus, charges, an
  // adjustment, and the February invoice paid from the token balance (see examples/).
  expect(outputs['npx spanledger balance 3f1c0a2e-user']).toContain('$30.550000');
  expect(outputs['npx spanledger accounts']).toMatch(/total \$0\.000000/);
  expect(outputs['npx spanledger audit']).toContain('OK: nothing found');
});
