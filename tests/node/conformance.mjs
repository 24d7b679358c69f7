// Conformance of the emulator against the official AgentPhone TypeScript SDK (npm `agentphone`,
// pinned in package.json). Every method of every resource client is driven over real HTTP and the
// answers are checked for meaning (create -> get -> list -> update -> delete, relations, errors),
// and for the wire shape the SDK's generated types declare: the Fern client does not validate
// responses, so a missing or renamed field would only surface in a user's code as `undefined`.
//
//   AGENTPHONE_BASE_URL=http://127.0.0.1:PORT AGENTPHONE_API_KEY=sk_... node --test conformance.mjs
//
// The emulator must run with a roomy account (tests/test_ts_sdk.py uses $1,000 and 50 numbers):
// several numbers are bought. Top-level tests run in order and share one account, so each group
// creates what it needs and asserts relative to that.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { after, before, test } from "node:test";

import { AgentPhone, AgentPhoneClient, AgentPhoneError } from "agentphone";

const BASE_URL = process.env.AGENTPHONE_BASE_URL;
const API_KEY = process.env.AGENTPHONE_API_KEY;
if (!BASE_URL || !API_KEY) {
    throw new Error("set AGENTPHONE_BASE_URL and AGENTPHONE_API_KEY (see tests/test_ts_sdk.py)");
}

// Retries off: the SDK retries 408/429/5xx with exponential backoff, which would only slow a
// failing run down. Error tests also pass NO_RETRY per request, as a user would.
const NO_RETRY = { maxRetries: 0 };
const sdk = new AgentPhoneClient({ token: API_KEY, baseUrl: BASE_URL, maxRetries: 0, timeoutInSeconds: 30 });

// ---------------------------------------------------------------------------------------------
// Coverage: every call goes through `client`, which records `resource.method`; the last test
// compares that against every public method the SDK's resource clients have.

const called = new Set();
const RESOURCES = Object.entries(Object.getOwnPropertyDescriptors(AgentPhoneClient.prototype))
    .filter(([, d]) => typeof d.get === "function")
    .map(([name]) => name);

function sdkMethods(resource) {
    const proto = Object.getPrototypeOf(sdk[resource]);
    return Object.getOwnPropertyNames(proto).filter(
        (m) => m !== "constructor" && !m.startsWith("_") && typeof proto[m] === "function",
    );
}

function tracked(target) {
    return new Proxy(target, {
        get(obj, resource) {
            const value = obj[resource];
            if (!RESOURCES.includes(resource)) return value;
            return new Proxy(value, {
                get(res, method) {
                    const fn = res[method];
                    if (typeof fn !== "function" || typeof method !== "string" || method.startsWith("_")) return fn;
                    return (...args) => {
                        called.add(`${resource}.${method}`);
                        return fn.apply(res, args);
                    };
                },
            });
        },
    });
}

const client = tracked(sdk);
// A client with a key the emulator never issued.
const stranger = tracked(new AgentPhoneClient({ token: "sk_live_not_a_real_key", baseUrl: BASE_URL, maxRetries: 0 }));

// ---------------------------------------------------------------------------------------------
// Helpers

/** Assert `obj` has every field of `spec` with the given JS type(s): "string", "number",
 *  "boolean", "array", "object", "null". "?" suffix = the SDK type makes it optional. */
function assertShape(obj, spec, label) {
    assert.ok(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${label}: expected an object, got ${JSON.stringify(obj)}`);
    for (const [key, want] of Object.entries(spec)) {
        const optional = want.endsWith("?");
        const kinds = want.replace(/\?$/, "").split("|");
        if (!(key in obj)) {
            assert.ok(optional, `${label}: missing field "${key}" (SDK type declares ${want}); got keys ${Object.keys(obj).join(", ")}`);
            continue;
        }
        const v = obj[key];
        const kind = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
        assert.ok(kinds.includes(kind), `${label}: field "${key}" is ${kind} (${JSON.stringify(v)}), SDK type says ${want}`);
    }
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
function assertIso(value, label) {
    assert.match(String(value), ISO, `${label}: not an ISO-8601 timestamp: ${value}`);
    assert.ok(!Number.isNaN(Date.parse(value)), `${label}: unparseable timestamp ${value}`);
}

/** The promise must reject with the SDK's AgentPhoneError carrying `status`; for 422 it must be the
 *  SDK's UnprocessableEntityError with a FastAPI `detail` list; otherwise `detail` is a message
 *  matching `detail` (a RegExp) when given. Returns the error. */
async function expectError(promise, status, detail) {
    let caught;
    await assert.rejects(promise, (err) => {
        caught = err;
        return true;
    });
    assert.ok(caught instanceof AgentPhoneError, `expected AgentPhoneError, got ${caught?.constructor?.name}: ${caught?.message}`);
    assert.equal(caught.statusCode, status, `expected HTTP ${status}, got ${caught.statusCode}: ${JSON.stringify(caught.body)}`);
    assert.ok(caught.rawResponse?.status === status, "rawResponse carries the status");
    if (status === 422) {
        assert.ok(caught instanceof AgentPhone.UnprocessableEntityError, "422 maps to UnprocessableEntityError");
        assert.ok(Array.isArray(caught.body?.detail) && caught.body.detail.length > 0, `422 detail list: ${JSON.stringify(caught.body)}`);
        for (const item of caught.body.detail) assertShape(item, { loc: "array", msg: "string", type: "string" }, "ValidationError");
    } else {
        assert.equal(typeof caught.body?.detail, "string", `error body has a string detail: ${JSON.stringify(caught.body)}`);
        if (detail) assert.match(caught.body.detail, detail);
    }
    return caught;
}

async function eventually(fn, label, timeoutMs = 8000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        last = await fn();
        if (last) return last;
        await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${label}`);
}

let phoneSeq = Math.floor(Math.random() * 9000);
/** A fresh, valid NANP number nobody in this run has used (exchange 555, line 0100-9999). */
function freshPhone(area = "415") {
    phoneSeq = (phoneSeq + 1) % 9900;
    return `+1${area}555${String(100 + phoneSeq).padStart(4, "0")}`;
}

const ids = (list) => list.map((x) => x.id);

const SHAPES = {
    agent: {
        id: "string", name: "string", description: "string|null", voiceMode: "string", voice: "string",
        createdAt: "string", enableMessaging: "boolean?", modelTier: "string?", systemPrompt: "string|null?",
        beginMessage: "string|null?", transferNumber: "string|null?", voicemailMessage: "string|null?",
        sttMode: "string?", ambientSound: "string?", denoisingMode: "string?", maxSilenceMs: "number?",
        voiceSpeed: "number?", interruptionSensitivity: "number?", enableBackchannel: "boolean?",
        language: "string?", customTools: "array|null?", numbers: "array|null?",
    },
    agentNumber: { id: "string", phoneNumber: "string", status: "string", type: "string?" },
    number: { id: "string", phoneNumber: "string", country: "string", status: "string", type: "string?", agentId: "string|null?", createdAt: "string" },
    page: { data: "array", hasMore: "boolean", total: "number" },
    cursorPage: { data: "array", hasMore: "boolean" },
    numberMessage: { id: "string", from_: "string", to: "string", body: "string", direction: "string", channel: "string|null?", receivedAt: "string" },
    convMessage: {
        id: "string", body: "string", fromNumber: "string", toNumber: "string", direction: "string",
        senderIdentifier: "string|null?", channel: "string|null?", mediaUrl: "string|null?", mediaUrls: "array?",
        receivedAt: "string", reactions: "array?", replyTo: "object|null?",
    },
    conversationSummary: {
        id: "string", agentId: "string|null?", phoneNumberId: "string", phoneNumber: "string", participant: "string",
        lastMessageAt: "string", lastMessagePreview: "string", messageCount: "number", createdAt: "string",
        isGroup: "boolean?", metadata: "object|null?",
    },
    agentConversationSummary: {
        id: "string", agentId: "string|null", phoneNumberId: "string", phoneNumber: "string", participant: "string",
        lastMessageAt: "string", lastMessagePreview: "string", messageCount: "number", createdAt: "string",
    },
    conversationDetail: {
        id: "string", agentId: "string|null?", phoneNumberId: "string", phoneNumber: "string", participant: "string",
        lastMessageAt: "string", messageCount: "number", metadata: "object|null?", createdAt: "string", messages: "array",
    },
    callSummary: {
        id: "string", agentId: "string|null", phoneNumberId: "string|null", phoneNumber: "string|null",
        fromNumber: "string", toNumber: "string", status: "string", startedAt: "string", endedAt: "string|null",
        durationSeconds: "number|null", lastTranscriptSnippet: "string|null",
    },
    contact: { id: "string", phoneNumber: "string", name: "string", email: "string|null?", notes: "string|null?", createdAt: "string", updatedAt: "string" },
    webhook: { id: "string", url: "string", secret: "string", status: "string", contextLimit: "number", timeout: "number", createdAt: "string" },
    delivery: {
        id: "string", messageId: "string|null", eventType: "string|null", channel: "string|null", status: "string",
        httpStatus: "number|null", errorMessage: "string|null", responseBody: "string|null", attemptCount: "number",
        lastAttemptAt: "string|null", nextRetryAt: "string|null", createdAt: "string",
    },
};

async function newAgent(extra = {}) {
    return client.agents.createAgent({ name: `ts-agent-${crypto.randomUUID().slice(0, 8)}`, ...extra });
}

// ---------------------------------------------------------------------------------------------
// A local webhook receiver: the emulator delivers signed POSTs here.

const received = [];
const receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        received.push({ path: req.url, headers: req.headers, raw: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
    });
});
let HOOK_BASE;

before(async () => {
    await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    HOOK_BASE = `http://127.0.0.1:${receiver.address().port}`;
});
after(() => {
    receiver.closeAllConnections?.();
    receiver.close();
});

function assertSigned(delivery, secret) {
    const signature = delivery.headers["x-webhook-signature"];
    const timestamp = delivery.headers["x-webhook-timestamp"];
    assert.ok(signature && timestamp, `signed delivery headers: ${JSON.stringify(delivery.headers)}`);
    const expected = "sha256=" + crypto.createHmac("sha256", secret).update(`${timestamp}.${delivery.raw}`).digest("hex");
    assert.equal(signature, expected, "X-Webhook-Signature = HMAC-SHA256(secret, `${timestamp}.${body}`)");
    assert.ok(Math.abs(Date.now() / 1000 - Number(timestamp)) < 300, "timestamp is current unix seconds");
}

// ---------------------------------------------------------------------------------------------

test("authentication: a wrong key is a 401 AgentPhoneError with a reason", async () => {
    const err = await expectError(stranger.agents.listAgents({}, NO_RETRY), 401, /api key/i);
    assert.ok(!(err instanceof AgentPhone.UnprocessableEntityError));
    await expectError(stranger.agents.createAgent({ name: "x" }, NO_RETRY), 401);
    await expectError(stranger.numbers.listNumbers({}, NO_RETRY), 401);
    await expectError(stranger.usage.getUsage(NO_RETRY), 401);
    // The right key on the same route works.
    const page = await client.agents.listAgents();
    assert.ok(Array.isArray(page.data));
});

test("agents: CRUD, voices, numbers relation, delete unassigns, errors", async () => {
    const voices = await client.agents.listVoices();
    assert.ok(Array.isArray(voices?.data) && voices.data.length > 0, `voices: ${JSON.stringify(voices)}`);
    for (const v of voices.data) assertShape(v, { voice_id: "string", voice_name: "string", provider: "string" }, "voice");

    const created = await client.agents.createAgent({
        name: "Support Bot",
        description: "answers the phone",
        voiceMode: "hosted",
        systemPrompt: "You are helpful.",
        beginMessage: "Hi there",
        modelTier: "turbo",
        voice: voices.data[0].voice_id,
        voiceSpeed: 1.25,
        interruptionSensitivity: 0.5,
        maxSilenceMs: 30000,
        language: "fr-FR",
        sttMode: "accurate",
        ambientSound: "office",
        enableBackchannel: false,
    });
    assertShape(created, SHAPES.agent, "AgentResponse");
    assertIso(created.createdAt, "agent.createdAt");
    assert.equal(created.name, "Support Bot");
    assert.equal(created.voiceMode, "hosted");
    assert.equal(created.systemPrompt, "You are helpful.");
    assert.equal(created.modelTier, "turbo");
    assert.equal(created.voiceSpeed, 1.25);
    assert.equal(created.language, "fr-FR");
    assert.equal(created.sttMode, "accurate");
    assert.equal(created.ambientSound, "office");
    assert.equal(created.enableBackchannel, false);
    assert.deepEqual(created.numbers ?? [], []);

    // Defaults for what was not sent.
    const plain = await client.agents.createAgent({ name: "Plain" });
    assert.equal(plain.voiceMode, "webhook");
    assert.equal(plain.modelTier, "balanced");
    assert.equal(plain.enableMessaging, true);
    assert.equal(plain.description, null);
    assert.equal(typeof plain.voice, "string");

    const got = await client.agents.getAgent({ agent_id: created.id });
    assert.deepEqual(got, created);

    const list = await client.agents.listAgents();
    assertShape(list, { data: "array", total: "number" }, "AgentListResponse");
    assert.ok(ids(list.data).includes(created.id) && ids(list.data).includes(plain.id));
    assert.equal(list.data[0].id, plain.id, "newest first");
    const skipped = await client.agents.listAgents({ offset: 1 });
    assert.equal(skipped.total, list.total);
    assert.deepEqual(ids(skipped.data), ids(list.data).slice(1, 1 + skipped.data.length));

    const updated = await client.agents.updateAgent({ agent_id: created.id, name: "Support Bot 2", voiceSpeed: 0.75 });
    assert.equal(updated.name, "Support Bot 2");
    assert.equal(updated.voiceSpeed, 0.75);
    assert.equal(updated.systemPrompt, "You are helpful.", "partial update keeps other fields");
    assert.equal((await client.agents.getAgent({ agent_id: created.id })).name, "Support Bot 2");

    // Numbers: attach shows on the agent and the number; detach and delete unassign.
    const number = await client.numbers.createNumber({ areaCode: "212" });
    const attached = await client.agents.attachNumberToAgent({ agent_id: created.id, numberId: number.id });
    assertShape(attached, { agentId: "string", number: "object" }, "AttachNumberResponse");
    assertShape(attached.number, SHAPES.agentNumber, "AttachNumberResponse.number");
    assert.equal(attached.agentId, created.id);
    assert.equal(attached.number.id, number.id);
    assert.equal(attached.number.phoneNumber, number.phoneNumber);
    const withNumber = await client.agents.getAgent({ agent_id: created.id });
    assert.deepEqual(ids(withNumber.numbers), [number.id]);
    assertShape(withNumber.numbers[0], SHAPES.agentNumber, "AgentResponse.numbers[]");
    assert.equal((await client.numbers.getNumber({ number_id: number.id })).agentId, created.id);

    // A number belongs to one agent at a time.
    await expectError(client.agents.attachNumberToAgent({ agent_id: plain.id, numberId: number.id }, NO_RETRY), 409);

    const detached = await client.agents.detachNumberFromAgent({ agent_id: created.id, number_id: number.id });
    assert.ok(detached && typeof detached === "object", `detach answers JSON: ${JSON.stringify(detached)}`);
    assert.deepEqual((await client.agents.getAgent({ agent_id: created.id })).numbers ?? [], []);
    assert.equal((await client.numbers.getNumber({ number_id: number.id })).agentId ?? null, null);
    await expectError(client.agents.detachNumberFromAgent({ agent_id: created.id, number_id: number.id }, NO_RETRY), 404);

    await client.agents.attachNumberToAgent({ agent_id: created.id, numberId: number.id });
    const calls = await client.agents.listAgentCalls({ agent_id: created.id });
    assertShape(calls, SHAPES.page, "CallListResponse");
    assert.equal(calls.total, 0);
    const convs = await client.agents.listAgentConversations({ agent_id: created.id, limit: 5, offset: 0 });
    assertShape(convs, SHAPES.page, "AppRoutesAgentsConversationListResponse");
    assert.equal(convs.total, 0);

    const deleted = await client.agents.deleteAgent({ agent_id: created.id });
    assertShape(deleted, { success: "boolean", id: "string", name: "string" }, "DeleteAgentResponse");
    assert.deepEqual([deleted.success, deleted.id, deleted.name], [true, created.id, "Support Bot 2"]);
    const orphan = await client.numbers.getNumber({ number_id: number.id });
    assert.equal(orphan.agentId ?? null, null, "deleting the agent unassigns its number");
    assert.equal(orphan.status, "active", "the number itself is kept");
    assert.ok(!ids((await client.agents.listAgents()).data).includes(created.id));

    // Errors.
    await expectError(client.agents.getAgent({ agent_id: created.id }, NO_RETRY), 404, /not found/i);
    await expectError(client.agents.getAgent({ agent_id: "agt_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.agents.updateAgent({ agent_id: "agt_nope", name: "x" }, NO_RETRY), 404);
    await expectError(client.agents.deleteAgent({ agent_id: created.id }, NO_RETRY), 404);
    await expectError(client.agents.listAgentCalls({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agents.listAgentConversations({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agents.attachNumberToAgent({ agent_id: plain.id, numberId: "num_nope" }, NO_RETRY), 404);
    await expectError(client.agents.createAgent({}, NO_RETRY), 422);
    await expectError(client.agents.createAgent({ name: "x", voiceSpeed: 9 }, NO_RETRY), 422);
    await expectError(client.agents.createAgent({ name: "x", voiceMode: "hosted" }, NO_RETRY), 422);
    await expectError(client.agents.updateAgent({ agent_id: plain.id, language: "xx-XX" }, NO_RETRY), 422);
    await client.numbers.deleteNumber({ number_id: number.id });
});

test("numbers: buy, get, list, messages, release, errors", async () => {
    const before = await client.numbers.listNumbers();
    assertShape(before, SHAPES.page, "PhoneNumberListResponse");

    const bought = await client.numbers.createNumber({ areaCode: "415" });
    assertShape(bought, SHAPES.number, "PhoneNumberResponse");
    assertIso(bought.createdAt, "number.createdAt");
    assert.match(bought.phoneNumber, /^\+1415\d{7}$/);
    assert.equal(bought.country, "US");
    assert.equal(bought.status, "active");
    assert.equal(bought.agentId ?? null, null);

    const agent = await newAgent();
    const withAgent = await client.numbers.createNumber({ country: "US", agentId: agent.id });
    assert.equal(withAgent.agentId, agent.id);
    assert.deepEqual(ids((await client.agents.getAgent({ agent_id: agent.id })).numbers), [withAgent.id]);
    const canadian = await client.numbers.createNumber({ country: "CA" });
    assert.equal(canadian.country, "CA");

    assert.deepEqual(await client.numbers.getNumber({ number_id: bought.id }), bought);

    const after = await client.numbers.listNumbers();
    assert.equal(after.total, before.total + 3);
    for (const n of after.data) assertShape(n, SHAPES.number, "PhoneNumberListResponse.data[]");
    assert.deepEqual(ids(after.data).slice(0, 3), [canadian.id, withAgent.id, bought.id], "newest first");
    const offset = await client.numbers.listNumbers({ offset: 1 });
    assert.equal(offset.data[0].id, withAgent.id);

    const messages = await client.numbers.getMessages({ number_id: bought.id, limit: 10 });
    assertShape(messages, SHAPES.cursorPage, "MessageListResponse");
    assert.deepEqual(messages.data, []);
    assert.equal(messages.hasMore, false);

    const released = await client.numbers.deleteNumber({ number_id: bought.id });
    assert.ok(released && typeof released === "object", `release answers JSON: ${JSON.stringify(released)}`);
    const afterRelease = await client.numbers.listNumbers();
    assert.ok(!ids(afterRelease.data).includes(bought.id), "released numbers leave the list");
    assert.equal(afterRelease.total, after.total - 1);
    assert.equal((await client.numbers.getNumber({ number_id: bought.id })).status, "released", "but can still be fetched");
    await expectError(client.numbers.deleteNumber({ number_id: bought.id }, NO_RETRY), 400, /released/i);

    await expectError(client.numbers.getNumber({ number_id: "num_does_not_exist" }, NO_RETRY), 404, /not found/i);
    await expectError(client.numbers.deleteNumber({ number_id: "num_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.numbers.getMessages({ number_id: "num_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.numbers.createNumber({ country: "GB" }, NO_RETRY), 422);
    await expectError(client.numbers.createNumber({ areaCode: "12" }, NO_RETRY), 422);
    await expectError(client.numbers.createNumber({ agentId: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.numbers.getMessages({ number_id: withAgent.id, limit: 100000 }, NO_RETRY), 422);

    for (const n of [withAgent, canadian]) await client.numbers.deleteNumber({ number_id: n.id });
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("contactCards: put, get, delete", async () => {
    const number = await client.numbers.createNumber({});
    const empty = await client.contactCards.getContactCard({ number_id: number.id });
    assertShape(empty, { firstName: "string|null?", lastName: "string|null?", displayName: "string|null?", hasAvatar: "boolean?" }, "ContactCardResponse");
    assert.equal(empty.firstName ?? null, null);

    const put = await client.contactCards.putContactCard({
        number_id: number.id,
        firstName: "Ada",
        lastName: "Lovelace",
        displayName: "Ada @ Acme",
        avatarUrl: "https://example.com/ada.png",
    });
    assert.deepEqual(
        [put.firstName, put.lastName, put.displayName, put.hasAvatar],
        ["Ada", "Lovelace", "Ada @ Acme", true],
    );
    assert.deepEqual(await client.contactCards.getContactCard({ number_id: number.id }), put);

    const replaced = await client.contactCards.putContactCard({ number_id: number.id, firstName: "Grace", lastName: "Hopper" });
    assert.deepEqual([replaced.firstName, replaced.displayName ?? null, replaced.hasAvatar], ["Grace", null, false], "PUT replaces the card");

    const { data, rawResponse } = await client.contactCards.deleteContactCard({ number_id: number.id }).withRawResponse();
    assert.equal(rawResponse.status, 204);
    assert.equal(data, undefined);
    assert.equal((await client.contactCards.getContactCard({ number_id: number.id })).firstName ?? null, null);

    await expectError(client.contactCards.getContactCard({ number_id: "num_nope" }, NO_RETRY), 404);
    await expectError(client.contactCards.putContactCard({ number_id: "num_nope", firstName: "A", lastName: "B" }, NO_RETRY), 404);
    await expectError(client.contactCards.deleteContactCard({ number_id: "num_nope" }, NO_RETRY), 404);
    await client.numbers.deleteNumber({ number_id: number.id });
});

test("contacts: create (201), get, list, update, capabilities, delete (204), errors", async () => {
    const phone = freshPhone("212");
    const local = `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
    const { data: created, rawResponse } = await client.contacts
        .createContact({ phoneNumber: local, name: "Grace Hopper", email: "grace@example.com", notes: "admiral" })
        .withRawResponse();
    assert.equal(rawResponse.status, 201);
    assertShape(created, SHAPES.contact, "ContactResponse");
    assert.equal(created.phoneNumber, phone, "phone normalised to E.164");
    assert.deepEqual([created.name, created.email, created.notes], ["Grace Hopper", "grace@example.com", "admiral"]);
    assertIso(created.createdAt, "contact.createdAt");

    const other = await client.contacts.createContact({ phoneNumber: freshPhone("617"), name: "Alan Turing" });
    assert.equal(other.email ?? null, null);

    assert.deepEqual(await client.contacts.getContact({ contact_id: created.id }), created);

    const list = await client.contacts.listContacts({ limit: 200 });
    assertShape(list, SHAPES.page, "ContactListResponse");
    assert.ok(ids(list.data).includes(created.id) && ids(list.data).includes(other.id));
    const one = await client.contacts.listContacts({ limit: 1, offset: 0 });
    assert.equal(one.data.length, 1);
    assert.equal(one.hasMore, true);
    assert.equal(one.total, list.total);

    const updated = await client.contacts.updateContact({ contact_id: created.id, name: "Rear Admiral Hopper", notes: null });
    assert.equal(updated.name, "Rear Admiral Hopper");
    assert.equal(updated.email, "grace@example.com", "partial update keeps other fields");
    assert.equal(updated.phoneNumber, phone);
    assert.ok(Date.parse(updated.updatedAt) >= Date.parse(created.updatedAt));
    assert.equal((await client.contacts.getContact({ contact_id: created.id })).name, "Rear Admiral Hopper");

    // The live capability check runs through one of the account's iMessage lines.
    await expectError(client.contacts.getContactCapabilities({ phone_number: phone }, NO_RETRY), 400, /iMessage/);
    const line = await client.numbers.createNumber({ type: "imessage" });
    const caps = await client.contacts.getContactCapabilities({ phone_number: phone });
    assertShape(caps, { phoneNumber: "string", capabilities: "object", checkedAt: "string" }, "ContactCapabilitiesResponse");
    assertShape(caps.capabilities, { imessage: "boolean", sms: "boolean" }, "ContactCapabilityFlags");
    assert.equal(caps.phoneNumber, phone);
    assert.equal(caps.capabilities.sms, true);
    assertIso(caps.checkedAt, "checkedAt");
    const own = await client.contacts.getContactCapabilities({ phone_number: line.phoneNumber });
    assert.equal(own.capabilities.imessage, true, "an iMessage line is iMessage-capable");

    await expectError(client.contacts.createContact({ phoneNumber: phone, name: "Dup" }, NO_RETRY), 409);
    await expectError(client.contacts.updateContact({ contact_id: other.id, phoneNumber: phone }, NO_RETRY), 409);
    await expectError(client.contacts.createContact({ phoneNumber: "not a phone", name: "X" }, NO_RETRY), 422);
    await expectError(client.contacts.createContact({ phoneNumber: freshPhone() }, NO_RETRY), 422);
    await expectError(client.contacts.getContactCapabilities({ phone_number: "nope" }, NO_RETRY), 422);

    const del = await client.contacts.deleteContact({ contact_id: created.id }).withRawResponse();
    assert.equal(del.rawResponse.status, 204);
    assert.equal(del.data, undefined);
    await expectError(client.contacts.getContact({ contact_id: created.id }, NO_RETRY), 404, /not found/i);
    await expectError(client.contacts.updateContact({ contact_id: created.id, name: "x" }, NO_RETRY), 404);
    await expectError(client.contacts.deleteContact({ contact_id: created.id }, NO_RETRY), 404);
    assert.ok(!ids((await client.contacts.listContacts({ limit: 200 })).data).includes(created.id));
    await client.contacts.deleteContact({ contact_id: other.id });
    await client.numbers.deleteNumber({ number_id: line.id });
});

test("registration: status, register (10DLC) and the status it leads to", async () => {
    const initial = await client.registration.getRegistrationStatus();
    assertShape(initial, { campaign_status: "string", message: "string", stage: "string|null?" }, "CampaignStatusResponse");

    await expectError(client.registration.registerA2P({ registration_type: "sole_proprietor" }, NO_RETRY), 422);

    const registered = await client.registration.registerA2P({
        registration_type: "sole_proprietor",
        first_name: "Ada",
        last_name: "Lovelace",
        email: "ada@example.com",
        phone_number: "+14155550123",
        street_address: "1 Market St",
        city: "San Francisco",
        state: "CA",
        zip_code: "94105",
        description: "Appointment reminders for a dental office.",
        use_cases: ["account_notification", "customer_care"],
        message_samples: [
            "Ada Lovelace Dental: your appointment is tomorrow at 10am. Reply STOP to opt out.",
            "Ada Lovelace Dental: we moved your cleaning to Friday 2pm. Reply C to confirm, STOP to opt out.",
        ],
        consent_flow: "Patients opt in on the booking form by ticking a box.",
        opt_in_image_url: "https://example.com/opt-in.png",
        create_sub_account: false,
    });
    assertShape(registered, { ok: "boolean", message: "string", campaign_status: "string", sub_account_id: "string|null?", fee_cents: "number?" }, "RegistrationResponse");
    assert.equal(registered.ok, true);
    assert.notEqual(registered.campaign_status, "none");

    const status = await client.registration.getRegistrationStatus();
    assert.equal(status.campaign_status, registered.campaign_status);
});

test("calls: outbound, get, lists, transcript, stream, end, recording, web call, errors", async () => {
    const agent = await newAgent({ voiceMode: "hosted", systemPrompt: "Be brief." });
    const number = await client.numbers.createNumber({ areaCode: "646", agentId: agent.id });
    const callee = freshPhone("303");

    const call = await client.calls.createOutboundCall({
        agentId: agent.id,
        toNumber: callee,
        initialGreeting: "Hello from the test",
        variables: { name: "Ada" },
    });
    assertShape(call, { id: "string", fromNumber: "string", toNumber: "string", status: "string", startedAt: "string" }, "create call");
    assert.equal(call.toNumber, callee);
    assert.equal(call.fromNumber, number.phoneNumber, "placed from the agent's number");
    assertIso(call.startedAt, "call.startedAt");

    const got = await client.calls.getCall({ call_id: call.id });
    assertShape(got, { ...SHAPES.callSummary, transcripts: "array?" }, "get call");
    assert.equal(got.id, call.id);
    assert.equal(got.agentId, agent.id);
    assert.equal(got.phoneNumberId, number.id);

    const all = await client.calls.listCalls();
    assertShape(all, SHAPES.page, "CallListResponse");
    for (const c of all.data) assertShape(c, SHAPES.callSummary, "CallSummary");
    assert.equal(all.data[0].id, call.id, "newest first");
    const outbound = await client.calls.listCalls({ direction: "outbound", search: callee.slice(-7) });
    assert.deepEqual(ids(outbound.data), [call.id]);
    assert.deepEqual((await client.calls.listCalls({ direction: "inbound", search: callee.slice(-7) })).data, []);
    assert.deepEqual(ids((await client.calls.listCallsForNumber({ number_id: number.id, limit: 10, offset: 0 })).data), [call.id]);
    const agentCalls = await client.agents.listAgentCalls({ agent_id: agent.id });
    assert.deepEqual(ids(agentCalls.data), [call.id]);
    assert.equal(agentCalls.total, 1);

    const transcript = await client.calls.getCallTranscript({ call_id: call.id });
    assert.ok(transcript && typeof transcript === "object", `transcript: ${JSON.stringify(transcript)}`);
    assert.ok(Array.isArray(transcript.transcript), `transcript.transcript is a list: ${JSON.stringify(transcript)}`);

    const ended = await client.calls.endCall({ call_id: call.id });
    assert.ok(ended && typeof ended === "object", `end answers JSON: ${JSON.stringify(ended)}`);
    assert.equal(ended.id, call.id);
    assert.ok(["ending", "completed"].includes(ended.status), `end status ${ended.status}`);
    const done = await eventually(async () => {
        const c = await client.calls.getCall({ call_id: call.id });
        return c.status !== "in-progress" && c.status !== "ending" ? c : null;
    }, "the call to finish");
    assert.equal(done.status, "completed");
    assertIso(done.endedAt, "call.endedAt");
    assert.equal(typeof done.durationSeconds, "number");
    await expectError(client.calls.endCall({ call_id: call.id }, NO_RETRY), 409);

    // The SDK reads the SSE stream as one text body (it has no SSE support for this endpoint), so
    // a finished call must replay and close; the Fern fetcher then hands back the raw text.
    const stream = await client.calls.streamCallTranscript({ call_id: call.id }, { timeoutInSeconds: 10 });
    const sse = typeof stream === "string" ? stream : stream?.error?.rawBody;
    assert.equal(typeof sse, "string", `SSE body: ${JSON.stringify(stream)}`);
    assert.match(sse, /^event: ended$/m, "a finished call's stream ends with an `ended` event");

    // Recording needs the $5/month add-on, which this account does not have.
    assert.equal(done.recordingAvailable ?? false, false);
    await expectError(client.calls.getCallRecording({ call_id: call.id }, NO_RETRY), 404, /recording/i);

    const web = await client.calls.createWebCall({ agentId: agent.id, metadata: { user: "u1" }, variables: { plan: "pro" } });
    assert.equal(typeof web?.accessToken, "string", `web call: ${JSON.stringify(web)}`);
    const webCalls = await client.calls.listCalls({ type: "web" });
    assert.ok(webCalls.total >= 1, "the web call is listed");
    assert.ok(!ids(webCalls.data).includes(call.id));
    const afterWeb = await client.agents.listAgentCalls({ agent_id: agent.id });
    assert.equal(afterWeb.total, 2);

    await expectError(client.calls.getCall({ call_id: "call_does_not_exist" }, NO_RETRY), 404, /not found/i);
    await expectError(client.calls.endCall({ call_id: "call_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.calls.getCallTranscript({ call_id: "call_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.calls.streamCallTranscript({ call_id: "call_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.calls.getCallRecording({ call_id: "call_does_not_exist" }, NO_RETRY), 404);
    await expectError(client.calls.listCallsForNumber({ number_id: "num_nope" }, NO_RETRY), 404);
    await expectError(client.calls.createOutboundCall({ agentId: "agt_nope", toNumber: freshPhone() }, NO_RETRY), 404);
    await expectError(client.calls.createOutboundCall({ agentId: agent.id, toNumber: "12" }, NO_RETRY), 422);
    await expectError(client.calls.createOutboundCall({ agentId: agent.id }, NO_RETRY), 422);
    await expectError(client.calls.createWebCall({ agentId: "agt_nope" }, NO_RETRY), 404);
    const numberless = await newAgent({ voiceMode: "hosted", systemPrompt: "x" });
    await expectError(client.calls.createOutboundCall({ agentId: numberless.id, toNumber: callee }, NO_RETRY), 400, /number/i);
    await client.agents.deleteAgent({ agent_id: numberless.id });

    await client.numbers.deleteNumber({ number_id: number.id });
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("messages and conversations: send, thread, metadata, reactions, typing, background", async () => {
    // Outbound SMS needs the 10DLC registration made by the registration group above.
    const agent = await newAgent();
    const sms = await client.numbers.createNumber({ areaCode: "512", agentId: agent.id });
    const to = freshPhone("713");

    const sent = await client.messages.sendMessage({ agent_id: agent.id, to_number: to, body: "Your order shipped" });
    assertShape(
        sent,
        { id: "string", status: "string", channel: "string", from_number: "string", to_number: "string", conversation_id: "string|null?", media_urls: "array?" },
        "SendMessageResponse",
    );
    assert.equal(sent.from_number, sms.phoneNumber);
    assert.equal(sent.to_number, to);
    assert.equal(sent.channel, "sms");
    assert.equal(typeof sent.conversation_id, "string");

    const second = await client.messages.sendMessage({ number_id: sms.id, to_number: to, body: "Track it here", media_url: "https://example.com/map.png" });
    assert.equal(second.conversation_id, sent.conversation_id, "same participant, same thread");

    const numberMessages = await client.numbers.getMessages({ number_id: sms.id });
    assertShape(numberMessages, SHAPES.cursorPage, "MessageListResponse");
    for (const m of numberMessages.data) assertShape(m, SHAPES.numberMessage, "MessageResponse");
    assert.deepEqual(ids(numberMessages.data), [second.id, sent.id], "newest first");
    assert.equal(numberMessages.data[1].body, "Your order shipped");
    assert.equal(numberMessages.data[1].direction, "outbound");
    const paged = await client.numbers.getMessages({ number_id: sms.id, limit: 1 });
    assert.deepEqual([ids(paged.data), paged.hasMore], [[second.id], true]);
    const older = await client.numbers.getMessages({ number_id: sms.id, before: numberMessages.data[0].receivedAt });
    assert.ok(!ids(older.data).includes(second.id), "`before` excludes the cursor message");

    const convs = await client.conversations.listConversations();
    assertShape(convs, SHAPES.page, "AppRoutesConversationsConversationListResponse");
    const summary = convs.data.find((c) => c.id === sent.conversation_id);
    assert.ok(summary, "the thread is listed");
    assertShape(summary, SHAPES.conversationSummary, "ConversationSummary");
    assert.deepEqual([summary.participant, summary.phoneNumber, summary.phoneNumberId, summary.messageCount], [to, sms.phoneNumber, sms.id, 2]);
    assert.equal(summary.lastMessagePreview, "Track it here");

    const agentConvs = await client.agents.listAgentConversations({ agent_id: agent.id });
    assert.deepEqual(ids(agentConvs.data), [sent.conversation_id]);
    assertShape(agentConvs.data[0], SHAPES.agentConversationSummary, "AgentConversationSummary");

    const detail = await client.conversations.getConversation({ conversation_id: sent.conversation_id, message_limit: 1 });
    assertShape(detail, SHAPES.conversationDetail, "ConversationDetail");
    assert.equal(detail.messages.length, 1, "message_limit caps the embedded messages");
    assertShape(detail.messages[0], SHAPES.convMessage, "MessageInConversation");
    assert.equal(detail.messageCount, 2);

    const updated = await client.conversations.updateConversation({
        conversation_id: sent.conversation_id,
        metadata: { orderId: "A-1", vip: true },
    });
    assert.deepEqual(updated.metadata, { orderId: "A-1", vip: true });
    const replaced = await client.conversations.updateConversation({ conversation_id: sent.conversation_id, metadata: { step: 2 } });
    assert.deepEqual(replaced.metadata, { step: 2 }, "metadata is replaced, not merged");
    assert.deepEqual((await client.conversations.getConversation({ conversation_id: sent.conversation_id })).metadata, { step: 2 });

    const thread = await client.conversations.getConversationMessages({ conversation_id: sent.conversation_id, limit: 50 });
    assertShape(thread, SHAPES.cursorPage, "MessagesListResponse");
    assert.deepEqual(ids(thread.data), [second.id, sent.id]);
    for (const m of thread.data) assertShape(m, SHAPES.convMessage, "MessageInConversation");
    assert.equal(thread.data[1].fromNumber, sms.phoneNumber);
    assert.equal(thread.data[1].toNumber, to);

    // SMS has no reactions, typing or backgrounds.
    await expectError(client.messages.sendReaction({ message_id: sent.id, reaction: "love" }, NO_RETRY), 400);

    // iMessage: the JS client forwards `type` although the TS request type does not declare it.
    const imsg = await client.numbers.createNumber({ type: "imessage", agentId: agent.id });
    assert.equal(imsg.type, "imessage");
    const blue = await client.messages.sendMessage({ number_id: imsg.id, to_number: freshPhone("650"), body: "hi", send_style: "confetti" });
    assert.equal(blue.channel, "imessage");
    const reaction = await client.messages.sendReaction({ message_id: blue.id, reaction: "love" });
    assertShape(reaction, { id: "string", reaction_type: "string", message_id: "string", channel: "string" }, "SendReactionResponse");
    assert.deepEqual([reaction.reaction_type, reaction.message_id, reaction.channel], ["love", blue.id, "imessage"]);
    const reacted = await client.conversations.getConversationMessages({ conversation_id: blue.conversation_id });
    const reactions = reacted.data.find((m) => m.id === blue.id).reactions ?? [];
    assert.equal(reactions.length, 1, "the reaction shows on the message");
    assertShape(reactions[0], { id: "string", reactionType: "string", fromNumber: "string", direction: "string", createdAt: "string" }, "ReactionInConversation");

    const reply = await client.messages.sendMessage({ number_id: imsg.id, to_number: blue.to_number, body: "replying", reply_to_message_id: blue.id });
    assert.equal(reply.reply_to_message_id, blue.id);
    assert.equal(reply.conversation_id, blue.conversation_id);
    const replied = (await client.conversations.getConversationMessages({ conversation_id: blue.conversation_id })).data.find((m) => m.id === reply.id);
    assertShape(replied.replyTo, { messageId: "string", message: "string", mediaUrls: "array?" }, "ReplyToInConversation");
    assert.deepEqual([replied.replyTo.messageId, replied.replyTo.message], [blue.id, "hi"]);

    // iMessage groups: `recipients` opens a group thread; `group_name` (snake) renames it.
    const members = [freshPhone("408"), freshPhone("408")];
    const group = await client.messages.sendMessage({ number_id: imsg.id, recipients: members, body: "hello all" });
    assert.match(group.to_number, /^grp_/);
    const groupConv = await client.conversations.updateConversation({ conversation_id: group.conversation_id, group_name: "Launch crew" });
    assertShape(groupConv, { ...SHAPES.conversationDetail, isGroup: "boolean", groupId: "string|null", groupName: "string|null", participants: "array|null" }, "group ConversationDetail");
    assert.deepEqual([groupConv.isGroup, groupConv.groupName, groupConv.participant], [true, "Launch crew", group.to_number]);
    for (const p of groupConv.participants) assertShape(p, { identifier: "string", name: "string|null?" }, "GroupParticipant");
    assert.deepEqual(groupConv.participants.map((p) => p.identifier).sort(), [...members].sort());
    const listedGroup = (await client.conversations.listConversations()).data.find((c) => c.id === group.conversation_id);
    assert.deepEqual([listedGroup.isGroup, listedGroup.groupName], [true, "Launch crew"]);

    const typing = await client.conversations.sendTypingIndicator({ conversation_id: blue.conversation_id });
    assertShape(typing, { conversationId: "string", channel: "string", status: "string" }, "SendTypingResponse");
    assert.equal(typing.conversationId, blue.conversation_id);

    const bg = await client.conversations.setChatBackground({ conversation_id: blue.conversation_id, image_url: "https://example.com/bg.png" });
    assertShape(bg, { conversationId: "string", channel: "string", hasBackground: "boolean", changed: "boolean", backgroundId: "string|null?", backgroundVersion: "number|null?" }, "SetBackgroundResponse");
    assert.deepEqual([bg.hasBackground, bg.changed], [true, true]);
    const removed = await client.conversations.removeChatBackground({ conversation_id: blue.conversation_id }).withRawResponse();
    assert.equal(removed.rawResponse.status, 204);
    assert.equal(removed.data, undefined);

    await expectError(client.conversations.sendTypingIndicator({ conversation_id: sent.conversation_id }, NO_RETRY), 400);
    await expectError(client.conversations.getConversation({ conversation_id: "conv_nope" }, NO_RETRY), 404, /not found/i);
    await expectError(client.conversations.updateConversation({ conversation_id: "conv_nope", metadata: {} }, NO_RETRY), 404);
    await expectError(client.conversations.getConversationMessages({ conversation_id: "conv_nope" }, NO_RETRY), 404);
    await expectError(client.conversations.sendTypingIndicator({ conversation_id: "conv_nope" }, NO_RETRY), 404);
    await expectError(client.conversations.setChatBackground({ conversation_id: "conv_nope", image_url: "https://example.com/x.png" }, NO_RETRY), 404);
    await expectError(client.conversations.removeChatBackground({ conversation_id: "conv_nope" }, NO_RETRY), 404);
    await expectError(client.messages.sendReaction({ message_id: "msg_nope", reaction: "like" }, NO_RETRY), 404);
    await expectError(client.messages.sendMessage({ agent_id: agent.id, to_number: to }, NO_RETRY), 422);
    await expectError(client.messages.sendMessage({ agent_id: "agt_nope", to_number: to, body: "x" }, NO_RETRY), 404);
    await expectError(client.messages.sendMessage({ agent_id: agent.id, to_number: "nope", body: "x" }, NO_RETRY), 422);

    // Paging forward from a message's own timestamp must not return that message again.
    const afterFirst = await client.conversations.getConversationMessages({ conversation_id: sent.conversation_id, after: thread.data[1].receivedAt });
    assert.deepEqual(ids(afterFirst.data), [second.id], "`after` = a message's receivedAt excludes that message");
    const newer = await client.numbers.getMessages({ number_id: sms.id, after: numberMessages.data[1].receivedAt });
    assert.deepEqual(ids(newer.data), [second.id], "`after` on number messages too");

    for (const n of [sms, imsg]) await client.numbers.deleteNumber({ number_id: n.id });
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("webhooks: account webhook CRUD, signed test delivery, deliveries and stats", async () => {
    await client.webhooks.deleteWebhook().catch(() => undefined);
    assert.equal(await client.webhooks.getWebhook(), null, "no webhook configured -> null");

    const url = `${HOOK_BASE}/account`;
    const hook = await client.webhooks.createOrUpdateWebhook({ body: { url, contextLimit: 5, timeout: 20 } });
    assertShape(hook, SHAPES.webhook, "WebhookResponse");
    assert.deepEqual([hook.url, hook.contextLimit, hook.timeout, hook.status], [url, 5, 20, "active"]);
    assert.match(hook.secret, /^whsec_/);
    assert.deepEqual(await client.webhooks.getWebhook(), hook);

    const rotated = await client.webhooks.createOrUpdateWebhook({ body: { url, contextLimit: 0, timeout: 120 } });
    assert.notEqual(rotated.secret, hook.secret, "every POST issues a new secret");
    assert.equal(rotated.id, hook.id, "one account webhook, updated in place");
    assert.deepEqual([rotated.contextLimit, rotated.timeout], [0, 120]);
    assert.deepEqual(await client.webhooks.getWebhook(), rotated);

    const statsBefore = await client.webhooks.allTimeStats();
    assertShape(statsBefore, { total: "number", success: "number", failed: "number", successRate: "number" }, "AllTimeStatsResponse");

    const agent = await newAgent();
    const seen = received.length;
    const result = await client.webhooks.testWebhook({ agentId: agent.id });
    assert.ok(result && typeof result === "object", `test webhook answers JSON: ${JSON.stringify(result)}`);
    const delivery = await eventually(() => received.slice(seen).find((r) => r.path === "/account"), "the test delivery");
    assertSigned(delivery, rotated.secret);
    const payload = JSON.parse(delivery.raw);
    assert.equal(payload.event, "agent.message");
    assert.equal(typeof payload.timestamp, "string");

    const deliveries = await eventually(async () => {
        const page = await client.webhooks.listDeliveries({ limit: 10, offset: 0, hours: 24 });
        return page.items?.some((d) => d.status === "success") ? page : null;
    }, "a successful delivery to be listed");
    assertShape(deliveries, { items: "array", total: "number", offset: "number", limit: "number" }, "PaginatedDeliveriesResponse");
    for (const d of deliveries.items) assertShape(d, SHAPES.delivery, "WebhookDeliveryResponse");
    assert.equal(deliveries.limit, 10);
    assert.equal(deliveries.items[0].httpStatus, 200);

    const stats = await client.webhooks.deliveryStats({ hours: 24 });
    assertShape(
        stats,
        { total: "number", success: "number", failed: "number", pending: "number", successRate: "number", byEventType: "object", byHour: "array" },
        "WebhookDeliveryStatsResponse",
    );
    assert.ok(stats.total >= 1 && stats.success >= 1);
    const allTime = await client.webhooks.allTimeStats();
    assert.equal(allTime.total, statsBefore.total + 1);
    assert.equal(allTime.success, statsBefore.success + 1);

    await expectError(client.webhooks.createOrUpdateWebhook({ body: { url, contextLimit: 99 } }, NO_RETRY), 422);
    await expectError(client.webhooks.createOrUpdateWebhook({ body: {} }, NO_RETRY), 422);
    await expectError(client.webhooks.createOrUpdateWebhook({ body: { url: "not a url" } }, NO_RETRY), 422);
    await expectError(client.webhooks.deliveryStats({ hours: 100000 }, NO_RETRY), 422);

    const deleted = await client.webhooks.deleteWebhook();
    assert.ok(deleted && typeof deleted === "object", `delete answers JSON: ${JSON.stringify(deleted)}`);
    assert.equal(await client.webhooks.getWebhook(), null);
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("agentWebhooks: per-agent webhook CRUD, signed test delivery, deliveries", async () => {
    const agent = await newAgent();
    assert.equal(await client.agentWebhooks.getAgentWebhook({ agent_id: agent.id }), null);

    const url = `${HOOK_BASE}/agent/${agent.id}`;
    const hook = await client.agentWebhooks.createOrUpdateAgentWebhook({ agent_id: agent.id, body: { url, contextLimit: 3 } });
    assertShape(hook, SHAPES.webhook, "WebhookResponse");
    assert.deepEqual([hook.url, hook.contextLimit], [url, 3]);
    assert.deepEqual(await client.agentWebhooks.getAgentWebhook({ agent_id: agent.id }), hook);

    const seen = received.length;
    const result = await client.agentWebhooks.testAgentWebhook({ agent_id: agent.id });
    assert.ok(result && typeof result === "object", `test answers JSON: ${JSON.stringify(result)}`);
    const delivery = await eventually(() => received.slice(seen).find((r) => r.path === `/agent/${agent.id}`), "the agent test delivery");
    assertSigned(delivery, hook.secret);

    const deliveries = await eventually(async () => {
        const list = await client.agentWebhooks.listAgentDeliveries({ agent_id: agent.id, limit: 5 });
        assert.ok(Array.isArray(list), `agent deliveries are a bare array: ${JSON.stringify(list)}`);
        return list.length > 0 ? list : null;
    }, "the agent delivery to be listed");
    for (const d of deliveries) assertShape(d, SHAPES.delivery, "WebhookDeliveryResponse");

    await client.agentWebhooks.deleteAgentWebhook({ agent_id: agent.id });
    assert.equal(await client.agentWebhooks.getAgentWebhook({ agent_id: agent.id }), null);

    await expectError(client.agentWebhooks.getAgentWebhook({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agentWebhooks.createOrUpdateAgentWebhook({ agent_id: "agt_nope", body: { url } }, NO_RETRY), 404);
    await expectError(client.agentWebhooks.deleteAgentWebhook({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agentWebhooks.listAgentDeliveries({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agentWebhooks.testAgentWebhook({ agent_id: "agt_nope" }, NO_RETRY), 404);
    await expectError(client.agentWebhooks.createOrUpdateAgentWebhook({ agent_id: agent.id, body: { url, timeout: 1 } }, NO_RETRY), 422);
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("usage: summary, daily, monthly, by number, by agent", async () => {
    const agent = await newAgent();
    const number = await client.numbers.createNumber({ agentId: agent.id });

    const usage = await client.usage.getUsage();
    assertShape(usage, { plan: "object", numbers: "object", stats: "object", periodStart: "string", periodEnd: "string" }, "UsageResponse");
    assertShape(usage.plan, { name: "string", limits: "object" }, "PlanInfo");
    assertShape(usage.numbers, { used: "number", limit: "number", remaining: "number" }, "NumberLimits");
    const active = await client.numbers.listNumbers();
    assert.equal(usage.numbers.used, active.total);
    assert.equal(usage.numbers.remaining, usage.numbers.limit - usage.numbers.used);
    assert.equal(usage.numbers.limit, 50);
    assert.ok(usage.stats.totalMessages >= 2 && usage.stats.totalCalls >= 1, "earlier groups' traffic is counted");

    const daily = await client.usage.getDailyUsage({ days: 7 });
    assertShape(daily, { data: "array", days: "number" }, "DailyUsageResponse");
    assert.equal(daily.days, 7);
    assert.equal(daily.data.length, 7);
    for (const p of daily.data) assertShape(p, { date: "string", messages: "number", calls: "number", webhooks: "number" }, "DailyUsagePoint");
    assert.ok(daily.data.reduce((s, p) => s + p.messages, 0) >= 2);

    const monthly = await client.usage.getMonthlyUsage({ months: 3 });
    assertShape(monthly, { data: "array", months: "number" }, "MonthlyUsageResponse");
    assert.equal(monthly.months, 3);
    assert.equal(monthly.data.length, 3);
    for (const p of monthly.data) assertShape(p, { month: "string", messages: "number", calls: "number", webhooks: "number" }, "MonthlyUsagePoint");
    assert.equal((await client.usage.getMonthlyUsage()).months, 6, "default months");

    const byNumber = await client.usage.getUsageByNumber();
    assertShape(byNumber, { data: "array" }, "NumberUsageResponse");
    const row = byNumber.data.find((r) => r.numberId === number.id);
    assert.ok(row, "the new number has a usage row");
    assertShape(row, { numberId: "string", phoneNumber: "string", country: "string", status: "string", agentId: "string|null?", agentName: "string|null?", messages: "number", calls: "number" }, "NumberUsageItem");
    assert.deepEqual([row.phoneNumber, row.agentId, row.agentName, row.messages, row.calls], [number.phoneNumber, agent.id, agent.name, 0, 0]);

    const byAgent = await client.usage.getUsageByAgent({ period: "month", tz: "America/New_York" });
    assertShape(byAgent, { data: "array", period: "string", periodStart: "string", periodEnd: "string" }, "AgentUsageResponse");
    assert.equal(byAgent.period, "month");
    for (const r of byAgent.data) assertShape(r, { agentId: "string|null", agentName: "string", messages: "number", calls: "number", totalSeconds: "number", isOrphan: "boolean?" }, "AgentUsageItem");
    assert.equal((await client.usage.getUsageByAgent({ period: "week" })).period, "week");

    const statKeys = [
        "totalMessages", "messagesLast24h", "messagesLast7d", "messagesLast30d", "totalCalls", "callsLast24h",
        "callsLast7d", "callsLast30d", "totalWebhookDeliveries", "successfulWebhookDeliveries", "failedWebhookDeliveries",
    ];
    assertShape(usage.stats, Object.fromEntries(statKeys.map((k) => [k, "number"])), "UsageStats");
    assert.ok(usage.stats.messagesLast24h >= 2 && usage.stats.callsLast24h >= 1, "today's traffic is in the 24h window");

    await expectError(client.usage.getDailyUsage({ days: 0 }, NO_RETRY), 422);
    await expectError(client.usage.getMonthlyUsage({ months: 1000 }, NO_RETRY), 422);
    await expectError(client.usage.getUsageByAgent({ period: "decade" }, NO_RETRY), 422);

    await client.numbers.deleteNumber({ number_id: number.id });
    await client.agents.deleteAgent({ agent_id: agent.id });
});

test("subAccounts: create, list, update, scope requests with X-Sub-Account-Id, delete", async () => {
    const created = await client.subAccounts.createSubAccount({ name: "Tenant A" });
    assert.ok(created && typeof created.id === "string", `sub-account: ${JSON.stringify(created)}`);
    assert.equal(created.name, "Tenant A");

    const list = await client.subAccounts.listSubAccounts({ limit: 50, offset: 0 });
    assert.ok(Array.isArray(list?.data), `list: ${JSON.stringify(list)}`);
    assert.ok(ids(list.data).includes(created.id));

    const renamed = await client.subAccounts.updateSubAccount({ sub_account_id: created.id, name: "Tenant B" });
    assert.equal(renamed.name, "Tenant B");
    assert.equal((await client.subAccounts.listSubAccounts()).data.find((s) => s.id === created.id).name, "Tenant B");

    // The SDK's X-Sub-Account-Id request field scopes the call to the sub-account.
    const scoped = await client.agents.createAgent({ name: "Tenant agent", "X-Sub-Account-Id": created.id });
    assert.deepEqual(ids((await client.agents.listAgents({ "X-Sub-Account-Id": created.id })).data), [scoped.id]);
    assert.ok(!ids((await client.agents.listAgents()).data).includes(scoped.id), "invisible to the parent account");
    assert.equal((await client.agents.getAgent({ agent_id: scoped.id, "X-Sub-Account-Id": created.id })).name, "Tenant agent");
    await expectError(client.agents.getAgent({ agent_id: scoped.id }, NO_RETRY), 404);
    await client.agents.deleteAgent({ agent_id: scoped.id, "X-Sub-Account-Id": created.id });

    const deleted = await client.subAccounts.deleteSubAccount({ sub_account_id: created.id });
    assert.ok(deleted && typeof deleted === "object", `delete answers JSON: ${JSON.stringify(deleted)}`);
    assert.ok(!ids((await client.subAccounts.listSubAccounts()).data).includes(created.id));

    await expectError(client.agents.listAgents({ "X-Sub-Account-Id": created.id }, NO_RETRY), 404, /sub-account/i);
    await expectError(client.subAccounts.updateSubAccount({ sub_account_id: created.id, name: "x" }, NO_RETRY), 404);
    await expectError(client.subAccounts.deleteSubAccount({ sub_account_id: created.id }, NO_RETRY), 404);
    await expectError(client.subAccounts.createSubAccount({}, NO_RETRY), 422);
});

test("location: lookup of an own number, refresh, errors", async () => {
    const number = await client.numbers.createNumber({ areaCode: "617" });
    const shape = { phoneNumber: "string", latitude: "number|null?", longitude: "number|null?", status: "string", lastUpdated: "number" };
    const before = await client.location.getLocation({ phone_number: number.phoneNumber });
    assertShape(before, shape, "LocationResponse");
    assert.equal(before.phoneNumber, number.phoneNumber);

    const refresh = await client.location.refreshLocations();
    assertShape(refresh, { success: "boolean", pollAfterSeconds: "number?" }, "LocationRefreshResponse");
    assert.equal(refresh.success, true);

    const located = await eventually(async () => {
        const l = await client.location.getLocation({ phone_number: number.phoneNumber });
        return typeof l.latitude === "number" ? l : null;
    }, "a location after the refresh");
    assertShape(located, shape, "LocationResponse");
    assert.ok(Math.abs(located.latitude) <= 90 && Math.abs(located.longitude) <= 180);
    assert.ok(located.lastUpdated >= before.lastUpdated && located.lastUpdated > 1e9, "lastUpdated is unix seconds");

    await expectError(client.location.getLocation({ phone_number: freshPhone("202") }, NO_RETRY), 404);
    await client.numbers.deleteNumber({ number_id: number.id });
    await expectError(client.location.getLocation({ phone_number: number.phoneNumber }, NO_RETRY), 404);
});

test("coverage: every method of every TS SDK resource was exercised", () => {
    const all = RESOURCES.flatMap((r) => sdkMethods(r).map((m) => `${r}.${m}`));
    const missing = all.filter((m) => !called.has(m));
    console.log(`# TS SDK methods exercised: ${all.length - missing.length}/${all.length}`);
    assert.deepEqual(missing, [], "SDK methods not exercised");
});
