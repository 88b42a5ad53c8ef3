import { Database, Instance, Spanner } from '@google-cloud/spanner';
import { grpc } from 'google-gax';
import { LIMITS } from '../core/limits';

/**
 * How to reach Spanner. With an emulator host the client talks plain gRPC to the local
 * Cloud Spanner emulator; without one it talks to real Cloud Spanner with
 * application-default credentials.
 */
export interface SpannerSettings {
  readonly projectId: string;
  readonly instanceId: string;
  readonly databaseId: string;
  /** "host:port" of a Cloud Spanner emulator, or undefined for real Cloud Spanner. */
  readonly emulatorHost: string | undefined;
  /**
   * How long one call (a read, a query, a commit, a transaction attempt) may go without an
   * answer before it fails as DEADLINE_EXCEEDED (SPANLEDGER_SPANNER_CALL_DEADLINE_MS, default
   * 20 000). A caller that rides out outages then retries; the others report it.
   */
  readonly callDeadlineMs?: number;
}

/** The call deadline of a connection's settings. */
export function callDeadlineMs(settings: SpannerSettings): number {
  return settings.callDeadlineMs ?? LIMITS.spannerCallDeadlineMs;
}

function callDeadlineFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.SPANLEDGER_SPANNER_CALL_DEADLINE_MS;
  if (text === undefined || text === '') return undefined;
  if (!/^[1-9][0-9]{2,6}$/.test(text)) throw new RangeError(`SPANLEDGER_SPANNER_CALL_DEADLINE_MS must be a whole number of milliseconds from 100 to 9999999, got ${JSON.stringify(text)}`);
  return Number(text);
}

const CLOSE_GRACE_MS = 3_000;

export const DEFAULT_SETTINGS = { projectId: 'local-project', instanceId: 'local-instance', databaseId: 'ledger' } as const;

export function settingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Pick<SpannerSettings, 'projectId' | 'instanceId' | 'databaseId' | 'emulatorHost'>> = {},
): SpannerSettings {
  return {
    projectId: overrides.projectId ?? env.SPANNER_PROJECT_ID ?? DEFAULT_SETTINGS.projectId,
    instanceId: overrides.instanceId ?? env.SPANNER_INSTANCE_ID ?? DEFAULT_SETTINGS.instanceId,
    databaseId: overrides.databaseId ?? env.SPANNER_DATABASE_ID ?? DEFAULT_SETTINGS.databaseId,
    emulatorHost: overrides.emulatorHost ?? (env.SPANNER_EMULATOR_HOST || undefined),
    ...(callDeadlineFromEnv(env) === undefined ? {} : { callDeadlineMs: callDeadlineFromEnv(env) }),
  };
}

/**
 * Per-call options for reads and queries: a deadline always. Against the emulator the client silently re-sends a failing
 * query or DML statement (nodejs-spanner issue 2014), so an error takes ~7 s to surface;
 * turning request retries off makes it surface at once. ABORTED transactions are still
 * retried by the transaction runner, which is what we want.
 */
export interface QueryCallOptions {
  gaxOptions: { timeout: number; retryRequestOptions?: { retries: number; noResponseRetries: number } };
}

export interface SpannerConnection {
  readonly settings: SpannerSettings;
  readonly spanner: Spanner;
  readonly instance: Instance;
  readonly database: Database;
  readonly queryOptions: QueryCallOptions;
  close(): Promise<void>;
}

function parseHost(host: string): { servicePath: string; port: number } {
  const match = /^([^:/]+|\[[^\]]+\]):(\d+)$/.exec(host);
  if (!match) throw new Error(`SPANNER_EMULATOR_HOST must be host:port, got ${JSON.stringify(host)}`);
  return { servicePath: match[1]!, port: Number(match[2]) };
}

/**
 * The emulator (1.5.28) does not implement multiplexed sessions, which the 8.x client uses
 * by default: every read-write transaction would end in "ReleaseError: Unable to release
 * unknown resource". The client reads these switches when a Database is created, so they
 * are set here, in this process, only for emulator connections, never in the user's shell.
 */
function configureClientForEmulator(): void {
  process.env.GOOGLE_CLOUD_SPANNER_MULTIPLEXED_SESSIONS = 'false';
  process.env.GOOGLE_CLOUD_SPANNER_MULTIPLEXED_SESSIONS_FOR_RW = 'false';
  process.env.GOOGLE_CLOUD_SPANNER_MULTIPLEXED_SESSIONS_PARTITIONED_OPS = 'false';
  // No credentials are needed for the emulator: stop google-auth probing for a GCE
  // metadata server, which only prints MetadataLookupWarning noise on a laptop.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
}

/**
 * The client lets SPANNER_EMULATOR_HOST override the endpoint it is given. Make the variable
 * agree with the settings while the client is built, so a connection always goes where its
 * settings say (tests run several emulators from one process; settings may name none).
 */
function whileEmulatorHostIs<T>(host: string | undefined, build: () => T): T {
  const previous = process.env.SPANNER_EMULATOR_HOST;
  if (host === undefined) delete process.env.SPANNER_EMULATOR_HOST;
  else process.env.SPANNER_EMULATOR_HOST = host;
  try {
    return build();
  } finally {
    if (previous === undefined) delete process.env.SPANNER_EMULATOR_HOST;
    else process.env.SPANNER_EMULATOR_HOST = previous;
  }
}

export function connect(settings: SpannerSettings): SpannerConnection {
  let spanner: Spanner;
  // Every read and query carries a deadline (see callDeadlineMs).
  const timeout = callDeadlineMs(settings);
  let queryOptions: QueryCallOptions = { gaxOptions: { timeout } };
  if (settings.emulatorHost) {
    configureClientForEmulator();
    spanner = whileEmulatorHostIs(settings.emulatorHost, () => new Spanner({ projectId: settings.projectId, ...parseHost(settings.emulatorHost!), sslCreds: grpc.credentials.createInsecure() }));
    queryOptions = { gaxOptions: { timeout, retryRequestOptions: { retries: 0, noResponseRetries: 0 } } };
  } else {
    spanner = whileEmulatorHostIs(undefined, () => new Spanner({ projectId: settings.projectId }));
  }
  const instance = spanner.instance(settings.instanceId);
  const database = instance.database(settings.databaseId, { min: 1, max: 32 });
  // The session pool reports background failures (e.g. Spanner unreachable while it creates
  // sessions) as 'error' events; unhandled, they would crash the process after the caller
  // already got the same failure from its own request.
  database.on('error', () => undefined);
  let closed = false;
  return {
    settings,
    spanner,
    instance,
    database,
    queryOptions,
    async close() {
      if (closed) return;
      closed = true;
      // Closing deletes the pooled sessions on the server; when the server is gone that
      // would wait on retries, so give it a few seconds and let the process move on.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([database.close().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      spanner.close();
    },
  };
}

export function describeTarget(settings: SpannerSettings): string {
  const where = settings.emulatorHost ? `emulator ${settings.emulatorHost}` : 'Cloud Spanner';
  return `projects/${settings.projectId}/instances/${settings.instanceId}/databases/${settings.databaseId} on ${where}`;
}
