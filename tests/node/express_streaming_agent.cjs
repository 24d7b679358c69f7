// The platform's documented "streaming handler (Node.js / Express)", run as written; driven by
// tests/test_streaming_examples.py.
//
// Between the BEGIN and END lines is the docs' example, character for character (the test checks it
// against the platform's docs when they are at hand). Around it, only what the docs leave to the
// reader: an Express app, a listen call (port 0 on loopback, the port printed as the first stdout
// line), and a deterministic stand-in for the `openai` package, which the example requires: its
// "model" answers "You said: <the last Customer line of the prompt it was given>", so what the
// caller hears shows which utterance the handler saw last.

const Module = require("module");
const express = require("express");

function lastCustomerLine(prompt) {
  const said = prompt
    .split("\n")
    .filter((line) => line.startsWith("Customer: "))
    .map((line) => line.slice("Customer: ".length));
  return said.length ? said[said.length - 1] : "nothing yet";
}

class StandInOpenAI {
  constructor() {
    this.chat = {
      completions: {
        create: async (request) => {
          const prompt = request.messages[request.messages.length - 1].content;
          const pieces = ["You said: ", lastCustomerLine(prompt)];
          return (async function* stream() {
            for (const content of pieces) yield { choices: [{ delta: { content } }] };
            yield { choices: [{ delta: {} }] }; // the end of a real stream carries no content
          })();
        },
      },
    };
  }
}

const realLoad = Module._load;
Module._load = function load(request, ...rest) {
  return request === "openai" ? StandInOpenAI : realLoad.call(this, request, ...rest);
};

const app = express();

// BEGIN the docs' example
const OpenAI = require('openai');
const openai = new OpenAI();

app.post('/webhook', express.json(), async (req, res) => {
  if (req.body.channel !== 'voice') return res.status(200).send('OK');

  const history = req.body.recentHistory || [];
  const context = history
    .map(h => `${h.direction === 'inbound' ? 'Customer' : 'Agent'}: ${h.content}`)
    .join('\n');

  res.setHeader('Content-Type', 'application/x-ndjson');
  res.write(JSON.stringify({ text: 'One moment, let me check.', interim: true }) + '\n');

  const stream = await openai.chat.completions.create({
    model: 'gpt-4',
    stream: true,
    messages: [
      { role: 'system', content: 'You are a helpful phone agent.' },
      { role: 'user', content: `Conversation:\n${context}\n\nRespond.` }
    ]
  });

  let full = '';
  for await (const chunk of stream) {
    full += chunk.choices[0]?.delta?.content || '';
  }
  res.write(JSON.stringify({ text: full }) + '\n');
  res.end();
});
// END the docs' example

const server = app.listen(0, "127.0.0.1", (error) => {
  if (error) throw error;
  console.log(`LISTENING ${server.address().port}`);
});
