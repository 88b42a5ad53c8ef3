/** The local stack: Cloud Spanner emulator, embedded Kafka broker, and `dev` state. */
export {
  EMULATOR_READY_TIMEOUT_MS,
  EmulatorNotFoundError,
  findEmulatorBinDir,
  PortInUseError,
  startSpannerEmulator,
  SYSTEM_EMULATOR_DIRS,
} from './spanner-emulator';
export type { RunningEmulator, StartEmulatorOptions } from './spanner-emulator';
export { BROKER_READY_TIMEOUT_MS, findKcat, KcatNotFoundError, startKafkaBroker } from './kafka-broker';
export type { RunningBroker, StartBrokerOptions } from './kafka-broker';
export { clearDevState, devStateDir, devStateFile, DevStateError, DevStateSchema, readDevState, writeDevState } from './dev-state';
export type { DevState } from './dev-state';
export { isAlive, StartupError, stopProcessGroup, STOP_GRACE_MS } from './process';
