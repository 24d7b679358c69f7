// vitest hooks for the harness: one emulator per test file (beforeAll / afterAll), a fresh state
// before each test, and the findings check after each (skipped for a test that already failed:
// its own error says more).
//
//   import { test, expect } from "vitest";
//   import { useAgentPhone } from "agentphone-emulator/vitest";
//   const phone = useAgentPhone({ webhook: "http://127.0.0.1:3000/webhook" });

import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";

import { AgentPhoneHarness } from "./testing.js";

export * from "./index.js";

const START_TIMEOUT_MS = 60_000; // the emulator's start-up on a loaded machine: a hang guard

/** Register the hooks in the current file (or describe block) and return the harness. */
export function useAgentPhone(options = {}) {
  const harness = new AgentPhoneHarness(options);
  beforeAll(() => harness.start(), START_TIMEOUT_MS);
  beforeEach(() => harness.reset());
  afterEach(async (context) => {
    if (context?.task?.result?.state === "fail") return;
    await harness.check();
  });
  afterAll(() => harness.stop(), START_TIMEOUT_MS);
  return harness;
}
