/**
 * Exit codes: the CLI's contract with scripts. Documented in `--help` and the README.
 */
export const EXIT = {
  ok: 0,
  /** Infrastructure failure: Spanner or Kafka unreachable, a fault, a bug. Message on stderr. */
  failure: 1,
  /** Invalid input: a line that is not a valid command, a bad flag or setting. */
  invalid: 2,
  /** A valid command was rejected (insufficient funds, idempotency conflict, ...). */
  rejected: 3,
  /** verify or audit found differences (views against the log, broken books or hash chains), or a read met damaged history. */
  mismatch: 5,
  /** Stopped by SIGINT (128 + 2) or SIGTERM (128 + 15) before the end of its input. */
  interrupted: 130,
  terminated: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  infrastructure failure (Spanner/Kafka unreachable, fault); message on stderr
  2  invalid input (a line that is not a valid command, a bad flag or setting)
  3  a command was rejected or conflicted (INSUFFICIENT_FUNDS, IDEMPOTENCY_CONFLICT, ...)
  5  projections verify or audit found differences (views, books, hash chains),
     or a command met damaged history (it names the stream; run \`spanledger audit\`)
  130/143  stopped by SIGINT/SIGTERM (submit: before its next chunk of lines; says how far it got)`;

/** An error the CLI reports as one line on stderr with a chosen exit code (no stack). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly suggestion?: string,
  ) {
    super(message);
  }
}
