// node:test hooks for the harness: one emulator per test file (started in `before`, stopped in
// `after`), a fresh state before each test, and the findings check after each.
//
//   import { test } from "node:test";
//   import { useAgentPhone } from "agentphone-emulator/node-test";
//   const phone = useAgentPhone({ webhook: "http://127.0.0.1:3000/webhook" });
//   test("greets", async () => { const call = await (await phone.makeAgent()).ring(); ... });

import { after, afterEach, before, beforeEach } from "node:test";

import { AgentPhoneHarness } from "./testing.js";

export * from "./index.js";

/** Register the hooks in the current suite (or file) and return the harness the tests use. */
export function useAgentPhone(options = {}) {
  const harness = new AgentPhoneHarness(options);
  before(() => harness.start());
  beforeEach(() => harness.reset());
  afterEach(() => harness.check());
  after(() => harness.stop());
  return harness;
}
