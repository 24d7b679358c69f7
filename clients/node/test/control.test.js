// Every route of the control plane, through the package's ControlClient, against a real
// `agentphone-emulator serve` on a virtual clock (and, for the call audio WebSocket, which
// refuses a virtual clock, a second one on the real clock). The last test checks that every
// (method, path) the emulator's OpenAPI document lists was requested here, so a route added to
// the emulator without a test (or a method in the package) fails this file; the WebSocket is
// counted by the tests that opened it, since it does not go through openapi-fetch. Routes another change is adding
// (settle, probes, one deliveries/{id}, agents in one request, reset with settings) are tested
// when the served document has them.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { AgentPhoneHarness, AudioSocketError, ControlPlaneError, locateEmulator, startEmulator } from "../src/index.js";
import { agent as webhookAgent, received } from "./support/agent.js";

const execFileAsync = promisify(execFile);
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

  test("POST deliveries/{id}/replay: edited, signed or forged, a new delivery linked to the original", async () => {
    const agent = await newAgent();
    const sent = await control.sendSms({ to: agent.number, body: "hello" });
    const original = sent.delivery;
    const replayed = await control.replayDelivery(original.id, { headers: { "X-Replay": "1" } });
    assert.notEqual(replayed.id, original.id);
    assert.equal(replayed.replayOf, original.id);
    assert.equal(replayed.signature, "signed");
    assert.equal(replayed.attempts.length, 1);
    assert.equal(replayed.attempts[0].request.headers["X-Replay"], "1");
    assert.deepEqual(replayed.payload, original.payload); // no body given: the original's bytes
    const edited = JSON.stringify({ ...original.payload, edited: true });
    const forged = await control.replayDelivery(original.id, { signature: "forged", body: edited });
    assert.equal(forged.signature, "forged");
    assert.equal(forged.attempts[0].request.body, edited); // sent exactly as written
    await assert.rejects(control.replayDelivery(original.id, { body: "[1]" }), (error) => error.status === 422);
    await assert.rejects(control.replayDelivery("dlv_nope"), (error) => error.status === 404);
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

describe("the console: live events, the board, scenario export, answering", () => {
  const CONSOLE_CALLEE = "+14155550106"; // the magic number that rings in the console

  test("GET /__emulator/events: a call rung through the package, event by event", async () => {
    const stream = await control.events();
    try {
      const [ready] = stream.received;
      assert.equal(ready.type, "ready");
      assert.equal(ready.virtualClock, true);
      assert.match(ready.accountId, /^acct_/);

      const agent = await newAgent();
      let call = await control.ring({ to: agent.number });
      call = await control.say(call.callId, "When are you open?");
      call = await control.press(call.callId, "42");
      call = await control.hangup(call.callId);
      const ended = await stream.until((event) => event.type === "call" && event.call.id === call.callId && !event.call.live);
      assert.equal(ended.call.status, "completed");
      assert.equal(ended.call.disconnectionReason, "user_hangup");
      assert.equal(ended.call.agentId, agent.id);

      // Changes within one 20 ms batch come as one event with the object's latest state, in the
      // place of its latest change: the call's end comes after everything before it (its turns
      // and replies), even when the whole call is one batch on a virtual clock.
      const mine = stream.received.filter((event) => event.callId === call.callId || event.call?.id === call.callId);
      const end = mine.indexOf(ended);
      assert.ok(mine.slice(0, end).some((event) => event.type === "turn" && event.content === "You said: 42"), "the last turn before the end");
      assert.ok(mine.slice(0, end).some((event) => event.type === "reply" && event.reply.turn === 2 && event.reply.state === "done"), "the last reply done before the end");
      assert.equal(mine.filter((event) => event.type === "call").at(-1), ended);
      assert.deepEqual(
        mine.filter((event) => event.type === "turn").map((turn) => [turn.role, turn.content]),
        [
          ["agent", "Hi, this is Acme."],
          ["user", "When are you open?"],
          ["agent", "We're open nine to five, Monday to Friday."],
          ["user", "42"],
          ["agent", "You said: 42"],
        ],
      );
      const done = mine.filter((event) => event.type === "reply" && event.reply.state === "done");
      assert.deepEqual(done.map((event) => event.reply.turn), [0, 1, 2]);
      assert.deepEqual(mine.filter((event) => event.type === "keys").map((event) => [event.by, event.digits]), [["user", "42"]]);
      const seqs = stream.received.map((event) => event.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");

      // The iterator reads the same events in order, from ready on; break closes the stream.
      const types = [];
      for await (const event of stream) {
        types.push(event.type);
        if (event.seq === ended.seq) break;
      }
      assert.equal(types[0], "ready");
      assert.equal(types.length, stream.received.indexOf(ended) + 1);
      assert.equal(stream.closed, true);
      await stream.ended;
    } finally {
      await stream.close();
    }
  });

  test("GET /__emulator/events?types=&callId=: one call's events of some types; close() and an AbortSignal end it", async () => {
    const agent = await newAgent();
    const other = await control.ring({ to: agent.number });
    const call = await control.ring({ to: agent.number });
    const aborter = new AbortController();
    const stream = await control.events({ types: ["call", "keys"], callId: call.callId, signal: aborter.signal });
    await control.press(other.callId, "1");
    await control.press(call.callId, "7");
    await control.hangup(other.callId);
    await control.hangup(call.callId);
    await stream.until((event) => event.type === "call" && !event.call.live);
    await stream.until("keys");
    // (A change made within the hub's 20 ms batch before the stream opened, the ring's own `call`
    // event, may come too: the batch goes to the streams open when it is sent.)
    const [ready, ...rest] = stream.received;
    assert.equal(ready.type, "ready");
    assert.ok(rest.every((event) => ["call", "keys"].includes(event.type)), "only these types");
    assert.ok(rest.every((event) => (event.callId ?? event.call.id) === call.callId), "only this call's");
    assert.deepEqual(rest.filter((event) => event.type === "keys").map((event) => event.digits), ["7"]);
    assert.equal(rest.filter((event) => event.type === "call").at(-1).call.status, "completed");
    aborter.abort();
    await stream.ended;
    const after = [];
    for await (const event of stream) after.push(event);
    assert.deepEqual(after, stream.received, "what came before the abort is still read, then it ends");

    const closing = await control.events({ types: "text" });
    await closing.close();
    await closing.close(); // twice is fine
    await assert.rejects(closing.until("text", { timeoutMs: 1000 }), /"text" never came: 1 came \(ready\)/);

    await assert.rejects(control.events({ types: ["calls"] }), (error) => {
      assert.ok(error instanceof ControlPlaneError);
      assert.equal(error.status, 422);
      assert.match(error.message, /^GET \/__emulator\/events: 422 query\.types: .*unknown event type\(s\) calls/);
      return true;
    });
    const gone = new AbortController();
    gone.abort();
    await assert.rejects(control.events({ signal: gone.signal }), (error) => error.name === "AbortError");
  });

  test("GET /__emulator/board: the numbers and the latest calls, texts, deliveries and findings", async () => {
    const agent = await newAgent({ name: "Board agent" });
    await control.sendSms({ to: agent.number, body: "on the board" });
    const call = await control.ring({ to: agent.number });
    await control.say(call.callId, "this is broken");
    await control.hangup(call.callId);
    const board = await control.board();
    assert.equal(board.virtualClock, true);
    const number = board.numbers.find((entry) => entry.phoneNumber === agent.number);
    assert.equal(number.agentId, agent.id);
    assert.equal(number.agentName, "Board agent");
    const shown = board.calls.find((entry) => entry.id === call.callId);
    assert.equal(shown.status, "completed");
    assert.ok(board.texts.some((text) => text.body === "on the board" && text.direction === "inbound"));
    assert.ok(board.deliveries.some((delivery) => delivery.callId === call.callId && delivery.lastAttempt.httpStatus === 200));
    assert.ok(board.findings.some((finding) => finding.code === "voice_non_object_reply" && finding.callId === call.callId));
    const latest = await control.board({ limit: 1 });
    assert.deepEqual(latest.calls.map((entry) => entry.id), [call.callId], "the newest, last");
    await assert.rejects(control.board({ limit: 0 }), (error) => error.status === 422 && /query\.limit/.test(error.message));
    await control.clearFindings();
  });

  test("GET /__emulator/calls/{id}/scenario: the call as YAML that `agentphone-emulator run` replays green", async () => {
    const agent = await newAgent();
    let call = await control.ring({ to: agent.number });
    call = await control.say(call.callId, "When are you open?");
    call = await control.press(call.callId, "42");
    call = await control.hangup(call.callId);
    const yaml = await control.exportScenario(call.callId);
    assert.equal(typeof yaml, "string");
    assert.match(yaml, /^ {6}beginMessage: Hi, this is Acme\.$/m);
    assert.match(yaml, /^- say: When are you open\?\n {2}expect:\n {4}text: We're open nine to five, Monday to Friday\.$/m);
    assert.match(yaml, /^- press: '42'\n {2}expect:\n {4}text: 'You said: 42'$/m);
    assert.match(yaml, /^call_expect:\n {2}status: completed\n {2}reason: user_hangup$/m);

    const folder = await mkdtemp(join(tmpdir(), "agentphone-scenario-"));
    try {
      const file = join(folder, "exported.yaml");
      await writeFile(file, yaml);
      const { command, prefix } = locateEmulator();
      const { stdout } = await execFileAsync(
        command,
        [...prefix, "run", file, "--webhook", agent.webhookUrl, "--webhook-secret", harness.secret, "--port", "0"],
        { encoding: "utf8", timeout: 120_000 },
      );
      assert.match(stdout, /1 passed/, stdout);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
    await assert.rejects(control.exportScenario("call_nope"), (error) => error.status === 404);
  });

  test("POST /__emulator/calls/{id}/answer: an outbound call rings in the console until answered, or declined busy", async () => {
    const agent = await newAgent();
    const stream = await control.events({ types: ["call"] });
    try {
      const placed = await control.v1("POST", "/v1/calls", { agentId: agent.id, toNumber: CONSOLE_CALLEE });
      await stream.until((event) => event.call?.id === placed.id && event.call.status === "ringing", { what: "the call ringing" });
      const answered = await control.answer(placed.id);
      assert.deepEqual(answered, { callId: placed.id, choice: "answer" });
      let call = await control.getCall(placed.id);
      assert.equal(call.status, "in-progress");
      assert.equal(call.replies[0].text, "Hi, this is Acme.", "the agent speaks first");
      call = await control.say(placed.id, "Who is this?");
      assert.equal(call.replies.at(-1).text, "You said: Who is this?");
      await assert.rejects(control.answer(placed.id), (error) => error.status === 409 && error.code === "CALL_NOT_RINGING");
      await control.hangup(placed.id);

      const declined = await control.v1("POST", "/v1/calls", { agentId: agent.id, toNumber: CONSOLE_CALLEE });
      await stream.until((event) => event.call?.id === declined.id && event.call.status === "ringing", { what: "the second call ringing" });
      assert.deepEqual(await control.answer(declined.id, "busy"), { callId: declined.id, choice: "busy" });
      const busy = await stream.until((event) => event.call?.id === declined.id && !event.call.live, { what: "the second call's end" });
      assert.equal(busy.call.status, "busy");
      assert.equal(busy.call.disconnectionReason, "dial_busy");

      const inbound = await control.ring({ to: agent.number });
      await assert.rejects(control.answer(inbound.callId), (error) => error.status === 409 && error.code === "CALL_NOT_RINGING");
      await control.hangup(inbound.callId);
      await assert.rejects(control.answer("call_nope"), (error) => error.status === 404);
      await assert.rejects(control.answer(placed.id, "maybe"), (error) => error.status === 422);
    } finally {
      await stream.close();
    }
  });
});

describe("the call's audio WebSocket", () => {
  const AUDIO_ROUTE = "get /__emulator/calls/{}/audio";
  // Long enough that it is still being said when the socket opens, however loaded the machine.
  const GREETING = "Hi, this is Acme support. Thanks for calling. Our team can help with orders, returns, deliveries and opening hours. How can I help you today?";
  let realClock;
  let live;

  before(async () => {
    realClock = await startEmulator(); // audio takes real time: a virtual clock is refused (4409)
    live = realClock.control;
    await live.updateAccount({ creditCents: 100_000, numberLimit: 50 });
    live.api.use({
      onRequest({ request, schemaPath }) {
        requested.add(`${request.method.toLowerCase()} ${schemaPath.replace(/\{[^}]+\}/g, "{}")}`);
      },
    });
  });

  after(() => realClock?.stop());

  /** openAudio, or a skip where the emulator has no recogniser or synthesiser (4500), except in CI. */
  async function openOrSkip(t, callId) {
    try {
      return await live.openAudio(callId);
    } catch (error) {
      if (error instanceof AudioSocketError && error.code === 4500 && !process.env.CI) {
        t.skip(`${error.detail} (pip install 'agentphone-emulator[audio]', apt-get install espeak-ng)`);
        return undefined;
      }
      throw error;
    }
  }

  test("a plain GET of the route is a 426: it is a WebSocket", async () => {
    const { error, response } = await control.api.GET("/__emulator/calls/{call_id}/audio", { params: { path: { call_id: "call_nope" } } });
    assert.equal(response.status, 426);
    assert.equal(error.code, "WEBSOCKET_REQUIRED");
  });

  test("on a virtual clock the socket is refused with 4409, saying why", async () => {
    const agent = await newAgent();
    const call = await control.ring({ to: agent.number });
    await assert.rejects(control.openAudio(call.callId), (error) => {
      assert.ok(error instanceof AudioSocketError);
      assert.equal(error.code, 4409);
      assert.match(error.detail, /virtual clock: talking takes real time/);
      assert.match(error.message, /^GET \/__emulator\/calls\/call_\w+\/audio \(WebSocket\): closed 4409 /);
      return true;
    });
    await control.hangup(call.callId);
  });

  test("a wrong key is refused with 4401, an unknown call with 4404", async () => {
    const made = await live.createAgent({ agent: { name: "Audio", beginMessage: "Hi." } });
    const call = await live.ring({ to: made.number.phoneNumber });
    await assert.rejects(live.openAudio(call.callId, { apiKey: "sk_test_not_a_key" }), (error) => {
      assert.ok(error instanceof AudioSocketError);
      assert.equal(error.code, 4401);
      assert.equal(error.reason, "Invalid API key");
      return true;
    });
    await assert.rejects(live.openAudio("call_nope"), (error) => error.code === 4404 && /call_nope is not a call of this API key's account/.test(error.detail));
    await live.hangup(call.callId);
    await assert.rejects(live.openAudio(call.callId), (error) => error.code === 4409 && /has ended/.test(error.detail));
    requested.add(AUDIO_ROUTE);
  });

  test("with the right key on a live call: ready, the greeting's words and speech, barge-in, PCM up, hang up, ended, 1000", async (t) => {
    const made = await live.createAgent({ agent: { name: "Audio", beginMessage: GREETING } });
    const call = await live.ring({ to: made.number.phoneNumber });
    assert.equal(call.live, true);
    const audio = await openOrSkip(t, call.callId);
    if (audio === undefined) return live.hangup(call.callId);
    try {
      assert.deepEqual(audio.frames[0], { type: "ready" });
      requested.add(AUDIO_ROUTE);
      const greeting = await audio.until("reply", { timeoutMs: 20_000 });
      assert.equal(greeting.turn, 0);
      assert.equal(greeting.text, GREETING);
      const speech = await audio.until("audio", { timeoutMs: 20_000 });
      assert.equal(speech.sampleRate, 16000);
      assert.ok(speech.pcm.length > 1600, "at least 0.1 s of the agent's voice");
      assert.ok(speech.pcm.some((sample) => Math.abs(sample) > 1000), "and not silence");

      audio.bargeIn(); // the page's interrupt button, while the greeting plays: it is cut there
      await audio.until("bargeIn", { timeoutMs: 20_000 });
      // bargeIn is sent at speech start so the page stops playing at once; the engine cuts the
      // reply right after, so the cut is read once it has landed (the loop only bounds a hang)
      let cut = (await live.getCall(call.callId)).replies[0];
      for (let tries = 0; cut.state !== "interrupted" && tries < 200; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        cut = (await live.getCall(call.callId)).replies[0];
      }
      assert.equal(cut.state, "interrupted");

      await audio.stream(new Int16Array(16000 / 2)); // half a second of a quiet line, paced as a microphone
      audio.hangup();
      const ended = await audio.until("ended", { timeoutMs: 20_000 });
      assert.deepEqual(ended, { type: "ended", reason: "user_hangup", status: "completed" });
      const closed = await audio.closed;
      assert.equal(closed.code, 1000);
      assert.throws(() => audio.hangup(), (error) => error instanceof AudioSocketError && error.code === 1000);
      assert.equal((await live.getCall(call.callId)).disconnectionReason, "user_hangup");
    } finally {
      await audio.close();
    }
  });

  test("closing the socket leaves the call up; a new connection takes it", async (t) => {
    const made = await live.createAgent({ agent: { name: "Audio", beginMessage: "Hi." } });
    const call = await live.ring({ to: made.number.phoneNumber });
    const first = await openOrSkip(t, call.callId);
    if (first === undefined) return live.hangup(call.callId);
    const frames = [];
    for await (const frame of first) {
      frames.push(frame.type);
      if (frame.type === "ready") break; // breaking out closes the socket
    }
    assert.deepEqual(frames, ["ready"]);
    assert.equal((await first.closed).code, 1000);
    assert.equal((await live.getCall(call.callId)).live, true);
    const second = await live.openAudio(call.callId);
    const third = await live.openAudio(call.callId); // the newest connection wins
    assert.equal((await second.closed).code, 4409);
    assert.match(second.closeInfo.detail, /another connection took this call's audio/);
    await third.close();
    await live.hangup(call.callId);
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
