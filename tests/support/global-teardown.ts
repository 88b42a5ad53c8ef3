/** Stops what global-setup.ts started (nothing, when the stack was given from outside). */
import { stopLocalStack, takeLocalStack } from './local-stack';

export default async function globalTeardown(): Promise<void> {
  const stack = takeLocalStack();
  if (stack) await stopLocalStack(stack);
}
