// Texts: one thread per pair of numbers (ours and theirs), like a messaging app, with the
// tapbacks on each text (iMessage): the person reacts as the other side, the agent's appear live.
import { api } from "./api.js";
import { S, onScreen, changed, esc, onChange, setHtml, showError, time } from "./store.js";

const threads = document.getElementById("thread-list");
const thread = document.getElementById("thread");
const to = document.getElementById("text-to");
const from = document.getElementById("text-from");
// The platform's tapbacks; anything else is one emoji (store/reactions.py normalize_reaction).
const TAPBACKS = { love: "\u2764\ufe0f", like: "\u{1f44d}", dislike: "\u{1f44e}", laugh: "\u{1f602}", emphasize: "\u203c\ufe0f", question: "\u2753" };

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
  thread.addEventListener("change", async (event) => {
    const picker = event.target.closest("select[data-react]");
    if (!picker || !picker.value) return;
    showError(null);
    // As the person in the thread (the server takes the message's other party as "from").
    try { await api("POST", "/__emulator/reactions", { messageId: picker.dataset.react, reaction: picker.value }); }
    catch (error) { showError(error); }
    picker.value = "";
  });
  onChange(render);
}

function reactions(t) {
  const chips = (t.reactions || []).map((r) => `<span class="reaction ${esc(r.direction)}" data-reaction="${esc(r.reactionType)}" title="${esc(r.reactionType)} from ${esc(r.fromNumber)}${r.direction === "outbound" ? " (the agent)" : ""}">${esc(TAPBACKS[r.reactionType] || r.reactionType)}</span>`).join("");
  const picker = t.channel === "imessage"
    ? `<select data-react="${esc(t.id)}" class="react" title="React as ${esc(t.direction === "inbound" ? t.from : t.to)}"><option value="">React...</option>${Object.entries(TAPBACKS).map(([name, icon]) => `<option value="${name}">${icon} ${name}</option>`).join("")}</select>`
    : "";
  return chips || picker ? `<div class="reactions">${chips}${picker}</div>` : "";
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
  setHtml(threads, ordered.map(([id, texts]) => {
    const last = texts.at(-1);
    const ours = last.direction === "inbound" ? last.to : last.from;
    const theirs = last.direction === "inbound" ? last.from : last.to;
    return `<li data-thread="${esc(id)}" class="${id === S.selected.thread ? "selected" : ""}">${esc(theirs)} ↔ ${esc(ours)}
      <div class="muted">${esc(last.body.slice(0, 60))}</div></li>`;
  }).join("") || `<li class="muted">No texts yet.</li>`);
  const texts = byThread.get(S.selected.thread) || [];
  setHtml(thread, texts.map((t) => `<div class="bubble ${esc(t.direction)}" data-text-id="${esc(t.id)}">${esc(t.body)}
      <span class="muted">${esc(t.from)} · ${time(t.createdAt)} · ${esc(t.status)}</span>${reactions(t)}</div>`).join("")
    || `<p class="hint">Pick a conversation, or text one of your numbers below.</p>`);
}
