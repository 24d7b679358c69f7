// Texts: one thread per pair of numbers (ours and theirs), like a messaging app.
import { api } from "./api.js";
import { S, onScreen, changed, esc, onChange, showError, time } from "./store.js";

const threads = document.getElementById("thread-list");
const thread = document.getElementById("thread");
const to = document.getElementById("text-to");
const from = document.getElementById("text-from");

export function initTexts() {
  threads.addEventListener("click", (event) => {
    const row = event.target.closest("[data-thread]");
    if (!row) return;
    S.selected.thread = row.dataset.thread;
    const first = [...S.texts.values()].find((t) => t.conversationId === S.selected.thread);
    if (first) {
      const ours = first.direction === "inbound" ? first.to : first.from;
      from.value = first.direction === "inbound" ? first.from : first.to;
      to.value = ours;
    }
    changed();
  });
  document.getElementById("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = document.getElementById("text-body");
    showError(null);
    try {
      const sent = await api("POST", "/__emulator/sms", { from: from.value.trim(), to: to.value, body: body.value });
      S.selected.thread = sent.message.conversationId;
      body.value = "";
      changed();
    } catch (error) { showError(error); }
  });
  onChange(render);
}

function render() {
  if (!onScreen("texts")) return;
  const options = S.numbers.map((n) => `<option value="${esc(n.phoneNumber)}">${esc(n.phoneNumber)}${n.agentName ? ` · ${esc(n.agentName)}` : ""}</option>`).join("");
  if (to.dataset.options !== options) { const kept = to.value; to.innerHTML = options; to.dataset.options = options; if (kept) to.value = kept; }
  const byThread = new Map();
  for (const text of S.texts.values()) {
    if (!byThread.has(text.conversationId)) byThread.set(text.conversationId, []);
    byThread.get(text.conversationId).push(text);
  }
  const ordered = [...byThread.entries()].sort((a, b) => (a[1].at(-1).createdAt < b[1].at(-1).createdAt ? 1 : -1));
  threads.innerHTML = ordered.map(([id, texts]) => {
    const last = texts.at(-1);
    const ours = last.direction === "inbound" ? last.to : last.from;
    const theirs = last.direction === "inbound" ? last.from : last.to;
    return `<li data-thread="${esc(id)}" class="${id === S.selected.thread ? "selected" : ""}">${esc(theirs)} ↔ ${esc(ours)}
      <div class="muted">${esc(last.body.slice(0, 60))}</div></li>`;
  }).join("") || `<li class="muted">No texts yet.</li>`;
  const texts = byThread.get(S.selected.thread) || [];
  thread.innerHTML = texts.map((t) => `<div class="bubble ${esc(t.direction)}" data-text-id="${esc(t.id)}">${esc(t.body)}
      <span class="muted">${esc(t.from)} · ${time(t.createdAt)} · ${esc(t.status)}</span></div>`).join("")
    || `<p class="hint">Pick a conversation, or text one of your numbers below.</p>`;
}
