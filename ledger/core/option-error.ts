/** Names an option in a message: the library says `at`, the CLI `--at`. */
export type OptionNamer = (option: string) => string;

/** How the library names an option of its own API: the property, in backticks. */
export const libraryOptionName: OptionNamer = (option) => `\`${option}\``;

/**
 * An error about options the caller gave, whose message is composed with each option's
 * name left to the reader: the library's message names the API's options (`asOf`), and the
 * CLI renders the same error with its flags (--as-of). So library errors never name flags.
 */
export class OptionError extends Error {
  private readonly compose: ((name: OptionNamer) => string) | undefined;

  /** A plain message, or one composed around option names (`(name) => `${name('at')} is ...``). */
  constructor(message: string | ((name: OptionNamer) => string)) {
    super(typeof message === 'string' ? message : message(libraryOptionName));
    this.compose = typeof message === 'string' ? undefined : message;
  }

  /** The message with every option named by `name` (a plain message as it is). */
  messageNaming(name: OptionNamer): string {
    return this.compose ? this.compose(name) : this.message;
  }
}
