/**
 * Integration tier, once per jest run: one Cloud Spanner emulator and one kcat broker for
 * all test files. Workers are spawned after this runs, so they inherit the variables set
 * here. A variable that is already set names a stack someone else runs, and is used as is.
 */
import { findKcat, startKafkaBroker, startSpannerEmulator } from '../../emulator';
import { keepLocalStack, LocalStack, stopLocalStack } from './local-stack';

export default async function globalSetup(): Promise<void> {
  const wantSpanner = !process.env.SPANNER_EMULATOR_HOST;
  const wantKafka = !process.env.KAFKA_BROKERS && findKcat() !== undefined;
  if (!process.env.KAFKA_BROKERS && !wantKafka) {
    process.stderr.write('\nglobal setup: kcat not found (apt-get install kcat); KAFKA_BROKERS stays unset, Kafka tests will fail.\n');
  }
  // Both start at once; whichever started is stopped again if the other failed.
  const [spanner, kafka] = await Promise.allSettled([
    wantSpanner ? startSpannerEmulator() : undefined,
    wantKafka ? startKafkaBroker() : undefined,
  ]);
  const stack: LocalStack = { env: [] };
  if (spanner.status === 'fulfilled' && spanner.value) stack.spanner = spanner.value;
  if (kafka.status === 'fulfilled' && kafka.value) stack.kafka = kafka.value;
  const failure = [spanner, kafka].find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) {
    await stopLocalStack(stack);
    throw failure.reason;
  }
  exportStack(stack);
  keepLocalStack(stack);
}

function exportStack(stack: LocalStack): void {
  // Tests need no Google credentials; without this, google-auth probes for a GCE metadata
  // server (a request to a link-local address) and prints MetadataLookupWarning.
  if (!process.env.METADATA_SERVER_DETECTION) setEnv(stack, 'METADATA_SERVER_DETECTION', 'none');
  if (stack.spanner) setEnv(stack, 'SPANNER_EMULATOR_HOST', stack.spanner.host);
  if (stack.kafka) {
    setEnv(stack, 'KAFKA_BROKERS', stack.kafka.brokers);
    // The embedded kcat broker has no idempotent producer (no InitProducerId from a controller).
    if (!process.env.KAFKA_IDEMPOTENT) setEnv(stack, 'KAFKA_IDEMPOTENT', 'false');
  }
}

function setEnv(stack: LocalStack, name: string, value: string): void {
  process.env[name] = value;
  stack.env.push(name);
}
