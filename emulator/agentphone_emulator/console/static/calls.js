// The call board: every call live and past, one call's timeline, and the dialer's controls.
import { api, currentKey, events, features } from "./api.js";
import { startMic } from "./mic.js";
import { S, apply, onScreen, changed, esc, onChange, repliesOf, setHtml, showError, time } from "./store.js";

const list = document.getElementById("call-list");
const detail = document.getElementById("call-detail");
const dialTo = document.getElementById("dial-to");
const ringingBox = document.getElementById("ringing");
let feature = {};
let mic = null;
let micStatus = "";  // what the microphone's socket said last: kept across renders of the call

function act(promise) { showError(null); return promise.catch(showError); }

export function initCalls() {
  features().then((f) => { feature = f; changed(); });
  document.getElementById("dialer").addEventListener("submit", async (event) => {
    event.preventDefault();
    await act((async () => {
      const call = await api("POST", "/__emulator/calls", { to: dialTo.value, from: document.getElementById("dial-from").value });
      select(call.callId, call);
    })());
  });
  list.addEventListener("click", (event) => {
    const row = event.target.closest("[data-call-id]");
    if (row) select(row.dataset.callId);
  });
  ringingBox.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-choice]");
    if (!button) return;
    const callId = button.dataset.call;
    await act(api("POST", `/__emulator/calls/${callId}/answer`, { choice: button.dataset.choice }));
    select(callId);
  });
  detail.addEventListener("submit", (event) => { event.preventDefault(); say(); });
  detail.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (button) control(button.dataset.act, button.dataset.digit);
  });
  onChange(render);
}

function load(view) {
  const replies = new Map();
  for (const reply of view.replies) replies.set(reply.turn, reply);
  S.replies.set(view.callId, replies);
  S.keys.set(view.callId, view.keyPresses || []);
}

// The call on screen has a stream of its own for its replies, chunks and keys; the page's main
// stream carries none (app.js): with 100 calls at once, the emulator encodes the timeline of the
// one call a person looks at, not of all of them.
let follow = null;
async function followCall(callId) {
  if (follow) follow.abort();
  const controller = new AbortController();
  controller.callId = callId;
  follow = controller;
  const query = `types=reply,chunk,keys&callId=${encodeURIComponent(callId)}`;
  try {
    for await (const { event, data } of events(`/__emulator/events?${query}`, controller.signal)) {
      if (event !== "ready" && data.seq > (window.__fromSeq || 0)) window.__consoleEvents = (window.__consoleEvents || 0) + 1;
      if (event === "ready" || event === "reset" || event === "overflow") {
        // From here on every change comes as an event: read the call as it is now.
        await api("GET", `/__emulator/calls/${callId}`).then(load).catch(() => {});
        changed();
      } else {
        apply(data);
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (!controller.signal.aborted && follow === controller) setTimeout(() => { if (follow === controller) followCall(callId); }, 1000);
}

async function select(callId, view) {
  S.selected.call = callId;
  if (view) load(view);
  changed();
  if (!follow || follow.callId !== callId) followCall(callId);
}

const path = (what) => `/__emulator/calls/${S.selected.call}/${what}`;
const utterance = () => detail.querySelector("#say-text");

async function say() {
  const text = utterance().value.trim();
  if (!text) return;
  utterance().value = "";
  // A virtual clock moves only when driven: there the reply is heard whole before the answer.
  await act(api("POST", path("say"), { text, listen: S.virtual }));
}

async function control(what, digit) {
  if (what === "interrupt") {
    const text = utterance().value.trim() || "Sorry, one moment";
    utterance().value = "";
    const after = Number(detail.querySelector("#interrupt-after").value || 1);
    await act(api("POST", path("interrupt"), { text, after }));
  } else if (what === "press") {
    await act(api("POST", path("press"), { digits: digit }));
  } else if (what === "hangup") {
    if (mic) { mic.stop(); mic = null; }
    await act(api("POST", path("hangup")));
  } else if (what === "export") {
    await act(exportScenario());
  } else if (what === "mic") {
    if (mic) { mic.stop(); mic = null; micStatus = "microphone off"; changed(); return; }
    const showStatus = (message) => {
      micStatus = message;
      const shown = detail.querySelector("#mic-status");
      if (shown) shown.textContent = message;
    };
    showStatus("");
    // Once its socket is gone (the call ended) the microphone is off: the button offers Talk again.
    const started = await act(startMic(S.selected.call, showStatus, () => { if (mic === started) { mic = null; changed(); } }));
    if (!started) return;  // no microphone, or the person refused it: act showed why
    mic = started;
    changed();
  }
}

async function exportScenario() {
  const response = await fetch(path("scenario"), { headers: { Authorization: `Bearer ${currentKey()}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status}: ${text}`);
  const shown = detail.querySelector("#scenario");
  shown.textContent = text;
  shown.hidden = false;
  const link = detail.querySelector("#scenario-download");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
  link.download = `call-${S.selected.call}.scenario.yaml`;
  link.hidden = false;
}

function render() {
  if (!onScreen("calls")) return;
  const numbers = S.numbers.filter((n) => n.agentId);
  const options = numbers.map((n) => `<option value="${esc(n.phoneNumber)}">${esc(n.phoneNumber)} · ${esc(n.agentName || n.agentId)}</option>`).join("");
  if (dialTo.dataset.options !== options) { const kept = dialTo.value; dialTo.innerHTML = options; dialTo.dataset.options = options; if (kept) dialTo.value = kept; }
  const calls = [...S.calls.values()].sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
  // Outbound calls ringing here (their callee is "console"): the person decides.
  const choices = [["answer", "Answer"], ["busy", "Busy"], ["no-answer", "No answer"], ["voicemail", "Voicemail"]];
  setHtml(ringingBox, calls.filter((c) => c.status === "ringing").map((c) => `<div class="card ring" data-ringing="${esc(c.id)}">
      <strong>${esc(c.from)} is calling ${esc(c.to)}</strong>
      <div class="row">${choices.map(([choice, label]) => `<button type="button" data-call="${esc(c.id)}" data-choice="${choice}">${label}</button>`).join("")}</div></div>`).join(""));
  setHtml(list, calls.map((c) => `<li data-call-id="${esc(c.id)}" class="${c.id === S.selected.call ? "selected" : ""}">
      <span class="status ${c.live ? "live" : ""}">${esc(c.live ? c.status : c.disconnectionReason || c.status)}</span>
      ${esc(c.from)} → ${esc(c.to)} <span class="muted">${esc(c.direction)} · ${time(c.startedAt)}</span></li>`).join("")
    || `<li class="muted">No calls yet.</li>`);
  renderDetail();
}

function renderDetail() {
  const call = S.calls.get(S.selected.call);
  if (!call) return;
  const focused = document.activeElement && detail.contains(document.activeElement) ? document.activeElement.id : null;
  const typed = utterance() ? utterance().value : "";
  const after = detail.querySelector("#interrupt-after") ? detail.querySelector("#interrupt-after").value : "1";
  const scenario = detail.querySelector("#scenario") ? detail.querySelector("#scenario").outerHTML : "<pre id=\"scenario\" hidden></pre>";
  const replies = [...repliesOf(call.id).values()].sort((a, b) => a.turn - b.turn);
  const keys = S.keys.get(call.id) || [];
  const findings = S.findings.filter((f) => f.callId === call.id && f.turn == null);
  const scale = Math.max(1000, ...replies.map((r) => r.lastChunkMs || 0));
  const changedHtml = setHtml(detail, `
    <div class="card" data-call="${esc(call.id)}">
      <h3>${esc(call.from)} → ${esc(call.to)} <span class="status ${call.live ? "live" : ""}" id="call-status">${esc(call.status)}</span></h3>
      <p class="muted">${esc(call.id)} · ${esc(call.direction)} · started ${time(call.startedAt)}
        ${call.endedAt ? ` · ended ${time(call.endedAt)} (<span id="call-reason">${esc(call.disconnectionReason)}</span>)` : ""}
        ${call.transferredTo ? ` · transferred to ${esc(call.transferredTo)}` : ""}</p>
      ${keys.length ? `<p id="keys">Keys: ${keys.map((k) => `<span class="key">${esc(k.by)} ${esc(k.digits)}</span>`).join(" · ")}</p>` : ""}
      ${call.live ? controls(typed, after) : exportControls(scenario)}
      ${call.hasRecording ? `<audio controls preload="none" src="/v1/calls/${esc(call.id)}/recording"></audio>` : ""}
    </div>
    <ol class="timeline" id="timeline">${replies.map((r) => turn(r, scale)).join("")}</ol>
    ${findings.map(finding).join("")}`);
  if (!changedHtml) return;  // the same as drawn: inputs, focus and widths are as they were
  // Widths through the CSSOM: the page's Content-Security-Policy allows no inline style attribute.
  for (const span of detail.querySelectorAll(".bar span")) {
    span.style.left = `${span.dataset.left}%`;
    span.style.width = `${span.dataset.width}%`;
  }
  if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
}

function controls(typed, after) {
  const digits = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  return `<div class="controls">
    <form id="say" class="row"><input id="say-text" placeholder="Say something..." value="${esc(typed)}" autocomplete="off">
      <button type="submit">Say</button>
      <button type="button" data-act="interrupt" id="interrupt">Interrupt</button>
      <label>after s <input id="interrupt-after" type="number" min="0" step="0.1" value="${esc(after)}" class="narrow"></label>
    </form>
    <div class="pad" id="pad">${digits.map((d) => `<button type="button" data-act="press" data-digit="${d}">${d}</button>`).join("")}</div>
    <div class="row">
      ${feature.audio ? `<button type="button" data-act="mic" id="mic">${mic ? "Stop talking" : "Talk (microphone)"}</button><span id="mic-status" class="muted">${esc(micStatus)}</span>` : ""}
      <button type="button" data-act="hangup" class="danger" id="hangup">Hang up</button>
    </div></div>`;
}

function exportControls(scenario) {
  return `<div class="row"><button type="button" data-act="export" id="export">Export as scenario</button>
    <a id="scenario-download" hidden>Download YAML</a></div>${scenario}`;
}

function turn(reply, scale) {
  const first = reply.firstChunkMs, last = reply.lastChunkMs;
  const bar = first == null ? "" : `<div class="bar" title="end of the caller's words → first chunk ${Math.round(first)} ms → last chunk ${Math.round(last ?? first)} ms">
      <span class="wait" data-left="0" data-width="${(100 * first) / scale}"></span>
      <span class="speak" data-left="${(100 * first) / scale}" data-width="${(100 * Math.max(2, (last ?? first) - first)) / scale}"></span></div>`;
  const said = reply.turn === 0 ? "" : `<div class="caller">Caller: ${esc(reply.utterance)}</div>`;
  const chunks = reply.chunks.map((c) => {
    const spoken = c.spoken ?? c.text;
    const cut = c.text.startsWith(spoken) ? c.text.slice(spoken.length) : "";
    return `<span class="chunk ${c.interim ? "interim" : ""}" title="+${Math.round(c.latencyMs)} ms">${esc(spoken)}${cut ? `<del>${esc(cut)}</del>` : ""}</span>`;
  }).join(" ");
  const extras = [reply.digits ? `pressed ${esc(reply.digits)}` : "", reply.hangup ? "hung up" : "", reply.transfer ? "transferred" : ""].filter(Boolean).join(" · ");
  return `<li data-turn="${reply.turn}" class="reply ${esc(reply.state)}">${said}
    <div>Agent <span class="status">${esc(reply.state)}</span>
      ${first != null ? `<span class="muted">first chunk ${Math.round(first)} ms · last ${Math.round(last ?? first)} ms</span>` : ""}
      ${reply.interruptedAt ? `<span class="bad">cut at ${time(reply.interruptedAt)}</span>` : ""} ${extras}</div>
    ${bar}<div class="said">${chunks}</div>${(reply.findings || []).map(finding).join("")}</li>`;
}

export function finding(f) {
  return `<div class="finding ${esc(f.severity)}"><strong>${esc(f.code)}</strong> ${esc(f.message)}
    ${f.offending ? `<pre>${esc(f.offending)}</pre>` : ""}</div>`;
}
