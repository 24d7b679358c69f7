// The platform's documented Express webhook handler, answering voice turns; driven by
// tests/test_voice_handlers.py.
//
// verifyWebhook and the POST /webhook handler are the documentation's "Express.js Webhook Handler"
// (the voice branch answers with res.status(200).json(response)); processVoice and onCallEnded are
// the user's part: the agent says back what it heard, and a finished call is remembered. Only the
// listen call differs from the docs (port 0 on loopback, the port printed as the first stdout line),
// and a recorder is added in front so the test can see every request the handler got:
// GET /events lists them, DELETE /events forgets them.

const express = require("express");
const crypto = require("crypto");
const app = express();

const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;

app.use("/webhook", express.raw({ type: "application/json" }));

function verifyWebhook(payload, signature, timestamp, secret) {
  if (Math.abs(Date.now() / 1000 - parseInt(timestamp)) > 300) return false;
  const signedString = timestamp + "." + payload;
  const expected = crypto.createHmac("sha256", secret).update(signedString).digest("hex");
  return signature === `sha256=${expected}`;
}

// Test-only recorder: what arrived, and whether the documented check accepted it.
const events = [];
app.use("/webhook", (req, res, next) => {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  let payload = null;
  try {
    payload = JSON.parse(raw.toString());
  } catch {
    payload = null;
  }
  const data = (payload && payload.data) || {};
  events.push({
    verified: verifyWebhook(
      raw,
      req.headers["x-webhook-signature"],
      req.headers["x-webhook-timestamp"],
      WEBHOOK_SECRET,
    ),
    event: (payload && payload.event) ?? null,
    channel: (payload && payload.channel) ?? null,
    callId: data.callId ?? null,
    transcript: data.transcript ?? null,
    historyLength: payload && Array.isArray(payload.recentHistory) ? payload.recentHistory.length : null,
  });
  next();
});

app.post("/webhook", (req, res) => {
  const signature = req.headers["x-webhook-signature"];
  const timestamp = req.headers["x-webhook-timestamp"];

  if (!verifyWebhook(req.body, signature, timestamp, WEBHOOK_SECRET)) {
    return res.status(401).send("Invalid signature");
  }

  const payload = JSON.parse(req.body.toString());

  if (payload.event === "agent.message") {
    const { channel, data } = payload;

    if (channel === "sms") {
      console.log(`SMS from ${data.from}: ${data.message}`);
      return res.status(200).send("OK");
    }

    if (channel === "voice") {
      console.log(`Voice from ${data.from}: ${data.transcript}`);
      processVoice(data)
        .then((response) => {
          res.status(200).json(response);
        })
        .catch(() => {
          res.status(200).json({ text: "Sorry, I encountered an error." });
        });
      return;
    }
  }

  if (payload.event === "agent.call_ended") {
    const { data } = payload;
    console.log(`Call ended: ${data.callId} (${data.durationSeconds}s, ${data.status})`);
    console.log(`Transcript: ${data.transcript.length} turns`);
    onCallEnded(data).catch(console.error);
    return res.status(200).send("OK");
  }

  res.status(200).send("OK");
});

async function processVoice(data) {
  if (data.transcript.toLowerCase().includes("bye")) {
    return { text: "Thanks for calling, goodbye!", hangup: true };
  }
  return { text: `Thanks for calling! You said: ${data.transcript}` };
}

const endedCalls = [];

async function onCallEnded(data) {
  endedCalls.push({
    callId: data.callId,
    status: data.status,
    disconnectionReason: data.disconnectionReason,
    transcript: data.transcript,
  });
}

app.get("/events", (req, res) => res.json({ events, endedCalls }));
app.delete("/events", (req, res) => {
  events.length = 0;
  endedCalls.length = 0;
  res.status(204).end();
});

const server = app.listen(0, "127.0.0.1", (error) => {
  if (error) throw error;
  console.log(`LISTENING ${server.address().port}`);
});
