import type { KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Command } from '../core/commands';
import type { CommandHandler, CommandOutcome } from '../core/handler';
import { bookkeepingOnly } from '../core/store';
import type { InboxOffset, KafkaOutcome, LedgerTransaction } from '../core/store';
import type { ConsumeObserver, ConsumeSummary } from './consume-options';
import { DeadLetterReason, messageCommand, sendDeadLetters } from './dead-letters';
import { messageDigest } from './inbox';
import { outcomeJson, outcomeRow, sendOutcomes } from './outcomes';

/** The inbox row was not where this member expected it: another member committed past it. */
export class InboxFenced extends Error {
  constructor(
    readonly partition: number,
    readonly expected: bigint | null,
    readonly stored: bigint | null,
  ) {
    super(`inbox of partition ${partition} is at ${stored ?? 'none'}, this member expected ${expected ?? 'none'}`);
  }
}

/** What this member knows of one assigned partition (reset on every group join). */
export interface PartitionState {
  /** The inbox offset as stored (null: no row yet): the next chunk's fence. */
  expected: bigint | null;
  /** The first offset to apply: everything below is applied already, or gone (see BatchPosition). */
  floor: bigint;
  /** The last applied message, still to be found again before anything is applied. */
  verify?: { offset: bigint; digest: string };
  /** The floor this member sought to after Kafka delivered elsewhere: seek only once per floor. */
  soughtTo?: bigint;
  /** The last message applied (kept in the inbox row as the log's fingerprint). */
  lastMessage: InboxOffset['lastMessage'];
  /** Outcome rows below this offset are acknowledged on the outcomes topic: the next chunk drops them. */
  outcomesSentBelow?: bigint;
}

/** What deciding a chunk needs from its run: where, through what, and where to count and say it. */
export interface ChunkDeciderParts {
  readonly group: string;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly outcomesTopic: string | undefined;
  readonly handler: CommandHandler;
  readonly producer: Producer;
  readonly summary: ConsumeSummary;
  readonly note: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, line: string) => void;
  readonly logger: Logger | undefined;
  readonly observer: ConsumeObserver | undefined;
}

/**
 * Decides one chunk of one partition's messages in one Spanner transaction, with the inbox
 * move that fences it and the outcome rows; dead letters go before the commit, outcomes after.
 */
export class ChunkDecider {
  constructor(private readonly parts: ChunkDeciderParts) {}

  /** Decides one chunk of one partition in one transaction; the inbox moves to `next`. */
  async decide(partition: number, state: PartitionState, chunk: readonly KafkaMessage[], next: bigint): Promise<void> {
    const { group, topic, dlqTopic, outcomesTopic, handler, producer, summary } = this.parts;
    const split = splitChunk(chunk);
    const { commands, commandMessages, deadLetters } = split;
    // Before the commit that moves the inbox past them: at-least-once dead letters.
    await sendDeadLetters(producer, dlqTopic, topic, partition, deadLetters);
    const last = chunk[chunk.length - 1]!;
    const lastMessage = { offset: last.offset, digest: messageDigest(last) };
    const expected = state.expected;
    let outbox: KafkaOutcome[] = [];
    // Parsed once above (invalid ones are dead letters already): decide the commands as they are.
    const outcomes = await handler.handle(commands, async (tx: LedgerTransaction, decided) => {
      await this.checkFence(tx, partition, expected);
      outbox = this.outboxRows(partition, decided, commandMessages, deadLetters);
      tx.write(
        bookkeepingOnly({
          inbox: [{ group, topic, partition, nextOffset: next.toString(), lastMessage }],
          kafkaOutcomes: outbox,
          kafkaOutcomesSent: state.outcomesSentBelow === undefined ? [] : [{ group, topic, partition, belowOffset: state.outcomesSentBelow.toString() }],
        }),
      );
    });
    // Committed: from here on, effects outside Spanner are allowed.
    state.expected = next;
    state.floor = next;
    state.lastMessage = lastMessage;
    summary.transactions++;
    summary.messages += chunk.length;
    summary.invalid += deadLetters.length;
    this.reportChunk(partition, outcomes, commandMessages, deadLetters);
    if (outcomesTopic && outbox.length > 0) {
      await sendOutcomes(producer, outcomesTopic, outbox);
      summary.outcomesSent += outbox.length;
      state.outcomesSentBelow = next;
    }
    this.parts.observer?.onChunk?.({ partition, outcomes, deadLetters: deadLetters.map(({ reason }) => reason) });
    this.traceChunk(partition, chunk.length, next, split, outcomes);
  }

  /** Inside the deciding transaction: the inbox must be where this member left it. */
  private async checkFence(tx: LedgerTransaction, partition: number, expected: bigint | null): Promise<void> {
    const rows = await tx.readInboxOffsets(this.parts.group, this.parts.topic);
    const row = rows.find((offset) => offset.partition === partition);
    const stored = row ? BigInt(row.nextOffset) : null;
    if (stored !== expected) throw new InboxFenced(partition, expected, stored);
  }

  /** The outcome rows of a chunk, written in its transaction (none without an outcomes topic). */
  private outboxRows(partition: number, decided: readonly CommandOutcome[], commandMessages: readonly KafkaMessage[], deadLetters: readonly DeadLetter[]): KafkaOutcome[] {
    const { group, topic } = this.parts;
    if (!this.parts.outcomesTopic) return [];
    return [
      ...decided.map((outcome, index) => outcomeRow(group, topic, partition, commandMessages[index]!, outcomeJson(outcome))),
      ...deadLetters.map(({ message, reason }) => outcomeRow(group, topic, partition, message, outcomeJson({ status: 'invalid', reason }))),
    ];
  }

  /** Counts and logs a committed chunk's outcomes. */
  private reportChunk(partition: number, outcomes: readonly CommandOutcome[], commandMessages: readonly KafkaMessage[], deadLetters: readonly DeadLetter[]): void {
    const { topic, summary } = this.parts;
    for (const { message, reason } of deadLetters) {
      this.parts.note(
        'warn',
        { event: 'dead_letter', topic, partition, offset: message.offset, dlqTopic: this.parts.dlqTopic, code: reason.code, reason: reason.message },
        `dead-lettered ${topic}/${partition}@${message.offset} to ${this.parts.dlqTopic}: ${reason.code} ${reason.message}`,
      );
    }
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'accepted') {
        summary.accepted++;
        summary.events += outcome.eventIds.length;
      } else if (outcome.status === 'duplicate') {
        summary.duplicate++;
      } else if (outcome.status === 'rejected') {
        summary.rejected++;
        const offset = commandMessages[index]!.offset;
        this.parts.note('info', { event: 'rejected', topic, partition, offset, code: outcome.code, reason: outcome.message }, `rejected ${topic}/${partition}@${offset}: ${outcome.code} ${outcome.message}`);
      }
    });
  }

  /** At debug, one line per committed chunk; at trace, one per command, with its payload. */
  private traceChunk(partition: number, messages: number, next: bigint, split: ReturnType<typeof splitChunk>, outcomes: readonly CommandOutcome[]): void {
    const { topic } = this.parts;
    const logger = this.parts.logger;
    const { commands, commandMessages, deadLetters } = split;
    if (logger?.isLevelEnabled('debug')) {
      logger.debug({ event: 'chunk_committed', topic, partition, messages, commands: commands.length, deadLetters: deadLetters.length, nextOffset: next.toString() }, 'chunk committed');
    }
    if (logger?.isLevelEnabled('trace')) {
      // Payloads only at trace: they carry user IDs and amounts (never credentials).
      outcomes.forEach((outcome, index) => logger.trace({ event: 'command', topic, partition, offset: commandMessages[index]!.offset, command: commands[index], status: outcome.status }, 'command decided'));
    }
  }
}

interface DeadLetter {
  readonly message: KafkaMessage;
  readonly reason: DeadLetterReason;
}

/** A chunk's messages as commands to decide and dead letters (invalid, in offset order each). */
function splitChunk(chunk: readonly KafkaMessage[]): { commands: Command[]; commandMessages: KafkaMessage[]; deadLetters: DeadLetter[] } {
  const commands: Command[] = [];
  const commandMessages: KafkaMessage[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of chunk) {
    const result = messageCommand(message);
    if (result.ok) {
      commands.push(result.command);
      commandMessages.push(message);
    } else {
      deadLetters.push({ message, reason: result.reason });
    }
  }
  return { commands, commandMessages, deadLetters };
}
