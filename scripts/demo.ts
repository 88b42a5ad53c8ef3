import { seededRandom } from './prng';
import { Kafka, logLevel } from 'kafkajs';
import { sha256Hex } from '../ledger/core/canonical';
import { formatUsd } from '../ledger/core/money';
import { connect, settingsFromEnv } from '../ledger/spanner/connection';
import { migrateAll } from '../app/migrate';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { consumeCommands, ConsumeSummary } from '../ledger/kafka/consumer';
import { publishEvents } from '../ledger/kafka/publisher';
import { readInvoices } from '../projections/spanner/view-reads';
import { rebuild } from '../projections/spanner/rebuild';
import { audit } from '../app/audit/audit';
import { verify } from '../app/audit/verify';
import { readBooks } from '../projections/spanner/books';
import { renderTable } from '../commands/io';
import { findKcat, KcatNotFoundError, startKafkaBroker, startSpannerEmulator } from '../emulator';

/**
 * `npm run demo`: the main job, end to end, on the embedded local stack.
 *
 * Starts the Spanner emulator and the kcat Kafka broker, migrates, opens last month's storage
 * invoices, feeds a realistic stream of payments through Kafka (hundreds of token deposits on
 * both chains, duplicates, a few malformed messages) that pay those invoices as they come,
 * charges cards (full, partial, pending then settled or failed),
 * replays the whole stream once more, rebuilds and verifies the projections, publishes the
 * ledger's events to Kafka, prints a summary, and stops everything it started.
 *
 * The data is generated from a fixed seed, so every run prints the same balances.
 */
const USERS = 24;
const DEPOSITS = 360;
const TOPIC = 'payments';
/** Storj upgrades a user to the paid tier once their balance reaches $10. */
const UPGRADE_THRESHOLD = 10_000_000n;
const EVENTS_TOPIC = 'ledger-events';


interface Message {
  key: string | null;
  value: string;
}

const userId = (n: number) => `user-${String(n).padStart(3, '0')}`;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 1, 9, 0, 0) + minute * 60_000 + (minute % 7) * 123_456).toISOString().replace('Z', '123Z');

/** Token deposits from both chains, with a sprinkling of exact duplicates and malformed messages. */
function paymentStream(random: () => number): Message[] {
  const messages: Message[] = [];
  for (let n = 0; n < DEPOSITS; n++) {
    const user = userId(Math.floor(random() * USERS));
    const zksync = random() < 0.35;
    const dollars = 5 + Math.floor(random() * 95);
    const micros = dollars * 1_000_000 + Math.floor(random() * 100) * 10_000;
    const deposit = {
      type: 'deposit',
      userId: user,
      source: zksync ? 'zksync' : 'ethereum',
      chainId: zksync ? 324 : 1,
      txHash: `0x${sha256Hex(`demo-tx-${n}`)}`,
      logIndex: n % 3,
      blockNumber: 19_000_000 + n * 7,
      wallet: `0x${sha256Hex(`demo-wallet-${user}`).slice(0, 40)}`,
      tokenValue: String(BigInt(micros) * 250n), // STORJ base units (8 decimals) at $0.40
      amountMicroUsd: String(micros),
      occurredAt: at(n),
    };
    messages.push({ key: user, value: JSON.stringify(deposit) });
    // Chain watchers re-deliver: about 8 % of deposits arrive twice.
    if (random() < 0.08) messages.push({ key: user, value: JSON.stringify(deposit) });
  }
  const malformed = [
    '{"type":"deposit","userId":"user-001"', // truncated
    JSON.stringify({ type: 'deposit', userId: 'user-002', amountMicroUsd: 12.5 }), // float, missing fields
    JSON.stringify({ type: 'refund', userId: 'user-003', amountMicroUsd: '100' }), // unknown type
    'not json at all',
    JSON.stringify({ type: 'charge', userId: 'user-004', invoiceId: 'inv-x', amountMicroUsd: '-5', occurredAt: at(1) }), // negative
  ];
  malformed.forEach((value, i) => messages.splice(40 + i * 60, 0, { key: null, value }));
  return messages;
}

/**
 * Last month's storage invoices, opened before this month's deposits arrive: the ledger pays
 * them from the token balance as the deposits come in, partly when a deposit is short.
 */
function storageInvoices(random: () => number): Message[] {
  const messages: Message[] = [];
  for (let n = 0; n < USERS; n += 3) {
    const user = userId(n);
    const amount = (60 + Math.floor(random() * 140)) * 1_000_000 + Math.floor(random() * 100) * 10_000 + 1;
    const invoice = { type: 'openInvoice', userId: user, invoiceId: `storage_2026_10_${user}`, amountMicroUsd: String(amount), occurredAt: at(-120 - n), description: 'storage and egress, October 2026' };
    messages.push({ key: user, value: JSON.stringify(invoice) });
  }
  return messages;
}

/** Card charges at the end of the month: full charges, partial ones, pending ones settled or failed. */
function invoiceStream(random: () => number): Message[] {
  const messages: Message[] = [];
  for (let n = 0; n < USERS; n++) {
    const user = userId(n);
    const invoiceId = `in_2026_11_${user}`;
    const kind = n % 4;
    const amount = String((20 + Math.floor(random() * 200)) * 1_000_000 + 5_000);
    const charge = { type: 'charge', userId: user, invoiceId, amountMicroUsd: amount, occurredAt: at(DEPOSITS + n) };
    if (kind === 0) messages.push({ key: user, value: JSON.stringify(charge) });
    // More than anyone holds: the partial charge takes the balance down to the last whole cent.
    if (kind === 1) messages.push({ key: user, value: JSON.stringify({ ...charge, amountMicroUsd: '5000000000', allowPartial: true }) });
    if (kind >= 2) {
      messages.push({ key: user, value: JSON.stringify({ ...charge, amountMicroUsd: '15000000', pending: true }) });
      const outcome =
        kind === 2
          ? { type: 'settleCharge', userId: user, invoiceId, occurredAt: at(DEPOSITS + USERS + n), reference: `stripe_ch_${n}` }
          : { type: 'failCharge', userId: user, invoiceId, occurredAt: at(DEPOSITS + USERS + n), reason: 'card declined' };
      messages.push({ key: user, value: JSON.stringify(outcome) });
    }
    // A full charge nobody can afford: rejected with INSUFFICIENT_FUNDS, nothing written.
    if (n % 6 === 0) {
      messages.push({ key: user, value: JSON.stringify({ ...charge, invoiceId: `${invoiceId}_extra`, amountMicroUsd: '100000000000' }) });
    }
  }
  return messages;
}

function add(total: ConsumeSummary | undefined, next: ConsumeSummary): ConsumeSummary {
  if (!total) return next;
  return {
    ...next,
    messages: total.messages + next.messages,
    accepted: total.accepted + next.accepted,
    duplicate: total.duplicate + next.duplicate,
    rejected: total.rejected + next.rejected,
    invalid: total.invalid + next.invalid,
    events: total.events + next.events,
  };
}

async function main(): Promise<void> {
  if (!findKcat()) throw new KcatNotFoundError();
  const say = (line: string) => console.log(`» ${line}`);
  say('starting the Cloud Spanner emulator and the embedded Kafka broker');
  const [emulator, broker] = await Promise.all([startSpannerEmulator(), startKafkaBroker()]);
  const connection = connect(settingsFromEnv({}, { emulatorHost: emulator.host, databaseId: 'demo' }));
  const kafka = new Kafka({ clientId: 'spanledger-demo', brokers: broker.brokers.split(','), logLevel: logLevel.NOTHING });
  try {
    say(`emulator ${emulator.host}, brokers ${broker.brokers}`);
    const migrated = await migrateAll(connection, new SpannerLedgerStore(connection));
    say(`database migrated to schema version ${migrated.schemaVersion}`);
    const store = new SpannerLedgerStore(connection);
    const random = seededRandom(20261127);
    const storage = storageInvoices(random);
    const payments = paymentStream(random);
    const invoices = invoiceStream(random);

    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const produce = async (messages: Message[]) => {
      for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: TOPIC, acks: -1, messages: messages.slice(i, i + 500) });
    };
    const consume = () =>
      consumeCommands(kafka, store, {
        topic: TOPIC,
        group: 'spanledger-demo',
        untilIdle: true,
        idempotentProducer: false,
        sessionTimeoutMs: 10_000,
        bonusRateBps: 1000,
        balanceThresholdsMicroUsd: [UPGRADE_THRESHOLD],
        log: () => undefined,
      });

    let summary: ConsumeSummary | undefined;
    say(`producing ${storage.length} storage invoices of last month, to be paid from the token balance`);
    await produce(storage);
    summary = add(summary, await consume());
    say(`producing ${payments.length} payment messages (deposits on ethereum and zksync, re-deliveries, malformed ones)`);
    await produce(payments);
    summary = add(summary, await consume());
    say(`producing ${invoices.length} card charge messages (full, partial, pending then settled or failed)`);
    await produce(invoices);
    summary = add(summary, await consume());
    say('replaying the whole stream once more');
    await produce([...storage, ...payments, ...invoices]);
    const replay = await consume();
    summary = add(summary, replay);
    await producer.disconnect();
    say(`replay: ${replay.accepted} accepted (must be 0), ${replay.duplicate} duplicates, ${replay.invalid} dead-lettered again`);

    say('rebuilding the projections from the log and verifying them');
    const rebuilt = await rebuild(connection, store);
    const verified = await verify(connection, store);
    say(`rebuilt ${rebuilt.projections.map((p) => `${p.projection} → generation ${p.generation}`).join(', ')} from ${rebuilt.events} events; verify: ${verified.ok ? 'views equal the log' : `${verified.differenceCount} differences`}`);

    say('auditing the ledger at one read timestamp: postings, books, accounts, views, hash chains');
    const audited = await audit(connection, store);
    say(`audit: ${audited.ok ? 'nothing found' : `${audited.findingCount} finding(s), the first: ${audited.findings[0]?.detail}`} in ${audited.events} events of ${audited.streams} streams`);

    say(`publishing the ledger's events to "${EVENTS_TOPIC}"`);
    const published = await publishEvents(kafka, store, connection, { topic: EVENTS_TOPIC, untilIdle: true, pollMs: 100, idempotentProducer: false });

    const balances = [];
    for (let n = 0; n < USERS; n++) {
      const account = await store.readAccount(userId(n));
      if (account) balances.push(account);
    }
    console.log('');
    console.log(
      renderTable(
        ['user', 'balance', 'deposits', 'bonuses', 'charges', 'pending', 'events'],
        balances.map((a) => [a.userId, formatUsd(a.balanceMicroUsd), formatUsd(a.depositsMicroUsd), formatUsd(a.bonusesMicroUsd), formatUsd(-a.chargesMicroUsd), formatUsd(-a.pendingMicroUsd), String(a.version)]),
        new Set([1, 2, 3, 4, 5, 6]),
      ),
    );
    console.log('');
    const storageRows = [];
    for (let n = 0; n < USERS; n += 3) storageRows.push(...(await readInvoices(connection, userId(n))).rows);
    console.log(
      renderTable(
        ['invoice', 'amount', 'paid', 'payments', 'status'],
        storageRows.map((row) => [row.invoiceId, formatUsd(row.amountMicroUsd), formatUsd(row.paidMicroUsd), String(row.payments.length), row.status]),
        new Set([1, 2, 3]),
      ),
    );
    // The books: system accounts one by one, the users' accounts summed.
    const system: string[][] = [];
    let usersTotal = 0n;
    const books = await readBooks(connection, store, {}, (account) => {
      const balance = account.creditsMicroUsd - account.debitsMicroUsd;
      if (account.account.startsWith('user:')) usersTotal += balance;
      else system.push([account.account, formatUsd(account.debitsMicroUsd), formatUsd(account.creditsMicroUsd), formatUsd(balance)]);
    });
    console.log('');
    console.log(renderTable(['account', 'debits', 'credits', 'balance'], [...system, ['user:* (all users)', '', '', formatUsd(usersTotal)]], new Set([1, 2, 3])));
    let upgraded = 0;
    for (let position = null as Parameters<typeof store.readAll>[0]; ; ) {
      const page = await store.readAll(position, 1000);
      if (page.events.length === 0) break;
      upgraded += page.events.filter((event) => event.type === 'BalanceThresholdCrossed' && event.payload.direction === 'up').length;
      position = page.position;
    }
    const total = balances.reduce((sum, a) => sum + a.balanceMicroUsd, 0n);
    console.log('');
    console.log(`messages consumed   ${summary.messages}`);
    console.log(`accepted            ${summary.accepted}`);
    console.log(`duplicate           ${summary.duplicate}`);
    console.log(`rejected            ${summary.rejected}`);
    console.log(`dead-lettered       ${summary.invalid}`);
    console.log(`events in the log   ${rebuilt.events}`);
    console.log(`events published    ${published.published}`);
    console.log(`invoices paid       ${storageRows.filter((row) => row.status === 'paid').length} of ${storageRows.length}, in ${storageRows.reduce((sum, row) => sum + row.payments.length, 0)} payments from deposits`);
    console.log(`crossed $10 (up)    ${upgraded} (Storj's upgrade to the paid tier)`);
    console.log(`total balance       ${formatUsd(total)}`);
    console.log(`books total         ${formatUsd(books.totalMicroUsd)} (all accounts sum to zero)`);
    console.log(`projections verify  ${verified.ok ? 'OK' : 'MISMATCH'}`);
    console.log(`audit               ${audited.ok ? 'OK' : `${audited.findingCount} FINDING(S)`}`);
    if (!verified.ok || !audited.ok || books.totalMicroUsd !== 0n || replay.accepted !== 0) process.exitCode = 1;
  } finally {
    await connection.close().catch(() => undefined);
    await Promise.all([broker.stop(), emulator.stop()]);
    say('stopped the emulator and the broker');
  }
}

main().catch((error) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
