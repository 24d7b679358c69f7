// agent.mjs: an AgentPhone agent as an Express webhook. It verifies each webhook's signature,
// answers voice turns with JSON, and answers texts through the official SDK. Where it finds the
// platform comes from its environment, so the same code talks to AgentPhone or to the emulator.
import crypto from "node:crypto";
import { pathToFileURL } from "node:url";

import { AgentPhoneClient } from "agentphone";
import express from "express";

export const app = express();
app.use("/webhook", express.raw({ type: "application/json" }));

function verifyWebhook(payload, signature, timestamp, secret) {
  if (Math.abs(Date.now() / 1000 - parseInt(timestamp)) > 300) return false;
  const expected = crypto.createHmac("sha256", secret).update(`${timestamp}.${payload}`).digest("hex");
  return signature === `sha256=${expected}`;
}

app.post("/webhook", async (req, res) => {
  const signature = req.headers["x-webhook-signature"];
  const timestamp = req.headers["x-webhook-timestamp"];
  if (!verifyWebhook(req.body, signature, timestamp, process.env.AGENTPHONE_WEBHOOK_SECRET)) {
    return res.status(401).send("Invalid signature");
  }
  const { event, channel, data } = JSON.parse(req.body.toString());
  if (event !== "agent.message") return res.json({ ok: true }); // agent.call_ended, agent.reaction ...

  if (channel === "voice") {
    const said = data.transcript.toLowerCase();
    if (said.includes("open")) return res.json({ text: "We're open nine to five, Monday to Friday." });
    if (said.includes("person")) return res.json({ text: "Putting you through.", action: "transfer" });
    if (said.includes("bye")) return res.json({ text: "Goodbye!", hangup: true });
    return res.json({ text: "I can tell you our opening hours." });
  }

  if (data.direction === "inbound") { // not the echo of a text we sent
    const client = new AgentPhoneClient({
      token: process.env.AGENTPHONE_API_KEY,
      baseUrl: process.env.AGENTPHONE_BASE_URL, // unset: https://api.agentphone.ai
    });
    await client.messages.sendMessage({ number_id: data.numberId, to_number: data.from, body: "Thanks! We open at nine." });
  }
  res.json({ ok: true });
});

if (import.meta.url === pathToFileURL(process.argv[1]).href) { // node agent.mjs
  const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
    console.log(`agent listening on http://127.0.0.1:${server.address().port}/webhook`);
  });
}
