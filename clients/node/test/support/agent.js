// A small webhook agent for the package's own tests, on node:http: it verifies each signature as
// the platform's docs do and answers by what the caller said, so each test can make it behave
// (or misbehave) on cue. It reads the emulator's URL, key and secret from the environment the
// harness sets, when a request comes in.

import { createHmac, timingSafeEqual } from "node:crypto";

export function verify(raw, signature, timestamp, secret) {
  const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${raw}`).digest("hex")}`;
  return typeof signature === "string" && signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

/** Every event the agent received: {event, channel, data, verified, headers}. */
export const received = [];

function voiceReply(said) {
  const text = said.toLowerCase();
  if (text.includes("open")) return { text: "We're open nine to five, Monday to Friday." };
  if (text.includes("person")) return { text: "Putting you through.", action: "transfer" };
  if (text.includes("bye")) return { text: "Goodbye!", hangup: true };
  if (text.includes("broken")) return "not an object"; // a contract breach: voice_non_object_reply
  if (text.includes("story")) return { text: "Once upon a time there was a very long story that went on and on for many words indeed." };
  return { text: `You said: ${said}` };
}

async function textBack(data) {
  const response = await fetch(`${process.env.AGENTPHONE_BASE_URL}/v1/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${process.env.AGENTPHONE_API_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ number_id: data.numberId, to_number: data.from, body: `Got it: ${data.message}` }),
  });
  if (!response.ok) throw new Error(`sending the text back: ${response.status} ${await response.text()}`);
}

export async function agent(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString("utf8");
  const verified = verify(raw, req.headers["x-webhook-signature"], req.headers["x-webhook-timestamp"], process.env.AGENTPHONE_WEBHOOK_SECRET ?? "");
  let payload = null;
  try {
    payload = JSON.parse(raw);
  } catch {
    payload = null;
  }
  received.push({ verified, event: payload?.event, channel: payload?.channel, data: payload?.data, headers: req.headers, raw });
  const send = (status, body) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (!verified) return send(401, { detail: "invalid signature" });
  if (payload.event !== "agent.message") return send(200, { ok: true });
  if (payload.channel === "voice") {
    const said = payload.data.transcript ?? "";
    if (said.toLowerCase().includes("crash")) return send(500, { detail: "boom" });
    return send(200, voiceReply(said));
  }
  if (payload.data.direction === "inbound" && payload.data.message?.includes("fail")) return send(500, { detail: "boom" });
  if (payload.data.direction === "inbound") await textBack(payload.data);
  return send(200, { ok: true });
}
