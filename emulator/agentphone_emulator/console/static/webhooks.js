// The webhook inspector: every delivery and attempt, the payload and (where the emulator serves
// them) the exact request bytes; replay, fast-forward the retries, send a probe.
import { api, features } from "./api.js";
import { S, onScreen, changed, esc, onChange, showError, time } from "./store.js";

const rows = document.getElementById("delivery-list");
const detail = document.getElementById("delivery-detail");
let feature = {};
let shown = null;  // the selected delivery's full record, as last read

export function initWebhooks() {
  features().then((f) => { feature = f; });
  rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) { S.selected.delivery = row.dataset.id; shown = null; changed(); read(); }
  });
  detail.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    showError(null);
    try {
      if (button.dataset.act === "replay") await api("POST", `/__emulator/deliveries/${S.selected.delivery}/retry`);
      else if (button.dataset.act === "fast-forward") await api("POST", "/__emulator/clock/fast-forward", {});
      else if (button.dataset.act === "probe") await api("POST", "/__emulator/probes", { kind: button.dataset.kind, deliveryId: S.selected.delivery });
      await read();
    } catch (error) { showError(error); }
  });
  onChange(render);
}

async function read() {
  const id = S.selected.delivery;
  if (!id) return;
  shown = feature.deliveryDetail
    ? await api("GET", `/__emulator/deliveries/${id}`)
    : (await api("GET", "/__emulator/deliveries")).find((d) => d.id === id);
  changed();
}

function statusClass(d) { return d.status === "success" ? "ok" : d.status === "failed" ? "bad" : "warn"; }

function render() {
  if (!onScreen("webhooks")) return;
  const deliveries = [...S.deliveries.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  rows.innerHTML = deliveries.map((d) => `<tr data-id="${esc(d.id)}" class="${d.id === S.selected.delivery ? "selected" : ""}">
    <td>${esc(d.eventType)}<div class="muted">${esc(d.id)} · ${time(d.createdAt)}</div></td>
    <td class="${statusClass(d)}">${esc(d.status)}</td><td>${d.attemptCount}</td>
    <td>${esc(d.lastAttempt ? d.lastAttempt.httpStatus ?? d.lastAttempt.errorMessage : "")}</td>
    <td>${d.lastAttempt ? Math.round(d.lastAttempt.durationMs) : ""}</td></tr>`).join("");
  const summary = S.deliveries.get(S.selected.delivery);
  if (!summary) return;
  if (shown && shown.attemptCount !== summary.attemptCount) { read(); }
  const full = shown || {};
  const attempts = (full.attempts || []).map((a, i) => `<tr><td>${i + 1}</td><td>${time(a.at)}</td>
      <td class="${a.httpStatus >= 200 && a.httpStatus < 300 ? "ok" : "bad"}">${esc(a.httpStatus ?? "")}</td>
      <td>${Math.round(a.durationMs)}</td><td>${esc(a.errorMessage || "")}${a.responseBody ? `<pre>${esc(a.responseBody)}</pre>` : ""}
      ${a.request ? `<details><summary>request</summary><pre>${esc(a.request.method)} ${esc(a.request.url)}\n${Object.entries(a.request.headers || {}).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join("\n")}\n\n${esc(a.request.body)}</pre></details>` : ""}</td></tr>`).join("");
  const probes = feature.probes ? ["forged_signature", "stale_timestamp", "duplicate"].map((k) => `<button type="button" data-act="probe" data-kind="${k}">Probe: ${k.replace("_", " ")}</button>`).join("") : "";
  detail.innerHTML = `<div class="card"><h3>${esc(summary.eventType)} <span class="${statusClass(summary)}" id="delivery-status">${esc(summary.status)}</span></h3>
    <p class="muted">${esc(summary.id)} (X-Webhook-ID) → ${esc(summary.url)}${summary.nextRetryAt ? ` · next retry ${esc(summary.nextRetryAt)}` : ""}</p>
    <div class="row"><button type="button" data-act="replay" id="replay">Replay (same X-Webhook-ID)</button>
      <button type="button" data-act="fast-forward">Fast-forward retries</button>${probes}</div></div>
    <table class="grid"><thead><tr><th>#</th><th>at</th><th>HTTP</th><th>ms</th><th>error / response</th></tr></thead><tbody id="attempts">${attempts}</tbody></table>
    ${full.payload ? `<h4>Payload</h4><pre id="payload">${esc(JSON.stringify(full.payload, null, 2))}</pre>` : ""}`;
}
