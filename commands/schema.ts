import { writeFileSync } from 'node:fs';
import { jsonSchemaOf, SchemaKind } from '../app/json-schema';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';

/** `schema commands|events [--out FILE]`: JSON Schema (draft 2020-12) of a wire format, from the zod schemas. */
export async function schema(io: CliIo, kind: SchemaKind, flags: { out?: string }): Promise<ExitCode> {
  const text = JSON.stringify(jsonSchemaOf(kind), null, 2);
  if (flags.out) {
    writeFileSync(flags.out, `${text}\n`);
    writeLine(io.stderr, `wrote the JSON Schema of ${kind} to ${flags.out}`);
  } else writeLine(io.stdout, text);
  return EXIT.ok;
}
