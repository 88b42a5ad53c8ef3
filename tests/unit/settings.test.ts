import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveLedgerSettings } from '../../app/settings';

/**
 * The library resolves where Spanner is from what its caller gives it and the environment,
 * never from a `.spanledger/dev.json` that happens to lie around: that file is the CLI's
 * business (`spanledger dev up`), which passes the stack in.
 */
describe('where the library finds Spanner', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-settings-'));
    // A dev stack record whose emulator "runs": this very process's pid.
    mkdirSync(path.join(dir, '.spanledger'));
    writeFileSync(path.join(dir, '.spanledger', 'dev.json'), JSON.stringify({ spanner: { host: '127.0.0.1:9', pid: process.pid }, startedAt: '2026-12-02T00:00:00Z' }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a dev.json in the state folder is not read on its own', () => {
    const env = { SPANLEDGER_STATE_DIR: path.join(dir, '.spanledger') };
    expect(resolveLedgerSettings({ env }).spanner.emulatorHost).toBeUndefined();
  });

  test('a corrupt dev.json does not break the library either', () => {
    writeFileSync(path.join(dir, '.spanledger', 'dev.json'), '{ not json');
    expect(() => resolveLedgerSettings({ env: { SPANLEDGER_STATE_DIR: path.join(dir, '.spanledger') } })).not.toThrow();
  });

  test('a local stack the caller names is used only when nothing else names an emulator', () => {
    let asked = 0;
    const localEmulatorHost = () => {
      asked++;
      return '127.0.0.1:9010';
    };
    expect(resolveLedgerSettings({ env: {}, localEmulatorHost }).spanner.emulatorHost).toBe('127.0.0.1:9010');
    expect(resolveLedgerSettings({ env: { SPANNER_EMULATOR_HOST: 'emulator:9010' }, localEmulatorHost }).spanner.emulatorHost).toBe('emulator:9010');
    expect(resolveLedgerSettings({ env: {}, emulatorHost: 'given:1', localEmulatorHost }).spanner.emulatorHost).toBe('given:1');
    expect(asked).toBe(1);
  });
});
