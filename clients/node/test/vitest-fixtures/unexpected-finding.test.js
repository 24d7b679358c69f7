// Run by test/harness.test.js through vitest, which expects exactly one failure here: the first
// test's agent breaks the contract and the test never says it expected that.
import { test } from "vitest";

import { useAgentPhone } from "../../src/vitest.js";
import { agent as webhookAgent } from "../support/agent.js";

const phone = useAgentPhone({ webhook: webhookAgent });

test("a reply the platform cannot read, unnoticed", async () => {
  const call = await (await phone.makeAgent()).ring();
  await call.say("this is broken");
});

test("the same, expected", async () => {
  const agent = await phone.makeAgent();
  await (await agent.ring()).say("this is broken");
  await agent.assertFindings("voice_non_object_reply");
});
