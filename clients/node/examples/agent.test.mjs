// agent.test.mjs: the Express agent under node:test (node --test). One emulator for the file,
// a fresh state before each test, and a test fails if the agent broke the platform's contract.
import assert from "node:assert/strict";
import { test } from "node:test";

import { useAgentPhone } from "agentphone-emulator/node-test";

import { app } from "./agent.mjs";

const phone = useAgentPhone({ webhook: app, path: "/webhook" });

test("answers opening hours, then hangs up", async () => {
  const agent = await phone.makeAgent({ beginMessage: "Hi, this is Acme. How can I help?" });
  const call = await agent.ring();
  assert.equal(call.greeting.text, "Hi, this is Acme. How can I help?");

  const reply = await call.say("When are you open?");
  assert.equal(reply.text, "We're open nine to five, Monday to Friday.");

  await call.say("Thanks, bye");
  assert.equal(call.status, "completed");
  assert.equal(call.disconnectionReason, "agent_hangup");
});

test("an interrupted answer, a key press, a transfer", async () => {
  const agent = await phone.makeAgent({ transferNumber: "+14155550100" });
  const call = await agent.ring();
  await call.say("Tell me everything", { listen: false });
  const cut = await call.interrupt("Sorry, when are you open?", { after: 0.5 });
  assert.equal(cut.text, "We're open nine to five, Monday to Friday.");
  await call.press("0");
  await call.say("Can I talk to a person?");
  assert.equal(call.transferredTo, "+14155550100");
});

test("texts back", async () => {
  await phone.configure({ require10dlc: false }); // a new account cannot text out before 10DLC
  const agent = await phone.makeAgent();
  await agent.text("What time do you open?", { from: "+14155550123" });
  assert.deepEqual(await agent.textsTo("+14155550123"), ["Thanks! We open at nine."]);
});

test("a webhook signed with another secret is refused, and that is a finding", async () => {
  const agent = await phone.makeAgent({ secret: "whsec_not_the_agents" });
  const sent = await agent.text("Hello?");
  assert.equal(sent.delivery.attempts[0].httpStatus, 401);
  await agent.assertFindings({ code: "webhook_http_error", severity: "error" });
});
