import type { AgentPhoneHarness, HarnessOptions } from "./index.js";

export * from "./index.js";

/** Register the vitest hooks (start once, reset before each test, check findings after each, stop at the end) and return the harness. */
export function useAgentPhone(options?: HarnessOptions): AgentPhoneHarness;
