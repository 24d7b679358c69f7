// The test helpers, free of any test framework: an emulator for a test file (started once, reset
// before each test, findings checked after each), agents put on a number with their webhook
// pointed at the user's server, calls and texts driven through the control plane, and assertions
// on findings. ./node-test.js and ./vitest.js hang this on their frameworks' hooks. It mirrors the
// Python plugin (pytest_agentphone: make_agent, AgentUnderTest, assert_findings).

import { AssertionError } from "node:assert";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

import { DEFAULT_CALLER } from "./control.js";
import { startEmulator } from "./launcher.js";

const SEVERITY_RANK = { info: 0, warning: 1, error: 2 };
const ENV_NAMES = ["AGENTPHONE_BASE_URL", "AGENTPHONE_API_KEY", "AGENTPHONE_WEBHOOK_SECRET"];

/** makeAgent could not set the agent up: one line naming the field or the API's answer. */
export class ProvisionError extends Error {
  constructor(message) {
    super(`makeAgent: ${message}`);
    this.name = "ProvisionError";
  }
}

function rank(severity) {
  return SEVERITY_RANK[severity] ?? SEVERITY_RANK.error; // an unknown severity counts as an error
}

/** One finding on one line: `[code] severity: message (call ..., turn N)`. */
export function describeFinding(finding) {
  const where = [];
  if (finding.event) where.push(finding.event + (finding.channel ? `/${finding.channel}` : ""));
  if (finding.callId) where.push(`call ${finding.callId}${finding.turn !== null && finding.turn !== undefined ? ` turn ${finding.turn}` : ""}`);
  if (finding.messageId) where.push(`message ${finding.messageId}`);
  if (finding.deliveryId) where.push(`delivery ${finding.deliveryId}${finding.attempt ? ` attempt ${finding.attempt}` : ""}`);
  const offending = finding.offending ? `\n      offending: ${JSON.stringify(finding.offending.slice(0, 200))}` : "";
  return `  [${finding.code}] ${finding.severity}: ${finding.message}${where.length ? ` (${where.join(", ")})` : ""}${offending}`;
}

function describeAll(findings) {
  return findings.length === 0 ? "  (none)" : findings.map(describeFinding).join("\n");
}

function matcherOf(wanted) {
  if (typeof wanted === "string") return { code: wanted };
  if (wanted && typeof wanted === "object" && !Array.isArray(wanted)) return wanted;
  throw new TypeError(`assertFindings: expected a code or {code, severity, ...}, got ${JSON.stringify(wanted)}`);
}

function matches(finding, matcher) {
  return Object.entries(matcher).every(([key, value]) => value === undefined || finding[key] === value);
}

function showMatcher(matcher) {
  return `{${Object.entries(matcher)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join(", ")}}`;
}

/**
 * Assert that each of `wanted` (a code, or {code, severity, callId, turn, ...} matched field by
 * field) is among `findings`; returns the findings that matched. The message lists what was found.
 */
export function assertFindings(findings, ...wanted) {
  if (wanted.length === 0) throw new TypeError("assertFindings: name at least one finding: a code or {code, severity}");
  const matched = [];
  for (const want of wanted) {
    const matcher = matcherOf(want);
    const hits = findings.filter((finding) => matches(finding, matcher));
    if (hits.length === 0) {
      throw new AssertionError({
        message:
          `expected a finding ${showMatcher(matcher)}; ` +
          `${findings.length === 0 ? "there were none" : `found ${findings.length}:\n${describeAll(findings)}`}`,
        actual: findings.map((finding) => ({ code: finding.code, severity: finding.severity })),
        expected: matcher,
        operator: "assertFindings",
        stackStartFn: assertFindings,
      });
    }
    for (const hit of hits) if (!matched.includes(hit)) matched.push(hit);
  }
  return matched;
}

/**
 * Assert that nothing at `severity` (default "warning") or above was found, but codes in `allow`.
 */
export function assertNoFindings(findings, { allow = [], severity = "warning" } = {}) {
  if (!(severity in SEVERITY_RANK)) {
    throw new TypeError(`assertNoFindings: severity is one of info, warning, error; got ${JSON.stringify(severity)}`);
  }
  const floor = rank(severity);
  const bad = findings.filter((finding) => rank(finding.severity) >= floor && !allow.includes(finding.code));
  if (bad.length > 0) {
    throw new AssertionError({
      message: `expected no findings at ${severity} or above; found ${bad.length}:\n${describeAll(bad)}`,
      actual: bad.map((finding) => ({ code: finding.code, severity: finding.severity })),
      expected: [],
      operator: "assertNoFindings",
      stackStartFn: assertNoFindings,
    });
  }
}

/** A call as the simulated caller holds it: act on it, read the replies, transcript and findings. */
export class Call {
  constructor(harness, view) {
    this.harness = harness;
    this._update(view);
  }

  _update(view) {
    /** The control plane's view of the call (CallSimOut). */
    this.view = view;
    this.id = view.callId;
    this.status = view.status;
    this.live = view.live;
    this.disconnectionReason = view.disconnectionReason;
    this.transferredTo = view.transferredTo;
    this.replies = view.replies;
    this.transcript = view.transcript;
    this.keyPresses = view.keyPresses;
    this.findings = view.findings;
  }

  /** The agent's first words (its beginMessage), or null. */
  get greeting() {
    return this.replies.find((reply) => reply.mode === "greeting") ?? null;
  }

  /** The latest reply, or null. */
  get lastReply() {
    return this.replies.at(-1) ?? null;
  }

  async _act(action) {
    const before = this.replies.length;
    this._update(await action());
    return this.replies.length > before ? this.replies.at(-1) : null;
  }

  /** The caller says `text` once the agent is quiet; the agent's reply (with listen: false, as far as it got). */
  say(text, options) {
    return this._act(() => this.harness.control.say(this.id, text, options));
  }

  /** The caller talks over the reply playing, `after` seconds into it; the reply to the interruption. */
  interrupt(text, options) {
    return this._act(() => this.harness.control.interrupt(this.id, text, options));
  }

  /** The caller presses `digits` (DTMF); the agent's reply. */
  press(digits) {
    return this._act(() => this.harness.control.press(this.id, digits));
  }

  /** The caller says nothing for `seconds` (past the agent's maxSilenceMs the call ends). */
  silence(seconds) {
    return this._act(() => this.harness.control.silence(this.id, seconds));
  }

  /** The caller lets the agent finish what it is saying. */
  listen() {
    return this._act(() => this.harness.control.listen(this.id));
  }

  /** The caller hangs up. */
  async hangup() {
    await this._act(() => this.harness.control.hangup(this.id));
    return this;
  }

  /** Read the call again (e.g. after the agent hung up on its own). */
  async refresh() {
    this._update(await this.harness.control.getCall(this.id));
    return this;
  }

  /** The transcript as text: one `role: content` line per utterance. */
  transcriptText() {
    return this.transcript.map((line) => `${line.role}: ${line.content}`).join("\n");
  }

  /** Assert findings on this call (see assertFindings); names them as expected for the teardown check. */
  assertFindings(...wanted) {
    return this.harness._expect(assertFindings(this.findings, ...wanted));
  }

  /** Assert no findings on this call at `severity` or above. */
  assertNoFindings(options) {
    assertNoFindings(this.findings, options);
  }
}

/** An agent on its own number, its webhook pointed at the user's server: what makeAgent returns. */
export class Agent {
  constructor(harness, { id, name, number, numberId, webhookUrl, secret, agent }) {
    this.harness = harness;
    this.id = id;
    this.name = name;
    this.number = number;
    this.numberId = numberId;
    this.webhookUrl = webhookUrl;
    this.secret = secret;
    /** The agent as POST /v1/agents answered it. */
    this.agent = agent;
  }

  /** Call the agent; the call once it answers, its greeting played (call.greeting). */
  async ring({ from = DEFAULT_CALLER, script, limit } = {}) {
    return new Call(this.harness, await this.harness.control.ring({ to: this.number, from, script, limit }));
  }

  /**
   * Text the agent; answers after its webhook's first attempt, with the texts it sent back
   * meanwhile (and up to replyWithinSeconds more).
   */
  text(body, { from = DEFAULT_CALLER, mediaUrls, replyWithinSeconds } = {}) {
    return this.harness.control.sendSms({ from, to: this.number, body, mediaUrls, replyWithinSeconds });
  }

  /** Every message on the agent's number, both ways, oldest first (GET /v1/numbers/{id}/messages). */
  async messages() {
    const all = [];
    let before;
    for (;;) {
      const query = new URLSearchParams({ limit: "200", ...(before ? { before } : {}) });
      const page = await this.harness.control.v1("GET", `/v1/numbers/${this.numberId}/messages?${query}`);
      all.push(...page.data);
      if (!page.hasMore || page.data.length === 0) break;
      before = page.data.at(-1).receivedAt ?? page.data.at(-1).createdAt;
    }
    return all.reverse(); // the API answers newest first; on a virtual clock many share a timestamp
  }

  /** The bodies of what the agent texted to `phone` (default: the default texter), oldest first. */
  async textsTo(phone = DEFAULT_CALLER) {
    return (await this.messages())
      .filter((message) => message.direction === "outbound" && message.toNumber === phone)
      .map((message) => message.body);
  }

  /** The findings on this agent's events (and those tied to no agent), oldest first. */
  findings() {
    return this.harness.control.findings({ agentId: this.id });
  }

  /** Assert findings on this agent's events; names them as expected for the teardown check. */
  async assertFindings(...wanted) {
    return this.harness._expect(assertFindings(await this.findings(), ...wanted));
  }

  /** Assert nothing at `severity` (default warning) or above was found on this agent's events. */
  async assertNoFindings(options) {
    assertNoFindings(await this.findings(), options);
  }
}

/** Which part of POST /__emulator/agents a refusal was about, as the three-request path says it. */
function partOf(error, url) {
  const where = Array.isArray(error.body?.detail) ? error.body.detail.map((item) => item.loc?.[1]) : [];
  if (error.status === 402 || where.includes("number") || (error.status === 409 && /number/i.test(error.detail ?? ""))) {
    return "buying its number";
  }
  if (where.includes("webhook") || error.code === "APP_IMPORT_NOT_ALLOWED") return url;
  return "creating the agent";
}

function creditHint(error) {
  if (error.status === 402) return " (more credit: useAgentPhone({ account: { creditCents: 10000 } }) or configure())";
  if (error.status === 409 && /number/i.test(error.detail ?? "")) return " (more numbers: account: { numberLimit: ... })";
  return "";
}

function isListener(target) {
  return typeof target === "function" || (target && typeof target.listen === "function" && typeof target.address === "function");
}

/**
 * An emulator for a test file: `start()` once, `reset()` before each test, `check()` after each
 * (an error finding the test did not name fails it), `stop()` at the end. ./node-test.js and
 * ./vitest.js call these from their hooks.
 */
export class AgentPhoneHarness {
  constructor(options = {}) {
    const { webhook, path, secret, account, findings = "error", emulator, setEnv = true } = options;
    if (!["error", "warning", "info", "off"].includes(findings)) {
      throw new TypeError(`findings is one of error, warning, info, off; got ${JSON.stringify(findings)}`);
    }
    this.options = { webhook, path, account, findings, emulator: emulator ?? {}, setEnv };
    /** What every agent's webhooks are signed with, unless makeAgent is given its own. */
    this.secret = secret ?? `whsec_${randomBytes(18).toString("base64url")}`;
    this.emulator = undefined;
    this._named = new Set();
    this._servers = new Map();
    this._savedEnv = undefined;
    this._count = 0;
  }

  /** The running emulator's control-plane client. */
  get control() {
    if (this.emulator === undefined) throw new Error("the emulator is not started: call start() first (or use useAgentPhone)");
    return this.emulator.control;
  }

  get baseUrl() {
    return this.control.baseUrl;
  }

  get apiKey() {
    return this.control.apiKey;
  }

  /** Start the emulator (virtual clock, free port) and point the agent's environment at it. */
  async start() {
    if (this.emulator !== undefined) return this;
    this.emulator = await startEmulator({ virtualClock: true, ...this.options.emulator });
    if (this.options.setEnv) {
      this._savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
      process.env.AGENTPHONE_BASE_URL = this.emulator.url;
      process.env.AGENTPHONE_API_KEY = this.emulator.apiKey;
      process.env.AGENTPHONE_WEBHOOK_SECRET = this.secret;
    }
    return this;
  }

  /** A fresh state: no agents, numbers, calls or findings; the account as `account` says. */
  async reset(account) {
    this._named.clear();
    this._count = 0;
    const settings = account ?? this.options.account;
    await this.control.reset(settings && Object.keys(settings).length ? settings : undefined);
  }

  /**
   * After a test: wait for deliveries under way, then fail (AssertionError) for findings at the
   * `findings` severity or above whose code the test never named.
   */
  async check() {
    if (this.options.findings === "off") return;
    await this.control.settle();
    const floor = rank(this.options.findings);
    const bad = (await this.control.findings()).filter(
      (finding) => rank(finding.severity) >= floor && !this._named.has(finding.code),
    );
    if (bad.length > 0) {
      throw new AssertionError({
        message:
          `the agent broke the platform's contract: ${bad.length} finding${bad.length === 1 ? "" : "s"} the test did not expect\n` +
          `${describeAll(bad)}\n` +
          "(expected? assertFindings(...), allowFindings(code), or findings: \"off\")",
        operator: "check",
        stackStartFn: this.check,
      });
    }
  }

  /** Stop the emulator and any server makeAgent started; put the environment back. */
  async stop() {
    for (const server of this._servers.values()) await new Promise((resolve) => server.close(() => resolve()));
    this._servers.clear();
    if (this._savedEnv) {
      for (const [name, value] of Object.entries(this._savedEnv)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      this._savedEnv = undefined;
    }
    const emulator = this.emulator;
    this.emulator = undefined;
    if (emulator) await emulator.stop();
  }

  _expect(findings) {
    for (const finding of findings) this._named.add(finding.code);
    return findings;
  }

  /** Codes this test expects: the teardown check lets them pass. */
  allowFindings(...codes) {
    for (const code of codes) this._named.add(code);
  }

  /** Every finding of the account, oldest first (after deliveries under way). */
  findings() {
    return this.control.findings();
  }

  /** Assert findings on the account; names them as expected for the teardown check. */
  async assertFindings(...wanted) {
    return this._expect(assertFindings(await this.findings(), ...wanted));
  }

  /** Assert nothing at `severity` (default warning) or above was found on the account. */
  async assertNoFindings(options) {
    assertNoFindings(await this.findings(), options);
  }

  /** Every webhook delivery, oldest first, with its attempts. */
  deliveries() {
    return this.control.deliveries();
  }

  /** Move the virtual clock (retries fall due on the way). */
  advance(seconds) {
    return this.control.advance(seconds);
  }

  /** Run every scheduled retry and call end now. */
  fastForward(limitSeconds) {
    return this.control.fastForward(limitSeconds);
  }

  /** Wait until every delivery under way has had its attempt. */
  settle() {
    return this.control.settle();
  }

  /** Change the account's settings for this test (camelCase AccountSettings fields). */
  configure(settings) {
    return this.control.updateAccount(settings);
  }

  async _webhookUrl(target, path) {
    if (typeof target === "string") {
      if (!/^https?:\/\//.test(target)) {
        throw new ProvisionError(`webhook ${JSON.stringify(target)} is not a URL (http://127.0.0.1:3000/webhook)`);
      }
      if (!path) return target;
      const url = new URL(target);
      url.pathname = path;
      return url.toString();
    }
    if (isListener(target)) {
      let server = this._servers.get(target);
      if (server === undefined) {
        server = typeof target === "function" ? createServer(target) : target;
        if (!server.listening) await new Promise((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve());
        });
        this._servers.set(target, server);
      }
      const { port } = server.address();
      return `http://127.0.0.1:${port}${path ?? "/"}`;
    }
    throw new ProvisionError(
      "no webhook to point the agent at: pass makeAgent({ webhook: \"http://127.0.0.1:3000/webhook\" }) " +
        "or an app (express() or a request listener), or give useAgentPhone({ webhook })",
    );
  }

  /**
   * An agent on a number of its own, its webhook pointed at `webhook` (or the harness's): `fields`
   * are POST /v1/agents' (beginMessage, transferNumber, voiceMode ...), plus `webhook`, `path`,
   * `secret`, `timeout` (seconds), `contextLimit`, `areaCode` and `numberType`.
   */
  async makeAgent(fields = {}) {
    const { webhook, path, secret, timeout, contextLimit, areaCode, numberType, ...agentFields } = fields;
    const url = await this._webhookUrl(webhook ?? this.options.webhook, path ?? this.options.path);
    this._count += 1;
    const body = { name: `Agent ${this._count}`, ...agentFields };
    const control = this.control;
    const signedWith = secret ?? this.secret;
    if (await control.has("POST", "/__emulator/agents")) {
      // One request, all or nothing, with the /v1 routes' own validation of each part.
      let made;
      try {
        made = await control.createAgent({
          agent: body,
          number: { ...(areaCode ? { areaCode } : {}), ...(numberType ? { type: numberType } : {}) },
          webhook: { target: url, secret: signedWith, timeout, contextLimit },
        });
      } catch (error) {
        throw new ProvisionError(`${partOf(error, url)}: ${error.status} ${error.detail}${creditHint(error)}`);
      }
      return new Agent(this, {
        id: made.agent.id,
        name: made.agent.name,
        number: made.number.phoneNumber,
        numberId: made.number.id,
        webhookUrl: url,
        secret: made.webhook?.secret ?? signedWith,
        agent: made.agent,
      });
    }
    let agent;
    try {
      agent = await control.v1("POST", "/v1/agents", body);
    } catch (error) {
      throw new ProvisionError(`creating the agent: ${error.status} ${error.detail}`);
    }
    let number;
    try {
      number = await control.v1("POST", "/v1/numbers", {
        agentId: agent.id,
        ...(areaCode ? { areaCode } : {}),
        ...(numberType ? { type: numberType } : {}),
      });
    } catch (error) {
      await control.v1("DELETE", `/v1/agents/${agent.id}`).catch(() => {}); // all or nothing
      throw new ProvisionError(`buying its number: ${error.status} ${error.detail}${creditHint(error)}`);
    }
    try {
      await control.setWebhook({ target: url, agentId: agent.id, secret: signedWith, timeout, contextLimit });
    } catch (error) {
      throw new ProvisionError(`${url}: ${error.status} ${error.detail}`);
    }
    return new Agent(this, {
      id: agent.id,
      name: agent.name,
      number: number.phoneNumber,
      numberId: number.id,
      webhookUrl: url,
      secret: signedWith,
      agent,
    });
  }
}
