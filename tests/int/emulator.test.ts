/**
 * The local-stack lifecycle: the Spanner emulator and the kcat broker start, answer, stop,
 * and never outlive the process that started them, however it dies.
 */
import { ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Spanner } from '@google-cloud/spanner';
import { grpc } from 'google-gax';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import {
  clearDevState,
  DevStateError,
  EmulatorNotFoundError,
  findEmulatorBinDir,
  findKcat,
  isAlive,
  PortInUseError,
  readDevState,
  startKafkaBroker,
  startSpannerEmulator,
  StartupError,
  stopProcessGroup,
  writeDevState,
} from '../../emulator';
import { waitUntil } from '../../emulator/process';
import { canConnect } from '../../ledger/observability/tcp-probe';

const SWC_REGISTER = path.join(__dirname, '../support/swc-register.js');
const CHILD_SCRIPT = path.join(__dirname, '../support/fixtures/start-local-stack.ts');

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-emulator-test-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A fake `emulator_main` (a shell script) in a fresh folder; returns the folder. */
function fakeEmulatorDir(script: string, mode = 0o755): string {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'emulator_main'), `#!/bin/sh\n${script}\n`);
  chmodSync(path.join(dir, 'emulator_main'), mode);
  return dir;
}

function hostPort(address: string): { host: string; port: number } {
  const [host = '', port = ''] = address.split(':');
  return { host, port: Number(port) };
}

/**
 * Pids of live watchdog shells started by `parentPid` (for child `childPid`, if given), from
 * /proc. Counted as present/absent only: a child the shell just forked for `sleep` shows
 * the shell's command line until it execs.
 */
function watchdogsOf(parentPid: number, childPid?: number): number[] {
  const marker = `spanledger-watchdog\0${parentPid}\0${childPid === undefined ? '' : `${childPid}\0`}`;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number)
    .filter(isAlive);
}

describe('findEmulatorBinDir', () => {
  it('explains how to install the emulator when no location has it', () => {
    const env = { SPANNER_EMULATOR_BIN_DIR: '/nonexistent/emulator', HOME: tempDir() };
    let error: unknown;
    try {
      findEmulatorBinDir(env, []);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EmulatorNotFoundError);
    const message = (error as Error).message;
    expect(message).toContain('/nonexistent/emulator');
    expect(message).toContain(path.join(env.HOME, 'google-cloud-sdk/bin/cloud_spanner_emulator'));
    expect(message).toContain('gcloud components install cloud-spanner-emulator');
    expect(message).toContain('google-cloud-cli-spanner-emulator');
    expect(message).toContain('gcr.io/cloud-spanner-emulator/emulator');
    expect(message).toContain('SPANNER_EMULATOR_BIN_DIR');
    expect(message).toContain('SPANNER_EMULATOR_HOST');
  });

  it('takes SPANNER_EMULATOR_BIN_DIR first, and only with an executable emulator_main', () => {
    const good = fakeEmulatorDir('exit 0');
    const notExecutable = fakeEmulatorDir('exit 0', 0o644);
    expect(findEmulatorBinDir({ SPANNER_EMULATOR_BIN_DIR: good, HOME: tempDir() }, ['/nonexistent'])).toBe(good);
    expect(findEmulatorBinDir({ SPANNER_EMULATOR_BIN_DIR: notExecutable, HOME: tempDir() }, [good])).toBe(good);
    expect(() => findEmulatorBinDir({ SPANNER_EMULATOR_BIN_DIR: notExecutable, HOME: tempDir() }, [])).toThrow(EmulatorNotFoundError);
  });

  it('finds the gcloud SDK under HOME', () => {
    const home = tempDir();
    const sdk = path.join(home, 'google-cloud-sdk/bin/cloud_spanner_emulator');
    const fake = fakeEmulatorDir('exit 0');
    mkdirSync(path.dirname(sdk), { recursive: true });
    symlinkSync(fake, sdk);
    expect(findEmulatorBinDir({ HOME: home }, [])).toBe(sdk);
  });
});

describe('startSpannerEmulator', () => {
  it('starts an emulator that serves gRPC, and stop() leaves no process behind', async () => {
    const emulator = await startSpannerEmulator();
    try {
      expect(emulator.host).toMatch(/^127\.0\.0\.1:\d+$/);
      const { port } = hostPort(emulator.host);
      expect(await canConnect('127.0.0.1', port)).toBe(true);
      const spanner = new Spanner({ projectId: 'emulator-test', servicePath: '127.0.0.1', port, sslCreds: grpc.credentials.createInsecure() });
      try {
        const [configs] = await spanner.getInstanceConfigs();
        expect(configs.map((config) => config.name)).toContain('projects/emulator-test/instanceConfigs/emulator-config');
      } finally {
        spanner.close();
      }
      expect(watchdogsOf(process.pid, emulator.pid)).not.toHaveLength(0);
    } finally {
      await emulator.stop();
    }
    expect(existsSync(`/proc/${emulator.pid}`)).toBe(false);
    expect(await canConnect('127.0.0.1', hostPort(emulator.host).port)).toBe(false);
    expect(await waitUntil(() => watchdogsOf(process.pid, emulator.pid).length === 0, 2_000)).toBe(true);
    await expect(emulator.stop()).resolves.toBeUndefined(); // idempotent
  });

  it('reports an emulator that exits at start with its output', async () => {
    const binDir = fakeEmulatorDir('echo "bad flag: $*" >&2; exit 3');
    const failure = startSpannerEmulator({ binDir });
    await expect(failure).rejects.toThrow(StartupError);
    await expect(failure).rejects.toThrow(/exited with code 3[\s\S]*bad flag: --host_port 127\.0\.0\.1:\d+/);
  });

  it('says how to install the emulator when binDir has none', async () => {
    await expect(startSpannerEmulator({ binDir: tempDir() })).rejects.toThrow(EmulatorNotFoundError);
  });

  it('reports a port that is taken when the port was given', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await expect(startSpannerEmulator({ port })).rejects.toThrow(/Failed to bind to address: 127\.0\.0\.1:\d+/);
    } finally {
      server.close();
    }
  });

  it('refuses to share a port with another emulator (gRPC binds with SO_REUSEPORT, so binding does not fail)', async () => {
    const first = await startSpannerEmulator();
    try {
      const { port } = hostPort(first.host);
      await expect(startSpannerEmulator({ port })).rejects.toThrow(PortInUseError);
      expect(isAlive(first.pid)).toBe(true);
    } finally {
      await first.stop();
    }
  });

  it('writes its output to logFile', async () => {
    const logFile = path.join(tempDir(), 'emulator.log');
    const emulator = await startSpannerEmulator({ logFile });
    await emulator.stop();
    expect(readFileSync(logFile, 'utf8')).toContain(`Server address: ${emulator.host}`);
  });
});

describe('startKafkaBroker', () => {
  it('finds kcat through KCAT_BIN or PATH, and nowhere else', () => {
    expect(findKcat({ KCAT_BIN: '/nonexistent/kcat', PATH: process.env.PATH })).toBeUndefined();
    expect(findKcat({ PATH: tempDir() })).toBeUndefined();
    expect(findKcat({ PATH: process.env.PATH })).toMatch(/\/kcat$/);
  });

  it('runs a broker that kafkajs can produce to and consume from, and stop() leaves no process', async () => {
    const broker = await startKafkaBroker();
    try {
      expect(broker.brokers).toMatch(/^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
      await expect(roundTrip(broker.brokers)).resolves.toEqual({ key: 'k1', value: 'hello ledger' });
    } finally {
      await broker.stop();
    }
    expect(existsSync(`/proc/${broker.pid}`)).toBe(false);
  });
});

/** Produces one message to a fresh, auto-created topic and reads it back. */
async function roundTrip(brokers: string): Promise<{ key: string; value: string }> {
  const kafka = new Kafka({ clientId: 'emulator-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const topic = `roundtrip-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
  // A short fetch wait: disconnect() waits for the fetch in flight (5 s by default).
  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  try {
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k1', value: 'hello ledger' }] });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise((resolve, reject) => {
      consumer
        .run({ eachMessage: async ({ message }) => resolve({ key: String(message.key), value: String(message.value) }) })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

// ---------------------------------------------------------------------------------------
// A parent process that starts the emulator or broker through the real module, then dies.

interface StartedChild {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The emulator's or broker's pid (its process group). */
  pid: number;
  address: string;
}

function startParent(which: 'spanner' | 'kafka', detached = false): Promise<StartedChild> {
  const child = spawn(process.execPath, ['-r', SWC_REGISTER, CHILD_SCRIPT, which, ...(detached ? ['--detached'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || !line) return;
      try {
        resolve({ child, exited, ...(JSON.parse(line) as { pid: number; address: string }) });
      } catch (error) {
        child.kill('SIGKILL');
        reject(new Error(`parent process printed ${JSON.stringify(line)}: ${String(error)}`));
      }
    });
    void exited.then(({ code }) => reject(new Error(`parent process exited (${code}) before starting: ${stderr}`)));
  });
}

describe.each(['spanner', 'kafka'] as const)('no orphan %s process', (which) => {
  // A failed assertion must not leave the parent idling (jest would never exit) or its child running.
  const strays: StartedChild[] = [];
  afterEach(async () => {
    const parents = strays.splice(0);
    parents.forEach(({ child }) => child.kill('SIGKILL'));
    await Promise.all(parents.map(({ pid }) => stopProcessGroup(pid)));
  });

  async function started(detached = false): Promise<StartedChild> {
    const parent = await startParent(which, detached);
    strays.push(parent);
    expect(isAlive(parent.pid)).toBe(true);
    return parent;
  }

  it('dies within 5 s when its parent is SIGKILLed, and so does the watchdog', async () => {
    const parent = await started();
    expect(watchdogsOf(parent.child.pid ?? -1)).not.toHaveLength(0);
    parent.child.kill('SIGKILL');
    await parent.exited;
    expect(await waitUntil(() => !isAlive(parent.pid), 5_000)).toBe(true);
    const { host, port } = hostPort(parent.address.split(',')[0] ?? '');
    expect(await canConnect(host, port)).toBe(false);
    // The watchdog waits 2 s after its SIGTERM before the follow-up SIGKILL, then leaves.
    expect(await waitUntil(() => watchdogsOf(parent.child.pid ?? -1).length === 0, 5_000)).toBe(true);
  });

  it('dies with its parent on SIGTERM, and the parent still dies of the signal', async () => {
    const parent = await started();
    parent.child.kill('SIGTERM');
    expect(await parent.exited).toEqual({ code: null, signal: 'SIGTERM' });
    // The parent's SIGTERM handler killed the group on its way out (the watchdog would too,
    // within its 0.5 s poll; both paths are quick).
    expect(await waitUntil(() => !isAlive(parent.pid), 2_000)).toBe(true);
  });

  it('outlives its parent when detached, until stopProcessGroup stops it', async () => {
    const parent = await started(true);
    expect(await parent.exited).toEqual({ code: 0, signal: null });
    expect(isAlive(parent.pid)).toBe(true);
    // Without a logFile its output went to a temp file that was unlinked once it started.
    expect(readlinkSync(`/proc/${parent.pid}/fd/2`)).toMatch(/spanledger-log-.*\(deleted\)$/);
    const { host, port } = hostPort(parent.address.split(',')[0] ?? '');
    expect(await canConnect(host, port)).toBe(true);
    expect(await stopProcessGroup(parent.pid)).toBe(true);
    expect(isAlive(parent.pid)).toBe(false);
    expect(await stopProcessGroup(parent.pid)).toBe(false);
  });
});

describe('dev state', () => {
  it('round-trips, rejects a corrupt file, and clears', () => {
    const dir = path.join(tempDir(), '.spanledger');
    expect(readDevState(dir)).toBeUndefined();
    const state = {
      spanner: { host: '127.0.0.1:9010', pid: 1234 },
      kafka: { brokers: '127.0.0.1:1,127.0.0.1:2', pid: 1235 },
      startedAt: '2025-01-01T00:00:00.000Z',
    };
    writeDevState(state, dir);
    expect(readDevState(dir)).toEqual(state);
    writeFileSync(path.join(dir, 'dev.json'), '{"startedAt": 5}');
    expect(() => readDevState(dir)).toThrow(DevStateError);
    clearDevState(dir);
    expect(readDevState(dir)).toBeUndefined();
    clearDevState(dir); // clearing twice is fine
  });

  it('lives in SPANLEDGER_STATE_DIR when set', () => {
    const dir = tempDir();
    const previous = process.env.SPANLEDGER_STATE_DIR;
    process.env.SPANLEDGER_STATE_DIR = dir;
    try {
      writeDevState({ startedAt: 'now' });
      expect(JSON.parse(readFileSync(path.join(dir, 'dev.json'), 'utf8'))).toEqual({ startedAt: 'now' });
      expect(readDevState()).toEqual({ startedAt: 'now' });
    } finally {
      if (previous === undefined) delete process.env.SPANLEDGER_STATE_DIR;
      else process.env.SPANLEDGER_STATE_DIR = previous;
    }
  });
});
