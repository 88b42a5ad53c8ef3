import fc from 'fast-check';
import { InMemoryLedgerStore } from '../../ledger/memory/store';
import { scenarioArb } from '../model/generators';
import { checkLogAgainstModel, readRunEvents, runScenario } from '../model/harness';

/**
 * Model-based test: random command sequences through the real CommandHandler (in-memory
 * store, random batch sizes) and through a naive reference model (tests/model), checked
 * command by command and batch by batch; then the pure view folds of the log against the model.
 *
 * Replay a failure: MODEL_SEED=<seed> [MODEL_PATH=<path>] npx jest --selectProjects unit tests/unit/model.test.ts
 * Show that a broken rule is caught (the model alone is wrong; the property must fail and shrink):
 *   MODEL_BREAK=bonus              the model uses bonus rate 900 bps instead of 1000
 *   MODEL_BREAK=partial-rounding   the model's partial charges take the whole balance, not whole cents
 *   MODEL_BREAK=charge-idempotency the model skips the idempotency check for charges
 *   MODEL_BREAK=invoice-order      the model pays open invoices newest first
 *   MODEL_BREAK=payment-date       the model dates payments at the command that triggers them
 */
const SEED = Number(process.env.MODEL_SEED ?? 20260301);
const RUNS = Number(process.env.MODEL_RUNS ?? 100);
const BONUS_RATE_BPS = 1000;
const MODEL_BONUS_RATE_BPS = process.env.MODEL_BREAK === 'bonus' ? 900 : BONUS_RATE_BPS;
const BREAKABLE = ['partial-rounding', 'charge-idempotency', 'invoice-order', 'payment-date'] as const;
const MODEL_BROKEN = BREAKABLE.find((rule) => rule === process.env.MODEL_BREAK);
/** Storj's upgrade at $10, and one more: deposits in the generator reach both. */
const THRESHOLDS = [10_000_000n, 30_000_000n];

describe('ledger vs reference model (in-memory store)', () => {
  test(`${RUNS} random sequences of up to 60 commands agree with the model (seed ${SEED})`, async () => {
    const statuses = new Map<string, number>();
    const detail = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(scenarioArb(60), async (scenario) => {
        const store = new InMemoryLedgerStore();
        const run = await runScenario(store, scenario, { tag: '' }, {
          bonusRateBps: BONUS_RATE_BPS,
          modelBonusRateBps: MODEL_BONUS_RATE_BPS,
          thresholds: THRESHOLDS,
          ...(MODEL_BROKEN ? { modelBroken: MODEL_BROKEN } : {}),
        });
        const events = await readRunEvents(store, run.users);
        checkLogAgainstModel(run, events);
        for (const [i, outcome] of run.outcomes.entries()) {
          const key = outcome.code ?? outcome.status;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          const type = /"type":"(\w+)"/.exec(run.texts[i]!)?.[1] ?? '?';
          detail.set(`${type} ${key}`, (detail.get(`${type} ${key}`) ?? 0) + 1);
        }
        for (const event of events) {
          if (event.type === 'InvoicePaymentMade') detail.set(event.payload.remainingMicroUsd === '0' ? 'payment (paid)' : 'payment (partial)', (detail.get(event.payload.remainingMicroUsd === '0' ? 'payment (paid)' : 'payment (partial)') ?? 0) + 1);
          const kind = event.type === 'InvoiceCharged' ? `${event.type}${event.payload.pending ? ' pending' : ''}${event.payload.chargedMicroUsd !== event.payload.amountMicroUsd ? ' partial' : ''}` : event.type;
          detail.set(kind, (detail.get(kind) ?? 0) + 1);
        }
      }),
      {
        numRuns: RUNS,
        seed: SEED,
        endOnFailure: false,
        ...(process.env.MODEL_PATH ? { path: process.env.MODEL_PATH } : {}),
      },
    );
    // The generator must actually reach every outcome (or the property proves little).
    const seen = Object.fromEntries([...statuses].sort());
    for (const key of ['accepted', 'duplicate', 'INVALID_COMMAND', 'INSUFFICIENT_FUNDS', 'IDEMPOTENCY_CONFLICT', 'CHARGE_NOT_FOUND', 'CHARGE_NOT_PENDING', 'AMOUNT_OVERFLOW', 'INVOICE_EXISTS', 'INVOICE_NOT_FOUND', 'INVOICE_NOT_OPEN', 'OCCURRED_BEFORE_CAUSE']) {
      if (!(key in seen)) throw new Error(`no ${key} outcome in ${RUNS} runs: ${JSON.stringify(seen)}`);
    }
    // And the invoice rules were exercised: partial payments, full ones, crossings both ways.
    for (const kind of ['payment (paid)', 'payment (partial)', 'BalanceThresholdCrossed', 'InvoiceVoided']) {
      if (!detail.has(kind)) throw new Error(`no ${kind} in ${RUNS} runs: ${JSON.stringify(Object.fromEntries(detail))}`);
    }
    if (process.env.MODEL_STATS) {
      process.stdout.write(`outcomes over ${RUNS} runs: ${JSON.stringify(seen)}\n${JSON.stringify(Object.fromEntries([...detail].sort()), null, 1)}\n`);
    }
  });
});
