// Findings: what the agent's server did against the contract, filtered by code, severity, call.
import { S, onScreen, esc, onChange, setHtml, time } from "./store.js";

const filters = { code: document.getElementById("filter-code"), severity: document.getElementById("filter-severity"), call: document.getElementById("filter-call") };

export function initFindings() {
  for (const select of Object.values(filters)) select.addEventListener("change", render);
  onChange(render);
}

function options(select, values) {
  const html = `<option value="">any</option>${[...values].sort().map((v) => `<option>${esc(v)}</option>`).join("")}`;
  if (select.dataset.options === html) return;
  const kept = select.value;
  select.innerHTML = html; select.dataset.options = html; select.value = kept;
}

function render() {
  if (!onScreen("findings")) return;
  options(filters.code, new Set(S.findings.map((f) => f.code)));
  options(filters.severity, new Set(S.findings.map((f) => f.severity)));
  options(filters.call, new Set(S.findings.map((f) => f.callId).filter(Boolean)));
  const shown = S.findings.filter((f) => (!filters.code.value || f.code === filters.code.value)
    && (!filters.severity.value || f.severity === filters.severity.value)
    && (!filters.call.value || f.callId === filters.call.value));
  setHtml(document.getElementById("finding-list"), shown.slice().reverse().map((f) => `<tr class="${esc(f.severity)}">
    <td>${time(f.at)}</td><td class="${f.severity === "error" ? "bad" : "warn"}">${esc(f.severity)}</td><td>${esc(f.code)}</td>
    <td>${esc(f.message)}${f.offending ? `<pre>${esc(f.offending)}</pre>` : ""}</td><td>${esc(f.callId || "")}</td></tr>`).join(""));
}
