import pino, { Logger } from 'pino';

/**
 * Structured logs for the long-running commands (`consume`, `publish`,
 * `projections run --follow`): pino JSON lines on stderr, never stdout (stdout carries the
 * commands' output contracts). Short commands keep their plain stderr messages.
 *
 * What is never logged: KAFKA_SASL_PASSWORD or any credential (paths below are censored if
 * they ever reach a log call), and command payloads above `debug`.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const LOG_LEVEL_ENV = 'SPANLEDGER_LOG_LEVEL';

export class LogLevelError extends Error {}

/** A log level from text (case-insensitive, trimmed); throws LogLevelError naming the choices. */
export function parseLogLevel(text: string, source = '--log-level'): LogLevel {
  const level = text.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new LogLevelError(`${source} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
}

/** The flag wins, then SPANLEDGER_LOG_LEVEL (when not empty), then the default. */
export function resolveLogLevel(flag: string | undefined, env: NodeJS.ProcessEnv, fallback: LogLevel = DEFAULT_LOG_LEVEL): LogLevel {
  if (flag !== undefined) return parseLogLevel(flag, '--log-level');
  const fromEnv = env[LOG_LEVEL_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseLogLevel(fromEnv, LOG_LEVEL_ENV);
  return fallback;
}

/** Field paths censored wherever they appear (defence in depth: nothing logs them on purpose). */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'sasl',
  '*.sasl',
  'KAFKA_SASL_PASSWORD',
  '*.KAFKA_SASL_PASSWORD',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
];

export type { Logger };

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where the JSON lines go (the CLI passes its stderr). */
  readonly destination: NodeJS.WritableStream;
  /** Component name, e.g. "consume"; becomes the `name` field. */
  readonly name?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'spanledger',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination as unknown as pino.DestinationStream,
  );
}

/** A logger that drops everything (library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });
