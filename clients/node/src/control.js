// The control plane (/__emulator) as methods: each one route, typed by the OpenAPI document the
// emulator serves (src/generated/control-plane.d.ts, written by `npm run generate`). Requests go
// through openapi-fetch, whose client is `control.api` for anything the methods do not cover.

import createClient from "openapi-fetch";

import { openCallAudio } from "./audio.js";
import { EventStream } from "./events.js";

/** A control-plane request the emulator refused: one line with the route, status, code and why. */
export class ControlPlaneError extends Error {
  constructor({ method, path, status, code, detail, body }) {
    super(`${method} ${path}: ${status} ${detail}${code ? ` (${code})` : ""}`);
    this.name = "ControlPlaneError";
    this.method = method;
    this.path = path;
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

/** The readable part of an error body: FastAPI's 422 list (`body.to: Field required`) or detail. */
export function describeErrorBody(body, fallback) {
  if (body && typeof body === "object") {
    const { detail } = body;
    if (Array.isArray(detail) && detail.length > 0) {
      return detail
        .map((item) => {
          const where = Array.isArray(item.loc) ? item.loc.join(".") : "";
          return where ? `${where}: ${item.msg}` : String(item.msg);
        })
        .join("; ");
    }
    if (typeof detail === "string") return detail;
    if (typeof body.message === "string") return body.message;
  }
  if (typeof body === "string" && body.trim()) return body.trim().split("\n")[0].slice(0, 300);
  return fallback;
}

/** A request that got no answer at all: one line, naming the emulator's URL (did it exit?). */
function unreachable(method, path, baseUrl, cause) {
  const why = cause?.cause?.code ?? cause?.code ?? cause?.cause?.message ?? cause?.message ?? String(cause);
  const error = new Error(`${method.toUpperCase()} ${path}: no answer from the emulator at ${baseUrl} (${why}): has it stopped?`);
  error.name = "EmulatorUnreachableError";
  error.cause = cause;
  return error;
}

const DEFAULT_CALLER = "+14155550123"; // the emulator's default caller and texter

/** Turn a route template and its parameters into the path for messages: /__emulator/calls/call_1/say. */
function fill(path, params) {
  return path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(params?.[name] ?? `{${name}}`)));
}

/** Match a served path template whatever its parameters are called ({delivery_id} or {deliveryId}). */
function shape(path) {
  return path.replace(/\{[^}]+\}/g, "{}");
}

export class ControlClient {
  constructor({ baseUrl, apiKey, adminKey, fetch: customFetch } = {}) {
    if (!baseUrl) throw new TypeError("createControlClient: baseUrl is required (the emulator's URL)");
    if (!apiKey) throw new TypeError("createControlClient: apiKey is required (the key serve printed)");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.adminKey = adminKey ?? apiKey;
    /** openapi-fetch's client, typed by the served OpenAPI: `control.api.GET("/__emulator/clock")`. */
    this.api = createClient({
      baseUrl: this.baseUrl,
      headers: { Authorization: `Bearer ${apiKey}` },
      ...(customFetch ? { fetch: customFetch } : {}),
    });
    this._document = undefined;
  }

  /**
   * Send one request; the answer's JSON, or a ControlPlaneError. `admin` sends the admin key
   * (routes on the whole emulator: reset, snapshots, moving the clock, callees, hosted mode).
   */
  async request(method, path, { params, body, query, admin = false, as = "json", signal } = {}) {
    const init = {
      params: { path: params, query },
      ...(body !== undefined ? { body } : {}),
      ...(admin ? { headers: { Authorization: `Bearer ${this.adminKey}` } } : {}),
      ...(signal ? { signal } : {}),
      parseAs: as === "stream" ? "stream" : "text",
    };
    let answer;
    try {
      answer = await this.api.request(method.toLowerCase(), path, init);
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw unreachable(method, fill(path, params), this.baseUrl, cause);
    }
    const { data, error, response } = answer;
    if (response.ok && as === "stream") return data;
    if (response.ok && as === "text") return data ?? "";
    const text = response.ok ? data : error;
    let parsed = text;
    if (typeof text === "string" && text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    } else if (text === "" || text === undefined) {
      parsed = undefined;
    }
    if (!response.ok) {
      throw new ControlPlaneError({
        method: method.toUpperCase(),
        path: fill(path, params),
        status: response.status,
        code: parsed && typeof parsed === "object" ? parsed.code : undefined,
        detail: describeErrorBody(parsed, response.statusText || "error"),
        body: parsed,
      });
    }
    return parsed;
  }

  // -- what the emulator serves -------------------------------------------------------------------

  /** The control plane's OpenAPI document (GET /__emulator/openapi.json), fetched once. */
  async openapi() {
    this._document ??= this.request("GET", "/__emulator/openapi.json").catch((error) => {
      this._document = undefined;
      throw error;
    });
    return this._document;
  }

  /** Whether the emulator serves `method path` (a route template; parameter names do not matter). */
  async has(method, path) {
    const document = await this.openapi();
    const wanted = shape(path);
    return Object.entries(document.paths ?? {}).some(
      ([served, operations]) => shape(served) === wanted && method.toLowerCase() in operations,
    );
  }

  async _require(method, path, what) {
    if (!(await this.has(method, path))) {
      throw new ControlPlaneError({
        method,
        path,
        status: 404,
        code: "ROUTE_NOT_SERVED",
        detail: `this emulator does not serve ${what} yet: upgrade it (pip install -U agentphone-emulator)`,
        body: undefined,
      });
    }
  }

  // -- texts and reactions ------------------------------------------------------------------------

  /** A text arrives at one of the account's numbers (POST /__emulator/sms). */
  sendSms({ from = DEFAULT_CALLER, to, body, mediaUrls, replyWithinSeconds } = {}) {
    return this.request("POST", "/__emulator/sms", {
      body: { from, to, body, mediaUrls, replyWithinSeconds },
    });
  }

  /** Someone reacts to an iMessage (POST /__emulator/reactions). */
  react({ messageId, reaction, from }) {
    return this.request("POST", "/__emulator/reactions", { body: { messageId, reaction, from } });
  }

  // -- the clock ------------------------------------------------------------------------------------

  /** GET /__emulator/clock: now, whether it is virtual, the next event due. */
  clock() {
    return this.request("GET", "/__emulator/clock");
  }

  /** Move a virtual clock `seconds` forward, running what falls due (admin key). */
  advance(seconds) {
    return this.request("POST", "/__emulator/clock/advance", { body: { seconds }, admin: true });
  }

  /** Run everything scheduled on a virtual clock, at most `limitSeconds` of it (admin key). */
  fastForward(limitSeconds) {
    const body = limitSeconds === undefined ? {} : { limitSeconds };
    return this.request("POST", "/__emulator/clock/fast-forward", { body, admin: true });
  }

  // -- deliveries and findings ------------------------------------------------------------------------

  /** Every webhook delivery, oldest first, with each attempt. */
  deliveries() {
    return this.request("GET", "/__emulator/deliveries");
  }

  /** One delivery by id (GET /__emulator/deliveries/{id}; on an emulator without it, from the list). */
  async delivery(deliveryId) {
    const { path, param } = await this._template("/__emulator/deliveries/{}");
    if (path !== undefined && (await this.has("GET", path))) {
      return this.request("GET", path, { params: { [param]: deliveryId } });
    }
    const found = (await this.deliveries()).find((delivery) => delivery.id === deliveryId);
    if (found === undefined) {
      throw new ControlPlaneError({
        method: "GET",
        path: `/__emulator/deliveries/${deliveryId}`,
        status: 404,
        code: "NOT_FOUND",
        detail: "Delivery not found",
        body: undefined,
      });
    }
    return found;
  }

  /** Make a delivery's next attempt now. */
  retryDelivery(deliveryId) {
    return this.request("POST", "/__emulator/deliveries/{delivery_id}/retry", { params: { delivery_id: deliveryId } });
  }

  /**
   * Send a delivery again as a new one (its own X-Webhook-ID, `replayOf` the original), with the
   * body edited (`body`: the JSON text to send, exactly; absent: the original's bytes), extra
   * `headers`, and `signature` "signed" (default), "unsigned" or "forged": a safe webhook refuses
   * the last two with 400, 401 or 403, and accepting one is a `webhook_accepted_unsigned` finding.
   * One attempt, never retried.
   */
  replayDelivery(deliveryId, { body, headers, signature } = {}) {
    const fields = {};
    if (body !== undefined) fields.body = body;
    if (headers !== undefined) fields.headers = headers;
    if (signature !== undefined) fields.signature = signature;
    return this.request("POST", "/__emulator/deliveries/{delivery_id}/replay", {
      params: { delivery_id: deliveryId },
      body: fields,
    });
  }

  /**
   * What the user's server did against the contract, oldest first (after in-flight deliveries).
   * `agentId`: that agent's and those tied to no agent; `callId`: one call's (filtered by the
   * emulator where it takes these query parameters, else here).
   */
  async findings({ agentId, callId } = {}) {
    const filtered = agentId !== undefined || callId !== undefined;
    if (filtered && (await this._takesQuery("get", "/__emulator/findings", "agentId"))) {
      const query = { ...(agentId !== undefined ? { agentId } : {}), ...(callId !== undefined ? { callId } : {}) };
      return (await this.request("GET", "/__emulator/findings", { query })).findings;
    }
    const all = (await this.request("GET", "/__emulator/findings")).findings;
    return all.filter(
      (finding) =>
        (agentId === undefined || finding.agentId === null || finding.agentId === agentId) &&
        (callId === undefined || finding.callId === callId),
    );
  }

  async _takesQuery(method, path, name) {
    const document = await this.openapi();
    const parameters = document.paths?.[path]?.[method]?.parameters ?? [];
    return parameters.some((parameter) => parameter.in === "query" && parameter.name === name);
  }

  /** The code POST /v1/verify/send texted last to `phoneNumber` (GET /__emulator/verifications/latest). */
  async latestVerification(phoneNumber) {
    await this._require("GET", "/__emulator/verifications/latest", "verification codes (GET /__emulator/verifications/latest)");
    return this.request("GET", "/__emulator/verifications/latest", { query: { phoneNumber } });
  }

  /** Forget the findings so far. */
  async clearFindings() {
    await this.request("DELETE", "/__emulator/findings");
  }

  /**
   * Wait until every delivery under way has had its attempt (POST /__emulator/settle; on an
   * emulator without it, reading the findings settles the same way).
   */
  async settle() {
    if (await this.has("POST", "/__emulator/settle")) return this.request("POST", "/__emulator/settle");
    await this.request("GET", "/__emulator/findings");
    return { settled: true };
  }

  /**
   * Send the agent's webhook a request it must refuse or tolerate (POST /__emulator/probes):
   * kind is bad_signature, missing_signature, wrong_secret, stale_timestamp, future_timestamp or
   * duplicate.
   */
  async probe(kind, { agentId, from, body, event } = {}) {
    await this._require("POST", "/__emulator/probes", "webhook probes (POST /__emulator/probes)");
    return this.request("POST", "/__emulator/probes", { body: { kind, agentId, from, body, event } });
  }

  // -- webhooks and agents ----------------------------------------------------------------------------

  /** Point the account's (or an agent's) webhook at a URL, with a secret (POST /__emulator/webhook). */
  setWebhook({ target, agentId, secret, contextLimit, timeout }) {
    return this.request("POST", "/__emulator/webhook", { body: { target, agentId, secret, contextLimit, timeout } });
  }

  /**
   * An agent, its number and its webhook in one request, all or nothing (POST /__emulator/agents):
   * `{agent: POST /v1/agents's body, number: {areaCode, type, country}, webhook: {target, secret,
   * contextLimit, timeout}}`, every part optional; answers `{agent, number, webhook}`.
   */
  async createAgent(body) {
    await this._require("POST", "/__emulator/agents", "agents in one request (POST /__emulator/agents)");
    return this.request("POST", "/__emulator/agents", { body });
  }

  // -- whole-emulator state -----------------------------------------------------------------------------

  /**
   * Forget everything but the API keys (admin key); `settings` (AccountSettings fields in
   * camelCase) become the account's, as PATCH /__emulator/account takes them.
   */
  async reset(settings) {
    if (settings === undefined) return this.request("POST", "/__emulator/reset", { admin: true });
    if (await this.has("POST", "/__emulator/reset") && (await this._resetTakesSettings())) {
      return this.request("POST", "/__emulator/reset", { body: { settings }, admin: true });
    }
    const done = await this.request("POST", "/__emulator/reset", { admin: true });
    await this.updateAccount(settings);
    return done;
  }

  async _resetTakesSettings() {
    const document = await this.openapi();
    return Boolean(document.paths?.["/__emulator/reset"]?.post?.requestBody);
  }

  /** Save the whole state (admin key); restore it by the id in the answer. */
  takeSnapshot() {
    return this.request("POST", "/__emulator/snapshots", { admin: true });
  }

  /** The snapshots kept, oldest first (admin key). */
  snapshots() {
    return this.request("GET", "/__emulator/snapshots", { admin: true });
  }

  /** Put the state back as the snapshot has it (admin key). */
  restoreSnapshot(snapshotId) {
    return this.request("POST", "/__emulator/snapshots/{snapshot_id}/restore", {
      params: { snapshot_id: snapshotId },
      admin: true,
    });
  }

  /** Free a snapshot (admin key). */
  async deleteSnapshot(snapshotId) {
    await this.request("DELETE", "/__emulator/snapshots/{snapshot_id}", { params: { snapshot_id: snapshotId }, admin: true });
  }

  // -- the account ------------------------------------------------------------------------------------

  /** Every setting of the key's account and its balance. */
  account() {
    return this.request("GET", "/__emulator/account");
  }

  /** Change some settings (camelCase AccountSettings fields); the rest stay. */
  updateAccount(changes) {
    return this.request("PATCH", "/__emulator/account", { body: changes });
  }

  /** The 10DLC registrations of the account and its sub-accounts. */
  registrations() {
    return this.request("GET", "/__emulator/registrations");
  }

  /** Approve a pending 10DLC registration, as the carriers would. */
  approveRegistration(registrationId) {
    return this.request("POST", "/__emulator/registrations/{registration_id}/approve", {
      params: { registration_id: registrationId },
    });
  }

  /** Reject a pending 10DLC registration with a reason. */
  rejectRegistration(registrationId, reason) {
    return this.request("POST", "/__emulator/registrations/{registration_id}/reject", {
      params: { registration_id: registrationId },
      body: { reason },
    });
  }

  // -- calls ------------------------------------------------------------------------------------------

  /** A simulated caller rings a number (and runs `script`, if given). */
  ring({ to, from, script, limit }) {
    return this.request("POST", "/__emulator/calls", { body: { to, from, script, limit } });
  }

  /** A call as the caller knows it. */
  getCall(callId) {
    return this.request("GET", "/__emulator/calls/{call_id}", { params: { call_id: callId } });
  }

  /** Join a web call with the accessToken of POST /v1/calls/web. */
  joinWebCall(accessToken) {
    return this.request("POST", "/__emulator/web-calls/join", { body: { accessToken } });
  }

  _act(callId, action, body) {
    return this.request("POST", `/__emulator/calls/{call_id}/${action}`, { params: { call_id: callId }, body });
  }

  /** The caller speaks once the agent is quiet; answers after the reply (listen: false, once sent). */
  say(callId, text, { listen, confidence, bargeIn, saidOver } = {}) {
    return this._act(callId, "say", { text, listen, confidence, bargeIn, saidOver });
  }

  /** The caller starts talking over the agent, words not known yet. */
  bargeIn(callId, { startedAgo } = {}) {
    return this._act(callId, "barge-in", startedAgo === undefined ? {} : { startedAgo });
  }

  /** The caller talks over the agent's reply `after` seconds into it. */
  interrupt(callId, text, { after, confidence } = {}) {
    return this._act(callId, "interrupt", { text, after, confidence });
  }

  /** The caller presses keys. */
  press(callId, digits) {
    return this._act(callId, "press", { digits });
  }

  /** The caller says nothing for `seconds`. */
  silence(callId, seconds) {
    return this._act(callId, "silence", { seconds });
  }

  /** The caller lets the agent finish. */
  listen(callId) {
    return this._act(callId, "listen");
  }

  /** The caller hangs up. */
  hangup(callId) {
    return this._act(callId, "hangup");
  }

  /** Let a call run to its end, at most `limit` seconds. */
  playOut(callId, limit) {
    return this._act(callId, "play-out", limit === undefined ? {} : { limit });
  }

  /**
   * Decide, as the person an outbound call rings in the console, what to do with it (POST
   * /__emulator/calls/{id}/answer): `answer` (then talk with say, press, hangup), `busy`,
   * `no-answer` or `voicemail`. A call rings there when its callee is `console` (scriptCallee, or
   * a number ending 555 0106); 409 CALL_NOT_RINGING otherwise.
   */
  async answer(callId, choice = "answer") {
    await this._require("POST", "/__emulator/calls/{call_id}/answer", "answering calls (POST /__emulator/calls/{id}/answer)");
    return this.request("POST", "/__emulator/calls/{call_id}/answer", { params: { call_id: callId }, body: { choice } });
  }

  /**
   * A call as a scenario that replays it with `agentphone-emulator run` (GET
   * /__emulator/calls/{id}/scenario): the YAML text. Live calls and the last ended ones only
   * (409 CALL_FORGOTTEN for older ones).
   */
  async exportScenario(callId) {
    await this._require("GET", "/__emulator/calls/{call_id}/scenario", "scenario export (GET /__emulator/calls/{id}/scenario)");
    return this.request("GET", "/__emulator/calls/{call_id}/scenario", { params: { call_id: callId }, as: "text" });
  }

  /**
   * Talk on a live call as a browser's microphone does: the call's audio WebSocket (GET
   * /__emulator/calls/{id}/audio), connected, its start frame sent with this client's key, and
   * `ready` received (the emulator must run on the real clock). Refusals reject with an
   * AudioSocketError carrying the close code (4401 a wrong key, 4404 no such call, 4409 an ended
   * call or a virtual clock ...). Options: `sampleRate` (of the PCM you send, default 16000),
   * `apiKey`, `subAccountId`, `WebSocket` (a constructor; default the `ws` package's),
   * `readyTimeoutMs` (30000), `keep` (frames kept, 10000).
   */
  async openAudio(callId, options = {}) {
    await this._require("GET", "/__emulator/calls/{call_id}/audio", "the call audio WebSocket (GET /__emulator/calls/{id}/audio)");
    return openCallAudio({ baseUrl: this.baseUrl, callId, apiKey: this.apiKey, ...options });
  }

  /** Script who answers outbound calls to a number, emulator-wide (admin key). */
  scriptCallee(callee) {
    return this.request("POST", "/__emulator/callees", { body: callee, admin: true });
  }

  /** How hosted-mode agents answer, emulator-wide (admin key). */
  configureHosted(hosted) {
    return this.request("POST", "/__emulator/hosted", { body: hosted, admin: true });
  }

  // -- what the console shows: the live event stream and the board ---------------------------------

  /**
   * The account's live events (GET /__emulator/events, server-sent): settles once the stream is
   * open and its `ready` event has come, with an EventStream to iterate (`for await (const event
   * of stream)`, each a typed object by `type`: ready, call, turn, reply, chunk, keys, finding,
   * text, delivery, reset, overflow), to wait on (`stream.until("call")`) and to close
   * (`stream.close()`, or abort `signal`). `types`: only these (an array, or "call,turn");
   * `callId`: only that call's.
   */
  async events({ types, callId, signal, keep, readyTimeoutMs = 10_000 } = {}) {
    await this._require("GET", "/__emulator/events", "the live event stream (GET /__emulator/events)");
    signal?.throwIfAborted();
    const controller = new AbortController();
    const query = {
      ...(types !== undefined ? { types: Array.isArray(types) ? types.join(",") : types } : {}),
      ...(callId !== undefined ? { callId } : {}),
    };
    let stream;
    const stop = () => (stream ? stream.close() : controller.abort());
    signal?.addEventListener("abort", stop, { once: true });
    let body;
    try {
      body = await this.request("GET", "/__emulator/events", { query, as: "stream", signal: controller.signal });
    } catch (error) {
      signal?.removeEventListener("abort", stop);
      throw error;
    }
    stream = new EventStream({ path: "GET /__emulator/events", abort: () => controller.abort(), keep });
    stream.ended.then(() => signal?.removeEventListener("abort", stop));
    stream._pump(body);
    try {
      await stream.until("ready", { timeoutMs: readyTimeoutMs, what: 'the stream\'s "ready" event' });
    } catch (error) {
      await stream.close();
      throw error;
    }
    return stream;
  }

  /**
   * What the event stream keeps current, as it is now (GET /__emulator/board): the account's
   * numbers, and its latest `limit` (default 500) calls, texts, deliveries and findings, newest last.
   */
  async board({ limit } = {}) {
    await this._require("GET", "/__emulator/board", "the board (GET /__emulator/board)");
    return this.request("GET", "/__emulator/board", { query: limit === undefined ? undefined : { limit } });
  }

  // -- the platform's own API (/v1), for what the helpers set up -------------------------------------

  /** A request to the platform's REST API with the account's key: `control.v1("POST", "/v1/agents", body)`. */
  async v1(method, path, body) {
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.apiKey}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw unreachable(method, path, this.baseUrl, cause);
    }
    const text = await response.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!response.ok) {
      throw new ControlPlaneError({
        method,
        path,
        status: response.status,
        code: parsed && typeof parsed === "object" ? parsed.code : undefined,
        detail: describeErrorBody(parsed, response.statusText || "error"),
        body: parsed,
      });
    }
    return parsed;
  }

  async _template(pattern) {
    const document = await this.openapi();
    const wanted = shape(pattern);
    const path = Object.keys(document.paths ?? {}).find((served) => shape(served) === wanted);
    const param = /\{([^}]+)\}/.exec(path ?? "")?.[1];
    return { path, param };
  }
}

/** A control-plane client for an emulator already running (`serve` printed its URL and key). */
export function createControlClient(options) {
  return new ControlClient(options);
}

export { DEFAULT_CALLER };
