// The vitest helpers: the same harness on vitest's hooks (npm run test:vitest).
import { expect, test } from "vitest";

import { useAgentPhone } from "../../src/vitest.js";
import { agent as webhookAgent } from "../support/agent.js";

const phone = useAgentPhone({ webhook: webhookAgent, account: { require10dlc: false } });

test("ring the agent, ask, hear the answer", async () => {
  const agent = await phone.makeAgent({ beginMessage: "Hi, this is Acme." });
  const call = await agent.ring();
  expect(call.greeting?.text).toBe("Hi, this is Acme.");
  expect((await call.say("When are you open?"))?.text).toBe("We're open nine to five, Monday to Friday.");
  await call.hangup();
  expect(call.disconnectionReason).toBe("user_hangup");
  await agent.assertNoFindings();
});

test("a fresh state, and a text answered", async () => {
  expect((await phone.control.v1("GET", "/v1/agents")).data).toEqual([]);
  const agent = await phone.makeAgent();
  await agent.text("Open tomorrow?");
  expect(await agent.textsTo()).toEqual(["Got it: Open tomorrow?"]);
});

test("findings asserted are expected by the check after the test", async () => {
  const agent = await phone.makeAgent();
  await (await agent.ring()).say("this is broken");
  await expect(agent.assertFindings("webhook_timeout")).rejects.toThrow(/expected a finding \{code: "webhook_timeout"\}; found 1:/);
  await agent.assertFindings({ code: "voice_non_object_reply", severity: "error" });
});
