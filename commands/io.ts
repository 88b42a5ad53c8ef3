/**
 * The CLI's seam to the outside world, so commands run in-process in tests with captured
 * output and no real process.exit.
 */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly isTerminal: boolean;
  readonly cwd: string;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    isTerminal: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
  };
}

/** "1 event", "2 events": counts in messages for people. */
export function count(n: number | bigint, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 || n === 1n ? noun : plural}`;
}

/** Writes one line; nothing once the stream is closed (a reader that went away, e.g. `| head`). */
export function writeLine(stream: NodeJS.WritableStream, line: string): void {
  if ((stream as { destroyed?: boolean }).destroyed) return;
  stream.write(`${line}\n`);
}

/** Left-aligned text columns, right-aligned numbers; for people, never parsed. */
export function renderTable(headers: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
