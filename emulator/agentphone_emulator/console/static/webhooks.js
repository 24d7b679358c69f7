// The webhook inspector: every delivery and attempt, the payload and (where the emulator serves
// them) the exact request bytes; replay, replay edited, fast-forward the retries, send a probe.
import { api, features } from "./api.js";
import { finding } from "./calls.js";
import { S, onScreen, changed, esc, onChange, setHtml, showError, time } from "./store.js";

const rows = document.getElementById("delivery-list");
const detail = document.getElementById("delivery-detail");
let feature = {};
let shown = null;     // the selected delivery's full record, as last read
let editing = null;   // the delivery the edit form was filled from (typing survives live updates)
let probeResult = "";

export function initWebhooks() {
  features().then((f) => { feature = f; changed(); });
  rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) pick(row.dataset.id);
  });
  detail.addEventListener("click", async (event) => {
    const link = event.target.closest("[data-goto]");
    if (link) { pick(link.dataset.goto); return; }
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    showError(null);
    try {
      if (button.dataset.act === "replay") await api("POST", `/__emulator/deliveries/${S.selected.delivery}/retry`);
      else if (button.dataset.act === "fast-forward") await api("POST", "/__emulator/clock/fast-forward", {});
      else if (button.dataset.act === "probe") {
        // A probe is no delivery (nothing logged): its verdict is shown here.
        const agentId = (S.deliveries.get(S.selected.delivery) || {}).agentId;
        const probe = await api("POST", "/__emulator/probes", agentId ? { kind: button.dataset.kind, agentId } : { kind: button.dataset.kind });
        probeResult = `Probe ${probe.kind}: ${probe.httpStatus ?? probe.errorMessage} (expected ${probe.expected}) · ${probe.passed ? "passed" : "FAILED"}`;
      }
      await read();
    } catch (error) { showError(error); }
  });
  detail.addEventListener("submit", (event) => {
    if (event.target.id !== "edit-form") return;
    event.preventDefault();
    sendEdited();
  });
  onChange(render);
}

function pick(id) {
  S.selected.delivery = id; shown = null; probeResult = ""; changed(); read();
}

async function read() {
  const id = S.selected.delivery;
  if (!id) return;
  shown = feature.deliveryDetail
    ? await api("GET", `/__emulator/deliveries/${id}`)
    : (await api("GET", "/__emulator/deliveries")).find((d) => d.id === id);
  changed();
}

// "Name: value" a line -> {Name: value}; a line without a colon is the person's to fix.
function headerLines(text) {
  const headers = {};
  text.split("\n").forEach((line, index) => {
    if (!line.trim()) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`headers, line ${index + 1}: expected "Name: value", got "${line.trim()}"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return headers;
}

async function sendEdited() {
  const error = detail.querySelector("#edit-error");
  error.textContent = "";
  try {
    const body = {
      body: detail.querySelector("#edit-body").value,
      headers: headerLines(detail.querySelector("#edit-headers").value),
      signature: detail.querySelector("#edit-signature").value,
    };
    const replay = await api("POST", `/__emulator/deliveries/${S.selected.delivery}/replay`, body);
    S.selected.delivery = replay.id;  // the new delivery, shown like any other
    shown = replay;
    changed();
  } catch (failure) { error.textContent = String(failure.message || failure); }
}

function statusClass(d) { return d.status === "success" ? "ok" : d.status === "failed" ? "bad" : "warn"; }

function editForm(full) {
  const signatures = [["signed", "signed with the webhook's secret"], ["unsigned", "unsigned (no X-Webhook-Signature)"], ["forged", "forged signature"]];
  return `<details class="card" id="edit"><summary>Replay edited</summary>
    <form id="edit-form">
      <label>Body, sent exactly as written (a new X-Webhook-ID; signed over these bytes)
        <textarea id="edit-body" rows="14" spellcheck="false">${esc(JSON.stringify(full.payload, null, 2))}</textarea></label>
      <label>Headers to set, one "Name: value" a line <textarea id="edit-headers" rows="2" spellcheck="false"></textarea></label>
      <div class="row"><label>Signature <select id="edit-signature">${signatures.map(([v, l]) => `<option value="${v}">${l}</option>`).join("")}</select></label>
        <button type="submit" id="edit-send">Send edited</button></div>
      <p id="edit-error" class="error" role="alert"></p>
    </form></details>`;
}

function render() {
  if (!onScreen("webhooks")) return;
  const deliveries = [...S.deliveries.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  setHtml(rows, deliveries.map((d) => `<tr data-id="${esc(d.id)}" class="${d.id === S.selected.delivery ? "selected" : ""}">
    <td>${esc(d.eventType)}<div class="muted">${esc(d.id)} · ${time(d.createdAt)}${d.replayOf ? ` · edited replay of ${esc(d.replayOf)}` : ""}</div></td>
    <td class="${statusClass(d)}">${esc(d.status)}</td><td>${d.attemptCount}</td>
    <td>${esc(d.lastAttempt ? d.lastAttempt.httpStatus ?? d.lastAttempt.errorMessage : "")}</td>
    <td>${d.lastAttempt ? Math.round(d.lastAttempt.durationMs) : ""}</td></tr>`).join(""));
  const id = S.selected.delivery;
  const summary = S.deliveries.get(id) || (shown && shown.id === id ? shown : null);
  if (!summary) return;
  if (shown && shown.id === id && shown.attemptCount !== summary.attemptCount) { read(); }
  const full = shown && shown.id === id ? shown : {};
  if (!detail.querySelector(`#delivery-view[data-id="${CSS.escape(id)}"]`)) {
    detail.innerHTML = `<div id="delivery-view" data-id="${esc(id)}"></div><div id="delivery-edit"></div>`;
    editing = null;
  }
  if (feature.replayEdited && full.payload && editing !== id) {
    detail.querySelector("#delivery-edit").innerHTML = editForm(full);
    editing = id;
  }
  const attempts = (full.attempts || []).map((a, i) => `<tr><td>${i + 1}</td><td>${time(a.at)}</td>
      <td class="${a.httpStatus >= 200 && a.httpStatus < 300 ? "ok" : "bad"}">${esc(a.httpStatus ?? "")}</td>
      <td>${Math.round(a.durationMs)}</td><td>${esc(a.errorMessage || "")}${a.responseBody ? `<pre>${esc(a.responseBody)}</pre>` : ""}
      ${a.request ? `<details><summary>request</summary><pre>${esc(a.request.method)} ${esc(a.request.url)}\n${Object.entries(a.request.headers || {}).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join("\n")}\n\n${esc(a.request.body)}</pre></details>` : ""}</td></tr>`).join("");
  const probes = feature.probes ? ["bad_signature", "stale_timestamp", "duplicate"].map((k) => `<button type="button" data-act="probe" data-kind="${k}">Probe: ${k.replace("_", " ")}</button>`).join("") : "";
  const replayOf = summary.replayOf
    ? `<p id="replay-of">Edited replay of <a href="#" data-goto="${esc(summary.replayOf)}">${esc(summary.replayOf)}</a>${full.signature && full.signature !== "signed" ? ` · <strong class="warn">${esc(full.signature)}</strong>: a 400, 401 or 403 is the right answer` : ""}</p>`
    : "";
  const found = S.findings.filter((f) => f.deliveryId === id);
  setHtml(detail.querySelector("#delivery-view"), `<div class="card"><h3>${esc(summary.eventType)} <span class="${statusClass(summary)}" id="delivery-status">${esc(summary.status)}</span></h3>
    <p class="muted">${esc(summary.id)} (X-Webhook-ID) → ${esc(summary.url)}${summary.nextRetryAt ? ` · next retry ${esc(summary.nextRetryAt)}` : ""}</p>
    ${replayOf}
    <div class="row"><button type="button" data-act="replay" id="replay">Replay (same X-Webhook-ID)</button>
      <button type="button" data-act="fast-forward">Fast-forward retries</button>${probes}</div>
    <p id="probe-result" class="muted">${esc(probeResult)}</p></div>
    <table class="grid"><thead><tr><th>#</th><th>at</th><th>HTTP</th><th>ms</th><th>error / response</th></tr></thead><tbody id="attempts">${attempts}</tbody></table>
    <div id="delivery-findings">${found.map(finding).join("")}</div>
    ${full.payload ? `<h4>Payload</h4><pre id="payload">${esc(JSON.stringify(full.payload, null, 2))}</pre>` : ""}`);
}
