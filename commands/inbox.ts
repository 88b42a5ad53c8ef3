import { explainSpannerError, ConnectionFlags, openConnection, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';

export interface InboxFlags extends ConnectionFlags {
  readonly group?: string;
  readonly topic?: string;
  readonly json?: boolean;
}

/** `spanledger inbox list`: the consumer positions kept in Spanner, per group, topic and partition. */
export async function inboxList(io: CliIo, flags: InboxFlags): Promise<ExitCode> {
  const { listInbox } = await import('../ledger/kafka/inbox-admin');
  const connection = openConnection(io, flags);
  try {
    const rows = await listInbox(connection, { group: flags.group, topic: flags.topic });
    if (flags.json) writeLine(io.stdout, JSON.stringify({ inbox: rows }));
    else if (rows.length === 0) writeLine(io.stdout, 'no inbox rows: no consumer has committed in this database');
    else {
      writeLine(
        io.stdout,
        renderTable(
          ['GROUP', 'TOPIC', 'PARTITION', 'NEXT OFFSET', 'LAST MESSAGE', 'UNSENT OUTCOMES'],
          rows.map((row) => [row.group, row.topic, String(row.partition), row.nextOffset, row.lastMessage?.offset ?? '-', String(row.unsentOutcomes)]),
          new Set([2, 3, 4, 5]),
        ),
      );
    }
    return EXIT.ok;
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await connection.close();
  }
}

export interface InboxResetFlags extends ConnectionFlags {
  readonly group: string;
  readonly topic: string;
  readonly partition?: number;
  readonly json?: boolean;
}

/** `spanledger inbox reset`: forget a partition's position, so the next consume starts it from its first offset. */
export async function inboxReset(io: CliIo, flags: InboxResetFlags): Promise<ExitCode> {
  const { resetInbox } = await import('../ledger/kafka/inbox-admin');
  const connection = openConnection(io, flags);
  try {
    const removed = await resetInbox(connection, flags.group, flags.topic, flags.partition);
    if (flags.json) writeLine(io.stdout, JSON.stringify({ removed }));
    else if (removed.length === 0) writeLine(io.stdout, `no inbox row for group ${flags.group} on ${flags.topic}${flags.partition === undefined ? '' : `/${flags.partition}`}: nothing to reset`);
    else {
      for (const row of removed) {
        writeLine(io.stdout, `reset ${row.group} ${row.topic}/${row.partition} (was at offset ${row.nextOffset}${row.unsentOutcomes > 0 ? `, ${row.unsentOutcomes} unsent outcome(s) dropped` : ''})`);
      }
      writeLine(io.stdout, `the next \`spanledger consume --topic ${flags.topic} --group ${flags.group}\` applies ${removed.length === 1 ? 'this partition' : 'these partitions'} from the first offset`);
    }
    return EXIT.ok;
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await connection.close();
  }
}
