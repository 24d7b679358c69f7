// A TypeScript user's code, type-checked by `npm run typecheck` (tsc --noEmit): it proves the
// package's .d.ts files and the generated control-plane types agree with how the API is used.
// It is compiled, not run.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type CallView,
  type ControlClient,
  type Finding,
  type Schemas,
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
