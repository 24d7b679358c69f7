// Every route of the control plane, through the package's ControlClient, against a real
// `agentphone-emulator serve` on a virtual clock. The last test checks that every (method, path)
// the emulator's OpenAPI document lists was requested here, so a route added to the emulator
// without a test (or a method in the package) fails this file. Routes another change is adding
// (settle, probes, one deliveries/{id}, agents in one request, reset with settings) are tested
// when the served document has them.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { AgentPhoneHarness, ControlPlaneError } from "../src/index.js";
import { agent as webhookAgent, received } from "./support/agent.js";

const harness = new AgentPhoneHarness({ webhook: webhookAgent, findings: "off" });
const requested = new Set();
let control;
let served;

async function serves(method, path) {
  return control.has(method, path);
}

before(async () => {
  await harness.start();
  control = harness.control;
  control.api.use({
    onRequest({ request, schemaPath }) {
      requested.add(`${request.method.toLowerCase()} ${schemaPath.replace(/\{[^}]+\}/g, "{}")}`);
    },
  });
  served = await control.openapi();
  await harness.reset({ creditCents: 100_000, numberLimit: 50, require10dlc: false });
});

after(() => harness.stop());

const SOLE_PROPRIETOR = {
  registration_type: "sole_proprietor",
  first_name: "Ada",
  last_name: "Lovelace",
  email: "ada@example.com",
  phone_number: "+14155550123",
  street_address: "1 Market St",
  city: "San Francisco",
  state: "CA",
  zip_code: "94105",
  brand_name: "Ada Tutoring",
  description: "Ada Tutoring sends lesson reminders and schedule changes to enrolled students.",
  use_cases: ["account_notification", "customer_care"],
  message_samples: [
    "Ada Tutoring: your lesson is tomorrow at 4pm. Reply STOP to opt out.",
    "Ada Tutoring: your lesson moved to Friday 5pm. Reply HELP for help.",
  ],
  consent_flow: "Students tick an SMS consent checkbox on the Ada Tutoring signup form before booking.",
  opt_in_image_url: "https://example.com/opt-in.png",
};

async function newAgent(fields = {}) {
  return harness.makeAgent({ beginMessage: "Hi, this is Acme.", ...fields });
}

describe("texts and reactions", () => {
  test("POST /__emulator/sms: the agent's webhook gets the text, its texts back are in replies", async () => {
    const agent = await newAgent();
    const sms = await control.sendSms({ from: "+14155550100", to: agent.number, body: "Are you open?", replyWithinSeconds: 2 });
    assert.equal(sms.message.body, "Are you open?");
    assert.equal(sms.message.direction, "inbound");
    assert.equal(sms.delivery.status, "success");
    assert.equal(sms.delivery.attempts[0].httpStatus, 200);
    assert.deepEqual(sms.replies.map((reply) => reply.body), ["Got it: Are you open?"]);
    const seen = received.at(-1);
    assert.equal(seen.verified, true, "signed with the agent's secret");
    assert.equal(seen.event, "agent.message");
    assert.equal(seen.channel, "sms");
  });

  test("POST /__emulator/reactions: agent.reaction for a message", async () => {
    const agent = await newAgent({ numberType: "imessage" });
    const sms = await control.sendSms({ to: agent.number, body: "hello" });
    const reaction = await control.react({ messageId: sms.message.id, reaction: "love", from: "+14155550123" });
    assert.equal(reaction.messageId, sms.message.id);
    assert.equal(reaction.reactionType, "love");
    assert.equal(received.at(-1).event, "agent.reaction");
    await assert.rejects(control.react({ messageId: "msg_nope", reaction: "love" }), (error) => {
      assert.ok(error instanceof ControlPlaneError);
      assert.equal(error.status, 404);
      assert.match(error.message, /^POST \/__emulator\/reactions: 404 /);
      return true;
    });
  });
});

describe("the clock", () => {
  test("GET /__emulator/clock, POST clock/advance and clock/fast-forward", async () => {
    const before = await control.clock();
    assert.equal(before.virtual, true);
    const advanced = await control.advance(60);
    assert.equal(advanced.advancedSeconds, 60);
    assert.equal(Date.parse(advanced.now) - Date.parse(before.now), 60_000);
    const forwarded = await control.fastForward(10);
    assert.ok(forwarded.advancedSeconds <= 10);
    assert.deepEqual(forwarded.ran, []);
    await assert.rejects(control.advance(-1), (error) => error.status === 422 && /seconds/.test(error.message));
  });
});

describe("deliveries and findings", () => {
  test("GET deliveries, POST deliveries/{id}/retry, GET and DELETE findings", async () => {
    const agent = await newAgent();
    const failed = await control.sendSms({ to: agent.number, body: "please fail" });
    assert.equal(failed.delivery.attempts[0].httpStatus, 500);
    const deliveries = await control.deliveries();
    const mine = deliveries.find((delivery) => delivery.id === failed.delivery.id);
    assert.equal(mine.eventType, "agent.message");
    assert.ok(mine.nextRetryAt, "a 500 is retried");
    const retried = await control.retryDelivery(mine.id);
    assert.equal(retried.attempts.length, 2);
    assert.equal(retried.attempts[1].httpStatus, 500);

    const findings = await control.findings();
    assert.ok(findings.some((finding) => finding.code === "webhook_http_error" && finding.deliveryId === mine.id));
    await control.clearFindings();
    assert.deepEqual(await control.findings(), []);
    await assert.rejects(control.retryDelivery("dlv_nope"), /retry: 404 /);
  });

  test("one delivery by id (GET /__emulator/deliveries/{id}, or from the list on an older emulator)", async () => {
    const agent = await newAgent();
    const sms = await control.sendSms({ to: agent.number, body: "hello" });
    const one = await control.delivery(sms.delivery.id);
    assert.equal(one.id, sms.delivery.id);
    assert.equal(one.payload.data.message, "hello");
    await assert.rejects(control.delivery("dlv_nope"), (error) => error.status === 404);
  });

  test("delivery attempts carry the exact request (method, url, headers, body)", async (t) => {
    if (!(await serves("GET", "/__emulator/deliveries/{}"))) return t.skip("the emulator does not serve GET /__emulator/deliveries/{id} yet");
    const agent = await newAgent();
    const sms = await control.sendSms({ to: agent.number, body: "bytes please" });
    const [attempt] = (await control.delivery(sms.delivery.id)).attempts;
    assert.equal(attempt.request.method, "POST");
    assert.equal(attempt.request.url, agent.webhookUrl);
    const sent = received.find((event) => event.data?.messageId === sms.message.id || event.data?.message === "bytes please");
    assert.equal(attempt.request.body, sent.raw, "the exact bytes the agent received");
    const headers = Object.fromEntries(Object.entries(attempt.request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(headers["x-webhook-signature"], sent.headers["x-webhook-signature"]);
  });

  test("POST /__emulator/settle", async (t) => {
    if (!(await serves("POST", "/__emulator/settle"))) return t.skip("the emulator does not serve POST /__emulator/settle yet");
    const settled = await control.settle();
    assert.equal(settled.settled, true);
  });

  test("POST /__emulator/probes: each kind against a verifying agent", async (t) => {
    if (!(await serves("POST", "/__emulator/probes"))) return t.skip("the emulator does not serve POST /__emulator/probes yet");
    const agent = await newAgent();
    for (const kind of ["bad_signature", "missing_signature", "wrong_secret"]) {
      const result = await control.probe(kind, { agentId: agent.id });
      assert.equal(result.httpStatus, 401, `${kind}: the agent refuses it`);
      assert.equal(result.refused, true, kind);
      assert.equal(result.expected, "refused", kind);
      assert.equal(result.passed, true, kind);
    }
    const duplicate = await control.probe("duplicate", { agentId: agent.id, body: "hello twice" });
    assert.equal(duplicate.expected, "accepted");
    assert.equal(duplicate.httpStatus, 200);
    assert.equal(duplicate.passed, false, "the test agent texts back on a duplicate too");
    await assert.rejects(control.probe("no_such_kind", { agentId: agent.id }), (error) => error.status === 422);
  });

  test("GET /__emulator/findings?agentId=&callId=: one agent's, one call's", async () => {
    const broken = await newAgent();
    const fine = await newAgent();
    const call = await control.ring({ to: broken.number });
    await control.say(call.callId, "this is broken");
    const mine = await control.findings({ agentId: broken.id });
    assert.deepEqual([...new Set(mine.map((finding) => finding.code))], ["voice_non_object_reply"]);
    assert.deepEqual(await control.findings({ agentId: fine.id }), []);
    assert.equal((await control.findings({ callId: call.callId })).length, mine.length);
    await control.clearFindings();
  });

  test("GET /__emulator/verifications/latest: the code a verification texted", async (t) => {
    if (!(await serves("GET", "/__emulator/verifications/latest"))) return t.skip("the emulator does not serve GET /__emulator/verifications/latest yet");
    const sent = await control.v1("POST", "/v1/verify/send", { phone_number: "+14155550142" });
    const latest = await control.latestVerification("+14155550142");
    assert.equal(latest.phoneNumber, "+14155550142");
    assert.match(latest.code, /^\d+$/);
    const checked = await control.v1("POST", "/v1/verify/check", { verification_id: sent.verification_id, code: latest.code });
    assert.ok(checked);
    await assert.rejects(control.latestVerification("+14155550143"), (error) => error.status === 404);
  });
});

describe("webhooks and agents", () => {
  test("POST /__emulator/webhook points an agent's webhook with a secret", async () => {
    const agent = await newAgent();
    const hook = await control.setWebhook({ target: agent.webhookUrl, agentId: agent.id, secret: "whsec_fixed", timeout: 5 });
    assert.equal(hook.secret, "whsec_fixed");
    assert.equal(hook.agentId, agent.id);
    assert.equal(hook.timeout, 5);
    const sms = await control.sendSms({ to: agent.number, body: "hi" });
    assert.equal(sms.delivery.attempts[0].httpStatus, 401, "the agent verifies with its own secret, not this one");
    await assert.rejects(control.setWebhook({ target: "not a target" }), (error) => error.status >= 400 && error.status < 500);
  });

  test("POST /__emulator/agents: an agent, its number and its webhook in one request", async (t) => {
    if (!(await serves("POST", "/__emulator/agents"))) return t.skip("the emulator does not serve POST /__emulator/agents yet");
    const made = await control.createAgent({
      agent: { name: "One call", beginMessage: "Hi." },
      number: { areaCode: "415" },
      webhook: { target: "http://127.0.0.1:9/webhook", secret: "whsec_one" },
    });
    assert.ok(made.agent.id.startsWith("agt_"));
    assert.equal(made.number.agentId, made.agent.id);
    assert.match(made.number.phoneNumber, /^\+1415/);
    assert.equal(made.webhook.secret, "whsec_one");
    await assert.rejects(control.createAgent({ agent: { name: "x" }, number: { areaCod: "415" } }), (error) => {
      assert.equal(error.status, 422);
      assert.match(error.message, /body\.number\.areaCod/);
      return true;
    });
  });
});

describe("calls", () => {
  test("POST calls, GET calls/{id}, say, interrupt, press, silence, listen, hangup", async () => {
    const agent = await newAgent();
    let call = await control.ring({ to: agent.number });
    assert.equal(call.live, true);
    assert.equal(call.replies[0].mode, "greeting");
    assert.equal(call.replies[0].text, "Hi, this is Acme.");

    call = await control.say(call.callId, "When are you open?");
    assert.equal(call.replies.at(-1).text, "We're open nine to five, Monday to Friday.");
    call = await control.say(call.callId, "Tell me a story", { listen: false });
    call = await control.interrupt(call.callId, "Stop, when are you open?", { after: 0.5 });
    assert.ok(call.replies.some((reply) => reply.state === "interrupted" || reply.interruptedAt), "the story was cut off");
    assert.equal(call.replies.at(-1).text, "We're open nine to five, Monday to Friday.");
    call = await control.press(call.callId, "42");
    assert.deepEqual(call.keyPresses.map((press) => press.digits), ["42"]);
    call = await control.silence(call.callId, 1);
    call = await control.listen(call.callId);
    assert.equal(call.live, true);
    call = await control.hangup(call.callId);
    assert.equal(call.live, false);
    assert.equal(call.disconnectionReason, "user_hangup");

    const again = await control.getCall(call.callId);
    assert.deepEqual(again.transcript, call.transcript);
    assert.equal(again.transcript[0].role, "agent");
    await assert.rejects(control.say(call.callId, "Still there?"), (error) => error.status === 409 && error.code === "CALL_ENDED");
    await assert.rejects(control.getCall("call_nope"), (error) => error.status === 404);
  });

  test("a script in the ring request, barge-in, and play-out", async () => {
    const agent = await newAgent();
    const scripted = await control.ring({ to: agent.number, script: [{ say: "When are you open?" }, { say: "bye" }] });
    assert.equal(scripted.live, false);
    assert.equal(scripted.disconnectionReason, "agent_hangup");

    let call = await control.ring({ to: agent.number });
    call = await control.say(call.callId, "Tell me a story", { listen: false });
    call = await control.bargeIn(call.callId, { startedAgo: 0.2 });
    assert.equal(call.live, true);
    call = await control.playOut(call.callId, 5);
    assert.ok(call.replies.length >= 2);
    await control.hangup(call.callId);
  });

  test("POST /__emulator/web-calls/join with a web call's token", async () => {
    const agent = await newAgent();
    const web = await control.v1("POST", "/v1/calls/web", { agentId: agent.id });
    const call = await control.joinWebCall(web.accessToken);
    assert.equal(call.callId, web.callId);
    assert.equal(call.replies[0].text, "Hi, this is Acme.");
    await control.hangup(call.callId);
    await assert.rejects(control.joinWebCall(web.accessToken), (error) => error.code === "INVALID_WEB_TOKEN" || error.status === 400);
  });

  test("POST /__emulator/callees and /__emulator/hosted (admin key)", async () => {
    const callee = await control.scriptCallee({ number: "+14155550177", outcome: "busy" });
    assert.equal(callee.outcome, "busy");
    const hosted = await control.configureHosted({ replies: { agt_hosted: ["Hello from hosted mode."] } });
    assert.deepEqual(hosted.replies, { agt_hosted: ["Hello from hosted mode."] });
  });
});

describe("the account", () => {
  test("GET and PATCH /__emulator/account", async () => {
    const account = await control.account();
    assert.equal(account.settings.creditCents, 100_000);
    const changed = await control.updateAccount({ recordingAddon: true });
    assert.equal(changed.settings.recordingAddon, true);
    await assert.rejects(control.updateAccount({ notASetting: 1 }), (error) => {
      assert.equal(error.status, 422);
      assert.match(error.message, /notASetting/);
      return true;
    });
  });

  test("registrations: list, reject, approve", async () => {
    await control.updateAccount({ require10dlc: true, require10dlcApproval: true });
    const register = () => control.v1("POST", "/v1/register", SOLE_PROPRIETOR);
    await register();
    const [pending] = await control.registrations();
    assert.equal(pending.status, "pending");
    const rejected = await control.rejectRegistration(pending.id, "opt-in image unreadable");
    assert.equal(rejected.status, "rejected");
    assert.equal(rejected.rejectionReason, "opt-in image unreadable");
    await assert.rejects(control.approveRegistration("cmp_nope"), (error) => error.status === 404);

    await register(); // a rejected account may submit again
    const again = (await control.registrations()).find((registration) => registration.status === "pending");
    const approved = await control.approveRegistration(again.id);
    assert.equal(approved.status, "approved");
    await control.updateAccount({ require10dlc: false, require10dlcApproval: false });
  });
});

describe("whole-emulator state", () => {
  test("snapshots: take, list, restore, delete", async () => {
    const agent = await newAgent();
    const snapshot = await control.takeSnapshot();
    const listed = await control.snapshots();
    assert.ok(listed.data.some((kept) => kept.id === snapshot.id));
    await control.v1("DELETE", `/v1/agents/${agent.id}`);
    await control.restoreSnapshot(snapshot.id);
    const back = await control.v1("GET", `/v1/agents/${agent.id}`);
    assert.equal(back.id, agent.id);
    await control.deleteSnapshot(snapshot.id);
    await assert.rejects(control.restoreSnapshot(snapshot.id), (error) => error.status === 404);
  });

  test("POST /__emulator/reset forgets everything; with settings, the account starts with them", async () => {
    await newAgent();
    await control.reset();
    assert.deepEqual((await control.v1("GET", "/v1/agents")).data, []);
    await control.reset({ creditCents: 100_000, numberLimit: 50, require10dlc: false });
    const account = await control.account();
    assert.equal(account.settings.creditCents, 100_000);
    assert.equal(account.settings.require10dlc, false);
  });

  test("POST /__emulator/reset {settings}: an unknown field is a 422", async (t) => {
    const body = served.paths["/__emulator/reset"]?.post?.requestBody;
    if (!body) return t.skip("the emulator's reset takes no settings yet");
    await assert.rejects(control.request("POST", "/__emulator/reset", { body: { settings: { notASetting: 1 } }, admin: true }), (error) => error.status === 422);
  });
});

test("every route the emulator serves was requested through the package", () => {
  const missing = [];
  for (const [path, operations] of Object.entries(served.paths)) {
    for (const method of Object.keys(operations)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const key = `${method} ${path.replace(/\{[^}]+\}/g, "{}")}`;
      if (!requested.has(key)) missing.push(`${method.toUpperCase()} ${path}`);
    }
  }
  assert.deepEqual(missing, [], `routes no test requested: ${missing.join(", ")}`);
});
