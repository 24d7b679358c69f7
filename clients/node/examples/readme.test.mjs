import assert from "node:assert/strict";
import { test } from "node:test";
import { useAgentPhone } from "agentphone-emulator/node-test";
import { app } from "./agent.mjs"; // your Express app

const phone = useAgentPhone({ webhook: app, path: "/webhook" });

test("answers opening hours", async () => {
  const call = await (await phone.makeAgent({ beginMessage: "Hi, this is Acme." })).ring();
  assert.equal(call.greeting.text, "Hi, this is Acme.");
  assert.match((await call.say("When are you open?")).text, /nine to five/);
});
