// Types of agentphone-emulator for Node. The control plane's request and answer shapes come from
// ./generated/control-plane.d.ts, generated from the OpenAPI document the emulator serves
// (`npm run generate`); this file types the package's own API on top of them.

import type { ChildProcess } from "node:child_process";
import type { RequestListener, Server } from "node:http";

import type { Client } from "openapi-fetch";

import type { components, paths } from "./generated/control-plane.js";

export type { components, paths } from "./generated/control-plane.js";

/** The control plane's schemas by name: `Schemas["CallSimOut"]`, `Schemas["DeliveryOut"]` ... */
export type Schemas = components["schemas"];
export type CallView = Schemas["CallSimOut"];
export type Reply = Schemas["ReplyOut"];
export type Delivery = Schemas["DeliveryOut"];
export type Clock = Schemas["ClockOut"];
export type InboundSms = Schemas["InboundSmsOut"];
export type AccountView = Schemas["AccountOut"];
/** AccountSettings fields in camelCase (creditCents, numberLimit, require10dlc ...), all optional. */
export type AccountSettings = Schemas["AccountSettingsPatch"];
export type ScriptStep = Schemas["ScriptStep"];

export type Severity = "info" | "warning" | "error";

/** The user's server broke the platform's contract (GET /__emulator/findings). */
export interface Finding {
  code: string;
  severity: Severity | string;
  message: string;
  at: string;
  event: string | null;
  channel: string | null;
  agentId: string | null;
  deliveryId: string | null;
  attempt: number | null;
  messageId: string | null;
  callId: string | null;
  turn: number | null;
  httpStatus: number | null;
  offending: string | null;
  detail: Record<string, unknown> | null;
}

/** What assertFindings looks for: a code, or fields a finding must have (all of them). */
export type FindingMatcher = string | (Partial<Omit<Finding, "code">> & { code?: string });

export type ProbeKind =
  | "bad_signature"
  | "missing_signature"
  | "wrong_secret"
  | "stale_timestamp"
  | "future_timestamp"
  | "duplicate";

/** POST /__emulator/probes' answer. */
export interface ProbeResult {
  kind: ProbeKind;
  agentId: string | null;
  /** The agent's number the probe texted, and its sender. */
  to: string;
  from: string;
  /** The request as sent: method, url, headers, body (bodyBase64 for bytes that are not UTF-8). */
  request: { method: string; url: string; headers: Record<string, string>; body: string | null; bodyBase64: string | null };
  httpStatus: number | null;
  responseBody: string | null;
  errorMessage: string | null;
  durationMs: number;
  /** It answered 400, 401 or 403. */
  refused: boolean;
  /** "refused" for a forged delivery, "accepted" (a 2xx) for a duplicate. */
  expected: "refused" | "accepted";
  /** Texts the account sent the probe's sender because of it. */
  replies: unknown[];
  /** The answer was the expected one and no text went back. */
  passed: boolean;
}

/** POST /__emulator/agents' body: each part optional. */
export interface CreateAgentBody {
  /** POST /v1/agents's body (default {name: "Agent <n>"}). */
  agent?: Record<string, unknown>;
  number?: { areaCode?: string; type?: "sms" | "imessage"; country?: string };
  webhook?: { target: string; secret?: string; contextLimit?: number; timeout?: number };
}

/** GET /__emulator/verifications/latest's answer. */
export interface VerificationCode {
  id: string;
  phoneNumber: string;
  code: string;
  createdAt: string;
  expiresAt: string;
  attemptsRemaining: number;
  verified: boolean;
}

// -- the live event stream (GET /__emulator/events) and the board ---------------------------------

/** A finding as the event stream and the board send it (the OpenAPI leaves it an open object). */
export type FindingEvent = Omit<Schemas["FindingEventOut"], "finding"> & { finding: Finding };

/** One event of GET /__emulator/events, by its `type`. */
export type LiveEvent =
  | Schemas["ReadyEvent"]
  | Schemas["CallEventOut"]
  | Schemas["TurnEventOut"]
  | Schemas["ReplyEventOut"]
  | Schemas["ChunkEventOut"]
  | Schemas["KeysEventOut"]
  | FindingEvent
  | Schemas["TextEventOut"]
  | Schemas["DeliveryEventOut"]
  | Schemas["ResetEventOut"]
  | Schemas["OverflowEventOut"];

export type LiveEventType = LiveEvent["type"];

/** What a stream asked for `types` gets: those, and `ready`, `overflow` and `reset`, which always come. */
export type LiveEventOf<T extends LiveEventType> = Extract<LiveEvent, { type: T | "ready" | "overflow" | "reset" }>;

export interface EventsOptions<T extends LiveEventType = LiveEventType> {
  /** Only these event types (ready, overflow and reset always come): ["call", "turn"], or "call,turn". */
  types?: readonly T[] | string;
  /** Only this call's events (its call, turns, replies, chunks, keys, findings and deliveries). */
  callId?: string;
  /** Aborting it closes the stream, as close() does. */
  signal?: AbortSignal;
  /** How many events `received` keeps (the newest; default 10000). */
  keep?: number;
  /** How long to wait for the stream's `ready` event (default 10000). */
  readyTimeoutMs?: number;
}

export interface UntilOptions {
  /** Default 10000; then it rejects, naming what did come. */
  timeoutMs?: number;
  /** What the rejection calls the item waited for. */
  what?: string;
}

/**
 * An open GET /__emulator/events. Iterate it for each event in order from `ready` (breaking out
 * closes it); `until()` waits without consuming; `close()` or the signal ends it, and so does the
 * emulator stopping (iteration then ends, no error).
 */
export class EventStream<E extends { type: string } = LiveEvent> implements AsyncIterable<E> {
  readonly path: string;
  /** Closed here or by the signal. */
  closed: boolean;
  /** Settles when the stream has ended, however. */
  readonly ended: Promise<void>;
  /** The events received so far, oldest first (the newest `keep`). */
  readonly received: E[];
  /** The first event (so far, or to come) of this type. */
  until<K extends E["type"]>(type: K, options?: UntilOptions): Promise<Extract<E, { type: K }>>;
  /** The first event (so far, or to come) that `match` accepts. */
  until<S extends E>(match: (event: E) => event is S, options?: UntilOptions): Promise<S>;
  until(match: (event: E) => boolean, options?: UntilOptions): Promise<E>;
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<E>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** GET /__emulator/board: what the event stream keeps current, as it is now. */
export type Board = Omit<Schemas["BoardOut"], "findings"> & { findings: Finding[] };

// -- the call's audio WebSocket (GET /__emulator/calls/{id}/audio) ---------------------------------

/** A frame the emulator sends down the audio socket; its speech as `audio` (PCM16 mono, 16 kHz). */
export type AudioFrame =
  | { type: "ready" }
  | { type: "partial"; text: string }
  | { type: "utterance"; text: string; confidence: number }
  | { type: "bargeIn" }
  | { type: "reply"; text: string; final: boolean; turn: number }
  | { type: "ended"; reason: string | null; status: string | null }
  | { type: "error"; message: string }
  | { type: "audio"; pcm: Int16Array; sampleRate: number }
  | { type: "unparsed"; data: string };

/** How the socket closed: its code (1000 the call ended, 4401 a wrong key ...), reason and the `error` frame's message. */
export interface AudioCloseInfo {
  code: number;
  reason: string;
  detail?: string;
}

/** The part of a WHATWG WebSocket the package uses (the `ws` package's, or Node 22's global one). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface AudioOptions {
  /** The rate of the PCM you send: 8000 to 48000 (default 16000). */
  sampleRate?: number;
  /** The call's account's key (default the client's). */
  apiKey?: string;
  /** Act on a sub-account, as X-Sub-Account-Id does. */
  subAccountId?: string;
  /** A WebSocket constructor (default the `ws` package's; Node >= 22 may pass globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** How many frames `frames` keeps (the newest; default 10000). */
  keep?: number;
}

/** The audio socket was refused or closed before `ready`: `GET /__emulator/calls/call_1/audio (WebSocket): closed 4401 Invalid API key`. */
export class AudioSocketError extends Error {
  path: string;
  /** The close code: 4400-4500 for a refusal (CLOSE_CODES), 1006 when it never opened. */
  code: number;
  reason: string;
  /** The `error` frame's whole message, when one came. */
  detail: string | undefined;
}

/** What each close code means (docs/mic.md). */
export const CLOSE_CODES: Readonly<Record<number, string>>;
/** The rate of the agent's speech the emulator sends, 16000. */
export const DOWNLINK_SAMPLE_RATE: number;

/**
 * One connection to a call's audio (connects at once and sends the start frame). Closing it does
 * not hang up; `hangup()` does.
 */
export class CallAudio implements AsyncIterable<AudioFrame> {
  constructor(options: AudioOptions & { baseUrl: string; callId: string; apiKey: string });
  readonly callId: string;
  readonly sampleRate: number;
  readonly path: string;
  /** ws://host:port/__emulator/calls/{id}/audio */
  readonly url: string;
  readonly socket: WebSocketLike | undefined;
  /** Set once it has closed. */
  readonly closeInfo: AudioCloseInfo | undefined;
  /** Settles on `ready`; rejects with an AudioSocketError if it closes first. */
  readonly ready: Promise<{ type: "ready" }>;
  /** Settles when the socket has closed, however. */
  readonly closed: Promise<AudioCloseInfo>;
  /** The frames received so far, oldest first. */
  readonly frames: AudioFrame[];
  until<K extends AudioFrame["type"]>(type: K, options?: UntilOptions): Promise<Extract<AudioFrame, { type: K }>>;
  until<S extends AudioFrame>(match: (frame: AudioFrame) => frame is S, options?: UntilOptions): Promise<S>;
  until(match: (frame: AudioFrame) => boolean, options?: UntilOptions): Promise<AudioFrame>;
  /** One frame of PCM16LE mono at `sampleRate`: samples, or their bytes (at most 1 s). */
  send(pcm: Int16Array | Uint8Array | ArrayBuffer): void;
  /** PCM cut into `frameMs` frames (20), paced to real time unless `realTime: false`. */
  stream(pcm: Int16Array | Uint8Array | ArrayBuffer, options?: { frameMs?: number; realTime?: boolean }): Promise<void>;
  /** Hang up the call: `ended` comes, then a 1000 close. */
  hangup(): void;
  /** Stop the agent now, as if the caller had started talking. */
  bargeIn(): void;
  /** Close the socket (the call stays up). */
  close(code?: number, reason?: string): Promise<AudioCloseInfo>;
  [Symbol.asyncIterator](): AsyncIterator<AudioFrame>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connect to a call's audio and wait for `ready` (an AudioSocketError with its close code if refused). */
export function openCallAudio(
  options: AudioOptions & { baseUrl: string; callId: string; apiKey: string; readyTimeoutMs?: number },
): Promise<CallAudio>;

// -- starting the emulator ---------------------------------------------------------------------------

export interface StartOptions {
  /** A Python interpreter with the package installed: runs `python -m agentphone_emulator serve`. */
  python?: string;
  /** The `agentphone-emulator` script itself (else $AGENTPHONE_EMULATOR, then PATH, then python3 -m). */
  executable?: string;
  /** `--port`; default 0, a free port. */
  port?: number;
  /** `--host`; default 127.0.0.1. */
  host?: string;
  /** `--api-key` each; default: $AGENTPHONE_EMULATOR_API_KEY or a random `sk_test_` key. */
  apiKeys?: string[];
  /** `--admin-key`; chosen for you when several keys (or `--state`) make it differ from the API key. */
  adminKey?: string;
  /** `--virtual-clock` (true), or with its ISO-8601 start. */
  virtualClock?: boolean | string;
  /** More flags for `serve` (`["--seed", "7", "--no-10dlc"]`). */
  args?: string[];
  /** Extra environment for the emulator's process (merged over process.env). */
  env?: Record<string, string>;
  /** How long to wait for the ready line (a hang guard, default 60000). */
  startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before it kills (default 10000). */
  stopTimeoutMs?: number;
}

export interface RunningEmulator {
  /** `http://127.0.0.1:PORT`: the SDK's baseUrl. */
  url: string;
  baseUrl: string;
  apiKey: string;
  /** The key of the whole-emulator routes (the API key when there is only one). */
  adminKey: string;
  /** With `--webhook` in args: where the account's events go, and their secret. */
  webhook?: { url: string; secret: string };
  pid: number | undefined;
  process: ChildProcess;
  /** The command line that was run. */
  command: string[];
  control: ControlClient;
  /** The last 200 lines the emulator printed (stdout and stderr). */
  output(): string[];
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after stopTimeoutMs; settles when it has exited. Safe to call twice. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `await using emulator = await startEmulator()` stops it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Start `agentphone-emulator serve` and wait for its ready line. Throws EmulatorStartError. */
export function startEmulator(options?: StartOptions): Promise<RunningEmulator>;

/** How the emulator would be run: `{command, prefix, how}`; throws EmulatorStartError if it cannot. */
export function locateEmulator(options?: {
  executable?: string;
  python?: string;
  env?: NodeJS.ProcessEnv;
}): { command: string; prefix: string[]; how: string };

/**
 * A control-plane or /v1 request got no answer at all (the emulator stopped or crashed):
 * `GET /__emulator/clock: no answer from the emulator at http://127.0.0.1:PORT (ECONNREFUSED): has it stopped?`
 */
export interface EmulatorUnreachableError extends Error {
  name: "EmulatorUnreachableError";
  cause: unknown;
}

/** The emulator could not start: one line saying why and what to do. */
export class EmulatorStartError extends Error {}

// -- the control plane ---------------------------------------------------------------------------------

/** A request the emulator refused: `POST /__emulator/calls: 404 Call not found (NOT_FOUND)`. */
export class ControlPlaneError extends Error {
  method: string;
  path: string;
  status: number;
  code: string | undefined;
  detail: string;
  body: unknown;
}

/** The emulator's default caller and texter, +14155550123. */
export const DEFAULT_CALLER: string;

export interface ControlClientOptions {
  baseUrl: string;
  apiKey: string;
  adminKey?: string;
  fetch?: (input: Request) => Promise<Response>;
}

export function createControlClient(options: ControlClientOptions): ControlClient;

export class ControlClient {
  constructor(options: ControlClientOptions);
  baseUrl: string;
  apiKey: string;
  adminKey: string;
  /** openapi-fetch's client typed by the served OpenAPI, for routes the methods do not cover. */
  api: Client<paths>;
  request<T = unknown>(
    method: string,
    path: string,
    init?: {
      params?: Record<string, string>;
      body?: unknown;
      query?: Record<string, unknown>;
      admin?: boolean;
      /** "json" (default: parsed when it is JSON), "text" (the body as it came), "stream" (the body's ReadableStream). */
      as?: "json" | "text" | "stream";
      signal?: AbortSignal;
    },
  ): Promise<T>;
  /** A request to the platform's REST API (/v1/...) with the account's key. */
  v1<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  openapi(): Promise<{ paths: Record<string, Record<string, unknown>>; [key: string]: unknown }>;
  /** Whether the emulator serves `method path` (parameter names do not matter). */
  has(method: string, path: string): Promise<boolean>;

  sendSms(body: { from?: string; to: string; body?: string; mediaUrls?: string[]; replyWithinSeconds?: number }): Promise<InboundSms>;
  react(body: Schemas["InboundReactionBody"]): Promise<Schemas["ReactionOut"]>;

  clock(): Promise<Clock>;
  advance(seconds: number): Promise<Clock>;
  fastForward(limitSeconds?: number): Promise<Clock>;

  deliveries(): Promise<Delivery[]>;
  delivery(deliveryId: string): Promise<Delivery>;
  retryDelivery(deliveryId: string): Promise<Delivery>;
  /** POST /__emulator/deliveries/{id}/replay: a new delivery of the body (edited), signed, unsigned or forged. */
  replayDelivery(
    deliveryId: string,
    options?: { body?: string; headers?: Record<string, string>; signature?: "signed" | "unsigned" | "forged" },
  ): Promise<Delivery>;
  /** `agentId`: that agent's and those tied to no agent; `callId`: one call's. */
  findings(filter?: { agentId?: string; callId?: string }): Promise<Finding[]>;
  clearFindings(): Promise<void>;
  /** POST /__emulator/settle (on an older emulator: reading the findings settles the same way). */
  settle(): Promise<{
    settled: true;
    deliveries?: number;
    deliveryIds?: string[];
    pendingRetries?: number;
    nextRetryAt?: string | null;
  }>;
  probe(kind: ProbeKind, options?: { agentId?: string; from?: string; body?: string; event?: string }): Promise<ProbeResult>;
  latestVerification(phoneNumber: string): Promise<VerificationCode>;

  setWebhook(body: Schemas["WebhookTargetBody"]): Promise<Schemas["WebhookTargetOut"]>;
  /** POST /__emulator/agents: an agent, its number and its webhook in one request, all or nothing. */
  createAgent(body: CreateAgentBody): Promise<{
    agent: Record<string, any>;
    number: { id: string; phoneNumber: string; agentId: string | null; [field: string]: unknown };
    webhook: { id: string; url: string; secret: string; agentId: string | null; [field: string]: unknown } | null;
  }>;

  reset(settings?: AccountSettings): Promise<Schemas["ResetOut"]>;
  takeSnapshot(): Promise<Schemas["SnapshotTakenOut"]>;
  snapshots(): Promise<Schemas["SnapshotList"]>;
  restoreSnapshot(snapshotId: string): Promise<Schemas["SnapshotOut"]>;
  deleteSnapshot(snapshotId: string): Promise<void>;

  account(): Promise<AccountView>;
  updateAccount(changes: AccountSettings): Promise<AccountView>;
  registrations(): Promise<Schemas["RegistrationControlOut"][]>;
  approveRegistration(registrationId: string): Promise<Schemas["RegistrationControlOut"]>;
  rejectRegistration(registrationId: string, reason: string): Promise<Schemas["RegistrationControlOut"]>;

  ring(body: { to: string; from?: string; script?: ScriptStep[]; limit?: number }): Promise<CallView>;
  getCall(callId: string): Promise<CallView>;
  joinWebCall(accessToken: string): Promise<CallView>;
  say(callId: string, text: string, options?: Omit<Schemas["SayBody"], "text">): Promise<CallView>;
  bargeIn(callId: string, options?: { startedAgo?: number }): Promise<CallView>;
  interrupt(callId: string, text: string, options?: { after?: number; confidence?: number }): Promise<CallView>;
  press(callId: string, digits: string): Promise<CallView>;
  silence(callId: string, seconds: number): Promise<CallView>;
  listen(callId: string): Promise<CallView>;
  hangup(callId: string): Promise<CallView>;
  playOut(callId: string, limit?: number): Promise<CallView>;
  /** POST /__emulator/calls/{id}/answer: as the person an outbound call rings in the console. */
  answer(callId: string, choice?: NonNullable<Schemas["AnswerBody"]["choice"]>): Promise<Schemas["AnswerOut"]>;
  /** GET /__emulator/calls/{id}/scenario: the call as scenario YAML (text). */
  exportScenario(callId: string): Promise<string>;
  /** The call's audio WebSocket, ready (the emulator on the real clock); AudioSocketError if refused. */
  openAudio(callId: string, options?: AudioOptions & { readyTimeoutMs?: number }): Promise<CallAudio>;
  /** GET /__emulator/events: settles once the stream is open and `ready` has come. */
  events<T extends LiveEventType = LiveEventType>(options?: EventsOptions<T>): Promise<EventStream<LiveEventOf<T>>>;
  /** GET /__emulator/board: the numbers and the latest `limit` (500) calls, texts, deliveries, findings. */
  board(options?: { limit?: number }): Promise<Board>;
  scriptCallee(callee: Schemas["CalleeBody"]): Promise<Schemas["CalleeOut"]>;
  configureHosted(hosted: Schemas["HostedBody"]): Promise<Schemas["HostedOut"]>;
}

// -- test helpers ------------------------------------------------------------------------------------

/** Assert each matcher is among `findings`; the findings that matched. Throws AssertionError. */
export function assertFindings(findings: Finding[], ...wanted: FindingMatcher[]): Finding[];
/** Assert nothing at `severity` (default warning) or above, but `allow`'s codes. */
export function assertNoFindings(findings: Finding[], options?: { allow?: string[]; severity?: Severity }): void;
/** One finding on one line, as failure messages show it. */
export function describeFinding(finding: Finding): string;

/** makeAgent could not set the agent up (`makeAgent: buying its number: 402 ...`). */
export class ProvisionError extends Error {}

/** A webhook target: a URL, or a server makeAgent listens on 127.0.0.1 for (express(), a listener). */
export type WebhookTarget = string | RequestListener | Server;

export interface HarnessOptions {
  /** Where agents' webhooks go unless makeAgent says otherwise. */
  webhook?: WebhookTarget;
  /** The webhook's path on that server ("/webhook"), unless makeAgent says otherwise. */
  path?: string;
  /** What webhooks are signed with (default a fresh whsec_ one); also $AGENTPHONE_WEBHOOK_SECRET. */
  secret?: string;
  /** The account each test starts with (camelCase AccountSettings fields). */
  account?: AccountSettings;
  /** The lowest severity of an unexpected finding that fails a test after it (default "error"). */
  findings?: Severity | "off";
  /** How to start the emulator (a virtual clock by default). */
  emulator?: StartOptions;
  /** Point AGENTPHONE_BASE_URL / _API_KEY / _WEBHOOK_SECRET at the emulator while it runs (default true). */
  setEnv?: boolean;
}

/** POST /v1/agents' fields (camelCase), plus the webhook's and number's options. */
export interface AgentFields {
  name?: string;
  beginMessage?: string;
  transferNumber?: string;
  voiceMode?: string;
  webhook?: WebhookTarget;
  /** The webhook's path (replaces the URL's). */
  path?: string;
  secret?: string;
  /** The voice-turn timeout, seconds. */
  timeout?: number;
  contextLimit?: number;
  areaCode?: string;
  numberType?: "sms" | "imessage";
  [field: string]: unknown;
}

export class Call {
  harness: AgentPhoneHarness;
  view: CallView;
  id: string;
  status: string;
  live: boolean;
  disconnectionReason: string | null;
  transferredTo: string | null;
  replies: Reply[];
  transcript: CallView["transcript"];
  keyPresses: CallView["keyPresses"];
  findings: Finding[];
  readonly greeting: Reply | null;
  readonly lastReply: Reply | null;
  say(text: string, options?: { listen?: boolean; confidence?: number }): Promise<Reply | null>;
  interrupt(text: string, options?: { after?: number; confidence?: number }): Promise<Reply | null>;
  press(digits: string): Promise<Reply | null>;
  silence(seconds: number): Promise<Reply | null>;
  listen(): Promise<Reply | null>;
  hangup(): Promise<Call>;
  refresh(): Promise<Call>;
  transcriptText(): string;
  assertFindings(...wanted: FindingMatcher[]): Finding[];
  assertNoFindings(options?: { allow?: string[]; severity?: Severity }): void;
}

export class Agent {
  harness: AgentPhoneHarness;
  id: string;
  name: string;
  /** Its phone number, E.164. */
  number: string;
  numberId: string;
  webhookUrl: string;
  secret: string;
  agent: Record<string, any>;
  ring(options?: { from?: string; script?: ScriptStep[]; limit?: number }): Promise<Call>;
  text(body: string, options?: { from?: string; mediaUrls?: string[]; replyWithinSeconds?: number }): Promise<InboundSms>;
  messages(): Promise<Array<Record<string, any>>>;
  textsTo(phone?: string): Promise<string[]>;
  findings(): Promise<Finding[]>;
  assertFindings(...wanted: FindingMatcher[]): Promise<Finding[]>;
  assertNoFindings(options?: { allow?: string[]; severity?: Severity }): Promise<void>;
}

export class AgentPhoneHarness {
  constructor(options?: HarnessOptions);
  secret: string;
  emulator: RunningEmulator | undefined;
  readonly control: ControlClient;
  readonly baseUrl: string;
  readonly apiKey: string;
  start(): Promise<this>;
  reset(account?: AccountSettings): Promise<void>;
  check(): Promise<void>;
  stop(): Promise<void>;
  makeAgent(fields?: AgentFields): Promise<Agent>;
  allowFindings(...codes: string[]): void;
  findings(): Promise<Finding[]>;
  assertFindings(...wanted: FindingMatcher[]): Promise<Finding[]>;
  assertNoFindings(options?: { allow?: string[]; severity?: Severity }): Promise<void>;
  deliveries(): Promise<Delivery[]>;
  advance(seconds: number): Promise<Clock>;
  fastForward(limitSeconds?: number): Promise<Clock>;
  settle(): ReturnType<ControlClient["settle"]>;
  configure(settings: AccountSettings): Promise<AccountView>;
}
