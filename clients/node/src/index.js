// agentphone-emulator for Node: start the emulator (`agentphone-emulator serve`, the Python
// package) from a test, drive its control plane with typed methods, and write tests that read like
// the Python plugin's (./node-test and ./vitest; the framework-free core is ./testing.js).

export { startEmulator, locateEmulator, EmulatorStartError } from "./launcher.js";
export { ControlClient, ControlPlaneError, createControlClient, DEFAULT_CALLER } from "./control.js";
export { EventStream } from "./events.js";
export { AudioSocketError, CallAudio, CLOSE_CODES, DOWNLINK_SAMPLE_RATE, openCallAudio } from "./audio.js";
export {
  AgentPhoneHarness,
  Agent,
  Call,
  assertFindings,
  assertNoFindings,
  describeFinding,
  ProvisionError,
} from "./testing.js";
