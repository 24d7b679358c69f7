// The node:test helpers as a user's suite uses them: useAgentPhone starts one emulator for the
// file, resets it before each test and checks findings after each; makeAgent puts the test's
// agent (test/support/agent.js, served on a free port) on a number.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { assertFindings, assertNoFindings, describeFinding } from "../src/index.js";
import { useAgentPhone } from "../src/node-test.js";
import { agent as webhookAgent } from "./support/agent.js";

const phone = useAgentPhone({ webhook: webhookAgent, account: { require10dlc: false } });

test("ring, say, interrupt, press, hang up: the replies and the transcript", async () => {
  const agent = await phone.makeAgent({ beginMessage: "Hi, this is Acme. How can I help?" });
  const call = await agent.ring();
  assert.equal(call.greeting.text, "Hi, this is Acme. How can I help?");

  const reply = await call.say("When are you open?");
  assert.equal(reply.text, "We're open nine to five, Monday to Friday.");
  assert.equal(typeof reply.firstChunkMs, "number");

  const unheard = await call.say("Tell me a story", { listen: false }); // answers once said, not heard to its end
  assert.equal(unheard.utterance, "Tell me a story");
  const cut = await call.interrupt("Sorry, are you open today?", { after: 0.5 });
  assert.equal(cut.text, "We're open nine to five, Monday to Friday.");

  const pressed = await call.press("5");
  assert.equal(pressed.text, "You said: 5");
  assert.deepEqual(call.keyPresses.map((press) => press.digits), ["5"]);

  await call.hangup();
  assert.equal(call.status, "completed");
  assert.equal(call.disconnectionReason, "user_hangup");
  assert.equal(call.transcript[0].content, "Hi, this is Acme. How can I help?");
  assert.match(call.transcriptText(), /^agent: Hi, this is Acme/);
  await agent.assertNoFindings();
});

test("the agent hangs up and transfers", async () => {
  const agent = await phone.makeAgent({ transferNumber: "+14155550100" });
  const call = await agent.ring();
  await call.say("Can I talk to a person?");
  assert.equal(call.transferredTo, "+14155550100");

  const second = await agent.ring();
  const bye = await second.say("Thanks, bye");
  assert.equal(bye.hangup, true);
  assert.equal(second.status, "completed");
  assert.equal(second.disconnectionReason, "agent_hangup");
});

test("text the agent and read its answer", async () => {
  const agent = await phone.makeAgent();
  const sent = await agent.text("What time do you open?", { from: "+14155550199" });
  assert.equal(sent.delivery.status, "success");
  assert.deepEqual(await agent.textsTo("+14155550199"), ["Got it: What time do you open?"]);
  const messages = await agent.messages();
  assert.deepEqual(messages.map((message) => message.direction), ["inbound", "outbound"]);
});

test("each test starts on a fresh state", async () => {
  const agents = await phone.control.v1("GET", "/v1/agents");
  assert.deepEqual(agents.data, [], "the earlier tests' agents are gone");
  assert.deepEqual(await phone.findings(), []);
});

test("assertFindings names what was found; the teardown check then lets it pass", async () => {
  const agent = await phone.makeAgent();
  const call = await agent.ring();
  await call.say("this is broken");
  const found = await agent.assertFindings({ code: "voice_non_object_reply", severity: "error" });
  assert.equal(found[0].callId, call.id);
  call.assertFindings("voice_non_object_reply");
  await phone.assertFindings("voice_non_object_reply");
});

test("a failed assertion says what was expected and lists what was found", async () => {
  const agent = await phone.makeAgent();
  await (await agent.ring()).say("this is broken");
  await assert.rejects(agent.assertFindings({ code: "webhook_timeout" }), (error) => {
    assert.equal(error.name, "AssertionError");
    assert.match(error.message, /^expected a finding \{code: "webhook_timeout"\}; found 1:\n {2}\[voice_non_object_reply\] error: /);
    return true;
  });
  await assert.rejects(agent.assertNoFindings(), /: expected no findings at warning or above; found 1:\n {2}\[voice_non_object_reply\] error: .*\(agent\.message\/voice, call call_\w+ turn 1/);
  await agent.assertNoFindings({ allow: ["voice_non_object_reply"] });
  phone.allowFindings("voice_non_object_reply");
});

test("a webhook that fails is retried on the clock; fastForward runs the retries", async () => {
  const agent = await phone.makeAgent();
  const sms = await agent.text("please fail");
  assert.equal(sms.delivery.attempts[0].httpStatus, 500);
  const forwarded = await phone.fastForward();
  assert.equal(forwarded.ran.filter((run) => run.kind === "webhook_attempt").length, 5, "5 retries after the first attempt");
  const [delivery] = await phone.deliveries();
  assert.equal(delivery.status, "failed");
  await phone.assertFindings({ code: "webhook_http_error", severity: "error" }, "webhook_retries_exhausted");
});

test("makeAgent's mistakes are one line", async () => {
  await assert.rejects(phone.makeAgent({ webhook: "not a url" }), /^ProvisionError: makeAgent: webhook "not a url" is not a URL/);
  await phone.configure({ creditCents: 0 });
  await assert.rejects(phone.makeAgent(), (error) => {
    assert.match(error.message, /^makeAgent: buying its number: 402 .*\(more credit: /);
    return true;
  });
  assert.deepEqual((await phone.control.v1("GET", "/v1/agents")).data, [], "no agent left without its number");
});

test("the agent's environment points at the emulator", () => {
  assert.equal(process.env.AGENTPHONE_BASE_URL, phone.baseUrl);
  assert.equal(process.env.AGENTPHONE_API_KEY, phone.apiKey);
  assert.equal(process.env.AGENTPHONE_WEBHOOK_SECRET, phone.secret);
});

test("the plain assertions work on any list of findings", () => {
  const finding = { code: "webhook_timeout", severity: "warning", message: "no answer in 5 s", agentId: null, callId: null };
  assert.deepEqual(assertFindings([finding], "webhook_timeout"), [finding]);
  assert.throws(() => assertFindings([finding], { code: "webhook_timeout", severity: "error" }), /expected a finding \{code: "webhook_timeout", severity: "error"\}/);
  assertNoFindings([finding], { severity: "error" });
  assert.throws(() => assertNoFindings([finding]), /found 1:\n {2}\[webhook_timeout\] warning: no answer in 5 s/);
  assert.throws(() => assertNoFindings([], { severity: "fatal" }), /severity is one of info, warning, error/);
  assert.equal(describeFinding(finding), "  [webhook_timeout] warning: no answer in 5 s");
});

test("a finding the test did not expect fails it after it ends, listing the finding", () => {
  const script = fileURLToPath(new URL("./fixtures/unexpected-finding.test.js", import.meta.url));
  const { NODE_TEST_CONTEXT, ...env } = process.env; // else node:test thinks it runs inside this test
  const done = spawnSync(process.execPath, ["--test", "--test-reporter=spec", script], { encoding: "utf8", env });
  const output = done.stdout + done.stderr;
  assert.equal(done.status, 1, output);
  assert.match(output, /the agent broke the platform's contract: 1 finding the test did not expect/);
  assert.match(output, /\[voice_non_object_reply\] error: /);
  assert.match(output, /ℹ pass 1\n/, `the test that named the finding passed:\n${output}`);
  assert.match(output, /ℹ fail 1\n/);
});

test("vitest: a finding the test did not expect fails it after it ends", () => {
  const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
  const root = fileURLToPath(new URL("./vitest-fixtures/", import.meta.url));
  // NO_COLOR: vitest colours its summary when CI is set, and the escapes split the line matched below.
  const { NODE_TEST_CONTEXT, FORCE_COLOR, ...env } = process.env;
  const done = spawnSync(process.execPath, [vitest, "run", "--root", root, "--testTimeout", "60000", "--hookTimeout", "60000"], { encoding: "utf8", env: { ...env, NO_COLOR: "1" } });
  const output = done.stdout + done.stderr;
  assert.equal(done.status, 1, output);
  assert.match(output, /the agent broke the platform's contract: 1 finding the test did not expect/);
  assert.match(output, /Tests\s+1 failed \| 1 passed \(2\)/, output);
});
