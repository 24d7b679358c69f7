// The console's entry: the key, the live stream, the tabs. Each tab renders from the store.
import { ApiError, api, events, forgetKey, setKey, takeKey } from "./api.js";
import { initCalls } from "./calls.js";
import { initFindings } from "./findings.js";
import { initState } from "./state.js";
import { S, apply, changed, loadBoard, onChange, showError } from "./store.js";
import { initTexts } from "./texts.js";
import { initWebhooks } from "./webhooks.js";

const live = document.getElementById("live");

function askForKey(message) {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-error").textContent = message || "";
  if (!dialog.open) dialog.showModal();
}

document.getElementById("key-form").addEventListener("submit", () => {
  setKey(document.getElementById("key-input").value.trim());
  connect();
});

async function reload() {
  loadBoard(await api("GET", "/__emulator/board"));
}

// Only what the page draws of every call: a reply carries its words, so the transcript lines
// ("turn": a third of a call's events) are not asked for; the call on screen has its own stream
// for its replies, chunks and keys (calls.js). What nobody asks for, the emulator does not encode.
const WANTED = "call,finding,text,delivery";

let stream = null;
async function connect() {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  try {
    for await (const { event, data } of events(`/__emulator/events?types=${WANTED}`, controller.signal)) {
      // What bench/console_bench.py reads: events received, and how often the stream (re)started.
      if (event === "ready") window.__consoleReady = (window.__consoleReady || 0) + 1;
      else if (data.seq > (window.__fromSeq || 0)) window.__consoleEvents = (window.__consoleEvents || 0) + 1;
      if (event === "overflow") window.__consoleDropped = (window.__consoleDropped || 0) + data.dropped;
      if (event === "ready") {
        live.textContent = "live"; live.className = "badge on"; document.body.dataset.live = "1";
        await reload();
      } else if (event === "reset" || event === "overflow") {
        await reload();
      } else {
        apply(data);
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      forgetKey();
      live.textContent = "offline"; live.className = "badge off";
      askForKey(error.message);
      return;
    }
  }
  if (controller.signal.aborted) return;
  live.textContent = "reconnecting"; live.className = "badge off"; delete document.body.dataset.live;
  setTimeout(() => { if (stream === controller) connect(); }, 1000);  // the emulator restarted, or a proxy cut us
}

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => {
    for (const other of document.querySelectorAll("#tabs button")) other.classList.toggle("active", other === button);
    for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.id === `tab-${button.dataset.tab}`);
    changed();
  });
}

onChange(() => {
  document.getElementById("clock").textContent = S.now ? `${S.now.replace("T", " ").slice(0, 19)}${S.virtual ? " (virtual)" : ""}` : "";
  const errors = S.findings.filter((f) => f.severity === "error").length;
  document.getElementById("finding-count").textContent = errors ? String(errors) : "";
});

window.addEventListener("unhandledrejection", (event) => showError(event.reason));
const hasKey = takeKey();
initCalls(); initTexts(); initWebhooks(); initFindings(); initState();
if (hasKey) connect(); else askForKey();
