// A TypeScript user's code, type-checked by `npm run typecheck` (tsc --noEmit): it proves the
// package's .d.ts files and the generated control-plane types agree with how the API is used.
// It is compiled, not run.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type AudioCloseInfo,
  type Board,
  type CallView,
  type ControlClient,
  type Finding,
  type FindingEvent,
  type LiveEvent,
  type Schemas,
  AudioSocketError,
  ControlPlaneError,
  createControlClient,
  startEmulator,
} from "agentphone-emulator";
import type { paths } from "agentphone-emulator/control-plane";
import { useAgentPhone } from "agentphone-emulator/node-test";

const phone = useAgentPhone({ webhook: "http://127.0.0.1:3000/webhook", account: { creditCents: 10_000 } });

test("typed helpers", async () => {
  const agent = await phone.makeAgent({ beginMessage: "Hi.", timeout: 5, areaCode: "415" });
  const call = await agent.ring({ from: "+14155550100" });
  const greeting: string | undefined = call.greeting?.text;
  const reply = await call.say("When are you open?", { listen: true });
  const ms: number | null | undefined = reply?.firstChunkMs;
  await call.interrupt("Stop", { after: 0.5 });
  await call.press("1");
  await call.hangup();
  const reason: string | null = call.disconnectionReason;
  const texted = await agent.text("hi", { replyWithinSeconds: 2 });
  const bodies: string[] = texted.replies?.map((message) => message.body) ?? [];
  const found: Finding[] = await agent.assertFindings("webhook_timeout", { code: "webhook_http_error", severity: "error" });
  await agent.assertNoFindings({ allow: ["voice_slow_first_chunk"], severity: "error" });
  phone.allowFindings("webhook_timeout");
  assert.ok(greeting !== undefined && ms !== undefined && reason !== undefined && bodies && found);
});

async function control(client: ControlClient): Promise<void> {
  const view: CallView = await client.ring({ to: "+14155551234", script: [{ say: "Hi" }, { hangup: true }] });
  const delivery: Schemas["DeliveryOut"] = await client.delivery("dlv_1");
  const clock = await client.advance(60);
  const ran: Schemas["ClockRunOut"][] | null | undefined = clock.ran;
  await client.reset({ creditCents: 100, require10dlc: false });
  const probe = await client.probe("bad_signature", { agentId: view.callId });
  const refused: boolean | undefined = probe.refused;
  // openapi-fetch, typed by the generated paths: a wrong path or body is a compile error.
  const { data } = await client.api.POST("/__emulator/calls/{call_id}/say", {
    params: { path: { call_id: view.callId } },
    body: { text: "Hello" },
  });
  const live: boolean | undefined = data?.live;
  // @ts-expect-error: "seconds" is required by AdvanceBody
  await client.api.POST("/__emulator/clock/advance", { body: {} });
  assert.ok(delivery && ran !== undefined && refused !== undefined && live !== undefined);
}

async function consoleRoutes(client: ControlClient, callId: string): Promise<void> {
  // The live event stream: typed by `type`; asking for some types narrows what the loop sees.
  const aborter = new AbortController();
  await using stream = await client.events({ types: ["call", "turn"], callId, signal: aborter.signal });
  for await (const event of stream) {
    if (event.type === "turn") {
      const said: string = event.content;
      void said;
    } else if (event.type === "call") {
      const status: string = event.call.status;
      if (!event.call.live) break;
      void status;
    } else {
      const other: "ready" | "overflow" | "reset" = event.type;
      void other;
    }
  }
  const ended: Schemas["CallEventOut"] = await stream.until("call", { timeoutMs: 5000 });
  const everything = await client.events();
  const finding: LiveEvent = await everything.until((event) => event.type === "finding");
  const found = await everything.until((event): event is FindingEvent => event.type === "finding");
  const code: string = found.finding.code;
  await everything.close();
  const board: Board = await client.board({ limit: 10 });
  const numbers: string[] = board.numbers.map((number) => number.phoneNumber);
  const yaml: string = await client.exportScenario(callId);
  const answered = await client.answer(callId, "voicemail");
  // @ts-expect-error: not a choice the console has
  await client.answer(callId, "maybe");
  assert.ok(ended && finding && code && numbers && yaml && answered.choice);
}

async function talk(client: ControlClient, callId: string): Promise<void> {
  try {
    await using audio = await client.openAudio(callId, { sampleRate: 8000, WebSocket: globalThis.WebSocket });
    await audio.stream(new Int16Array(8000), { frameMs: 40 });
    audio.send(new Uint8Array(320));
    audio.bargeIn();
    const words = await audio.until("utterance", { timeoutMs: 20_000 });
    const heard: string = words.text;
    for await (const frame of audio) {
      if (frame.type === "audio") {
        const samples: Int16Array = frame.pcm;
        void samples;
      } else if (frame.type === "reply" && frame.final) {
        audio.hangup();
      }
    }
    const closed: AudioCloseInfo = await audio.closed;
    assert.ok(heard && closed.code === 1000);
  } catch (error) {
    if (error instanceof AudioSocketError && error.code === 4409) console.log(error.detail);
  }
}

async function standalone(): Promise<void> {
  await using emulator = await startEmulator({ apiKeys: ["sk_test_x"], virtualClock: true, args: ["--seed", "1"] });
  const client = createControlClient({ baseUrl: emulator.url, apiKey: emulator.apiKey, adminKey: emulator.adminKey });
  try {
    await control(client);
  } catch (error) {
    if (error instanceof ControlPlaneError) console.log(error.status, error.code, error.detail);
  }
  const route: keyof paths = "/__emulator/findings";
  void route;
}

void standalone;
void consoleRoutes;
void talk;
