import { OutageObserver } from '../ledger/core/retry';
import { checkThresholds } from '../ledger/core/thresholds';
import { SpannerSettings, settingsFromEnv } from '../ledger/spanner/connection';

/**
 * Where the ledger is and how it decides, for the library and the CLI alike: explicit
 * settings first, then the environment the CLI documents (SPANNER_*, SPANLEDGER_*), then a
 * local stack's emulator when the caller names one (the CLI names the one `spanledger dev up`
 * started), then the defaults. The library never looks for a local stack on its own.
 */
export interface LedgerSettings {
  /** "host:port" of a Cloud Spanner emulator; unset: SPANNER_EMULATOR_HOST, then `localEmulatorHost`, else real Cloud Spanner. */
  readonly emulatorHost?: string;
  readonly projectId?: string;
  readonly instanceId?: string;
  readonly databaseId?: string;
  /** Bonus on token deposits in basis points (SPANLEDGER_BONUS_BPS, default 1000 = 10 %). */
  readonly bonusRateBps?: number;
  /** Balance thresholds whose crossings are recorded, in µUSD (SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD, default none). */
  readonly balanceThresholdsMicroUsd?: readonly (bigint | string)[];
  /** Commands per Spanner transaction (group commit), 1..100. */
  readonly batchSize?: number;
  /**
   * How long one call rides out Spanner not answering (unreachable, frozen, a lost commit
   * reply), retrying with jittered back-off, before it fails (default 60 000 ms; 0: at once).
   */
  readonly deadlineMs?: number;
  /** Told when Spanner stops answering during a call and when it answers again. */
  readonly onOutage?: OutageObserver;
  /** The environment to read instead of process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Asked only when neither `emulatorHost` nor SPANNER_EMULATOR_HOST names an emulator: the
   * "host:port" of a local development stack's emulator, if one runs (the CLI answers with
   * the one `spanledger dev up` started).
   */
  readonly localEmulatorHost?: () => string | undefined;
}

export interface ResolvedLedgerSettings {
  readonly spanner: SpannerSettings;
  readonly bonusRateBps: number;
  readonly balanceThresholdsMicroUsd: readonly bigint[];
  readonly batchSize?: number;
  readonly deadlineMs: number;
  readonly onOutage?: OutageObserver;
}

export const DEFAULT_DEADLINE_MS = 60_000;

/** A setting that is not one: names the variable or field and what it must be. */
export class LedgerSettingsError extends Error {
  override readonly name = 'LedgerSettingsError';
}

export function resolveSpannerSettings(
  env: NodeJS.ProcessEnv,
  overrides: Partial<Pick<SpannerSettings, 'projectId' | 'instanceId' | 'databaseId' | 'emulatorHost'>> = {},
  localEmulatorHost: () => string | undefined = () => undefined,
): SpannerSettings {
  const emulatorHost = overrides.emulatorHost ?? (env.SPANNER_EMULATOR_HOST || localEmulatorHost());
  return settingsFromEnv(env, { ...overrides, emulatorHost });
}

/** The bonus rate: a whole number of basis points from 0 to 10000. */
export function bonusRate(value: number | string | undefined, what = 'SPANLEDGER_BONUS_BPS'): number {
  if (value === undefined || value === '') return 1000;
  const text = String(value);
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 10_000) throw new LedgerSettingsError(`${what} must be a whole number of basis points from 0 to 10000, got ${JSON.stringify(value)}`);
  return Number(text);
}

/** Balance thresholds: positive amounts in µUSD, comma-separated in the environment. */
export function balanceThresholds(value: string | readonly (bigint | string)[] | undefined, what = 'SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD'): bigint[] {
  const parts = typeof value === 'string' ? (value.trim() === '' ? [] : value.split(',').map((part) => part.trim())) : (value ?? []).map((part) => String(part));
  const bad = parts.find((part) => !/^[1-9][0-9]{0,18}$/.test(part));
  if (bad !== undefined) throw new LedgerSettingsError(`${what} must be positive amounts in micro-USD${typeof value === 'string' ? ', comma-separated' : ''}, got ${JSON.stringify(bad)}`);
  try {
    return checkThresholds(parts.map((part) => BigInt(part))).slice();
  } catch (error) {
    throw new LedgerSettingsError(`${what}: ${(error as Error).message}`);
  }
}

export function resolveLedgerSettings(settings: LedgerSettings = {}): ResolvedLedgerSettings {
  const env = settings.env ?? process.env;
  return {
    spanner: resolveSpannerSettings(
      env,
      { emulatorHost: settings.emulatorHost, projectId: settings.projectId, instanceId: settings.instanceId, databaseId: settings.databaseId },
      settings.localEmulatorHost,
    ),
    bonusRateBps: settings.bonusRateBps === undefined ? bonusRate(env.SPANLEDGER_BONUS_BPS) : bonusRate(settings.bonusRateBps, 'bonusRateBps'),
    balanceThresholdsMicroUsd:
      settings.balanceThresholdsMicroUsd === undefined ? balanceThresholds(env.SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD) : balanceThresholds(settings.balanceThresholdsMicroUsd, 'balanceThresholdsMicroUsd'),
    ...(settings.batchSize === undefined ? {} : { batchSize: settings.batchSize }),
    deadlineMs: deadline(settings.deadlineMs),
    ...(settings.onOutage ? { onOutage: settings.onOutage } : {}),
  };
}

function deadline(value: number | undefined): number {
  if (value === undefined) return DEFAULT_DEADLINE_MS;
  if (!Number.isSafeInteger(value) || value < 0) throw new LedgerSettingsError(`deadlineMs must be a whole number of milliseconds, 0 or more, got ${JSON.stringify(value)}`);
  return value;
}
