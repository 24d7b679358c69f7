// The platform's documented Express webhook receiver, driven by tests/test_receivers.py.
//
// verifyWebhook and the POST /webhook handler are the documentation's code verbatim: the point is
// that a user who copies them gets 200s from the emulator's signed deliveries (and 401s when the
// secret is wrong). Only the listen call differs (port 0 on loopback, the port printed as the first
// stdout line), and a recorder is added in front so the test can see what the handler saw:
// GET /seen lists every POST /webhook, DELETE /seen forgets them.

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

// Test-only recorder. It runs the documented verifyWebhook itself, synchronously, before the
// documented handler answers: by the time the emulator has the response, the entry is recorded.
const seen = [];
app.use("/webhook", (req, res, next) => {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  let payload = null;
  try {
    payload = JSON.parse(raw.toString());
  } catch {
    payload = null; // recorded as null; the documented handler decides what to answer
  }
  const data = (payload && payload.data) || {};
  seen.push({
    verified: verifyWebhook(
      raw,
      req.headers["x-webhook-signature"],
      req.headers["x-webhook-timestamp"],
      WEBHOOK_SECRET,
    ),
    webhookId: req.headers["x-webhook-id"] ?? null,
    eventHeader: req.headers["x-webhook-event"] ?? null,
    contentType: req.headers["content-type"] ?? null,
    event: (payload && payload.event) ?? null,
    channel: (payload && payload.channel) ?? null,
    direction: data.direction ?? null,
    from: data.from ?? null,
    to: data.to ?? null,
    message: data.message ?? null,
    // Re-serialising the parsed body must give the bytes back (the platform's Next.js example
    // verifies JSON.stringify(await req.json())); the test asserts this is true.
    restringifies: payload !== null && JSON.stringify(payload) === raw.toString(),
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
  }

  res.status(200).send("OK");
});

app.get("/seen", (req, res) => res.json(seen));
app.delete("/seen", (req, res) => {
  seen.length = 0;
  res.status(204).end();
});

const server = app.listen(0, "127.0.0.1", (error) => {
  if (error) throw error;
  console.log(`LISTENING ${server.address().port}`);
});
