import { Command as Program, Option } from 'commander';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo } from './io';

/** What every command module plugs into: an action takes the io seam and commander's arguments. */
// Actions take their own positional arguments and option objects; commander checks them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Action = (io: CliIo, ...args: any[]) => Promise<ExitCode>;

/** Wraps a lazily loaded action as a commander action handler. */
export type Run = (load: () => Promise<Action>) => (...args: unknown[]) => Promise<void>;

export function withConnection(command: Program): Program {
  return command
    .addOption(new Option('--project <id>', 'Spanner project (env SPANNER_PROJECT_ID, default local-project)'))
    .addOption(new Option('--instance <id>', 'Spanner instance (env SPANNER_INSTANCE_ID, default local-instance)'))
    .addOption(new Option('--database <id>', 'Spanner database (env SPANNER_DATABASE_ID, default ledger)'));
}

/**
 * `--deadline-s` of the one-shot commands: how long they ride out Spanner not answering,
 * retrying, before they exit 1 saying what was done.
 */
export function withDeadline(command: Program): Program {
  return command.addOption(
    new Option('--deadline-s <seconds>', 'ride out Spanner not answering for up to this long, retrying with back-off, then exit 1 (0: fail at once)').argParser(wholeNumber('--deadline-s', 86_400)).default(60),
  );
}

/**
 * `--outage-max-s` of the long-running commands (consume, publish, projections run --follow):
 * they keep running through a Spanner or broker outage, backing off, and exit 1 only after
 * this much continuous outage.
 */
export function withOutageMax(command: Program): Program {
  return command.addOption(
    new Option('--outage-max-s <seconds>', 'ride out a Spanner or broker outage for up to this long (backing off, resuming from the stored positions), then exit 1').argParser(wholeNumber('--outage-max-s', 86_400)).default(300),
  );
}

/** A commander option parser for whole numbers 0..max that fails with exit code 2. */
export function wholeNumber(name: string, max: number) {
  return (text: string): number => {
    if (!/^(0|[1-9][0-9]*)$/.test(text) || Number(text) > max) {
      throw new CliError(`${name} must be a whole number from 0 to ${max}, got ${JSON.stringify(text)}`, EXIT.invalid);
    }
    return Number(text);
  };
}

/** A commander option parser for whole numbers 1..max that fails with exit code 2. */
export function positiveInteger(name: string, max: number) {
  return (text: string): number => {
    if (!/^[1-9][0-9]*$/.test(text) || Number(text) > max) {
      throw new CliError(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}`, EXIT.invalid);
    }
    return Number(text);
  };
}
