import { checkThresholds } from '../ledger/core/thresholds';
import { CliError, EXIT } from './errors';

/** The bonus rate on token deposits from SPANLEDGER_BONUS_BPS (basis points, default 1000 = 10 %). */
export function bonusRateFromEnv(env: NodeJS.ProcessEnv): number {
  const text = env.SPANLEDGER_BONUS_BPS;
  if (text === undefined || text === '') return 1000;
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 10_000) {
    throw new CliError(`SPANLEDGER_BONUS_BPS must be a whole number of basis points from 0 to 10000, got ${JSON.stringify(text)}`, EXIT.invalid);
  }
  return Number(text);
}

/**
 * Balance thresholds whose crossings are recorded, from SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD:
 * comma-separated µUSD, none by default (Storj's upgrade at $10 would be 10000000).
 */
export function balanceThresholdsFromEnv(env: NodeJS.ProcessEnv): bigint[] {
  const text = (env.SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD ?? '').trim();
  if (text === '') return [];
  const parts = text.split(',').map((part) => part.trim());
  const bad = parts.find((part) => !/^[1-9][0-9]{0,18}$/.test(part));
  if (bad !== undefined) {
    throw new CliError(`SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD must be comma-separated positive amounts in micro-USD, got ${JSON.stringify(bad)}`, EXIT.invalid);
  }
  const thresholds = parts.map((part) => BigInt(part));
  try {
    return checkThresholds(thresholds).slice();
  } catch (error) {
    throw new CliError(`SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD: ${(error as Error).message}`, EXIT.invalid);
  }
}
