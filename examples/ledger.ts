/**
 * spanledger used as a library, as a billing service would: submit payment commands, read a
 * balance, the transactions and the books, and audit. Run it against a migrated database:
 *
 *   npx spanledger dev up
 *   npx tsc examples/ledger.ts --outDir /tmp/example --module commonjs --esModuleInterop && node /tmp/example/ledger.js
 *
 * It reads the same environment as the CLI (SPANNER_EMULATOR_HOST, SPANNER_DATABASE_ID, ...).
 */
import { openLedger, parseCommand } from 'spanledger';

async function main(): Promise<void> {
  const ledger = await openLedger();
  try {
    const userId = process.env.EXAMPLE_USER ?? 'example-user';
    const deposit = {
      type: 'deposit',
      userId,
      source: 'ethereum',
      chainId: '1',
      txHash: `0x${'5c'.repeat(32)}`,
      logIndex: '0',
      blockNumber: '19000000',
      wallet: `0x${'11'.repeat(20)}`,
      tokenValue: '25000000000',
      amountMicroUsd: '50000000',
      occurredAt: '2026-03-01T09:00:00Z',
    };
    // Validate before sending, as a producer on Kafka would: the message names the field.
    const checked = parseCommand(JSON.stringify({ ...deposit, amountMicroUsd: '-1' }));
    console.log(`invalid on purpose: ${checked.ok ? 'accepted?!' : checked.message}`);

    const outcomes = await ledger.submit([
      deposit,
      { type: 'openInvoice', userId, invoiceId: 'storage-2026-02', amountMicroUsd: '20000000', occurredAt: '2026-03-02T00:00:00Z' },
      'not a command',
    ]);
    console.log(`outcomes: ${outcomes.map((outcome) => outcome.status).join(', ')}`);
    // Submitting the same command again is a harmless duplicate.
    const [again] = await ledger.submit([deposit]);
    console.log(`again: ${again!.status}`);

    const balance = await ledger.balance(userId);
    console.log(`balance: ${balance.balanceMicroUsd} µUSD (deposits ${balance.depositsMicroUsd}, bonuses ${balance.bonusesMicroUsd}, charges ${balance.chargesMicroUsd})`);
    const { transactions } = await ledger.transactions(userId);
    console.log(`transactions: ${transactions.length}`);
    const books = await ledger.accounts({ prefix: 'revenue:' });
    console.log(`revenue: ${books.accounts[0]?.balanceMicroUsd ?? '0'} µUSD`);
    const audit = await ledger.audit();
    console.log(`audit: ${audit.ok ? 'ok' : `${audit.findingCount} finding(s)`}`);
  } finally {
    await ledger.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
