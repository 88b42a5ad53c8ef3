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
