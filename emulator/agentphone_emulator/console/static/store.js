// What the page knows: the board (GET /__emulator/board) kept current by the event stream.
export const S = {
  virtual: false, now: null, numbers: [],
  calls: new Map(),      // id -> call summary
  replies: new Map(),    // call id -> Map(turn -> reply)
  keys: new Map(),       // call id -> [{by, digits, at}]
  texts: new Map(),      // id -> text
  deliveries: new Map(), // id -> delivery summary
  findings: [],
  selected: { call: null, thread: null, delivery: null },
};

const listeners = new Set();
let pending = false;
export function onChange(listener) { listeners.add(listener); }
// One render per frame however many events came in it (100 calls at once stay cheap).
export function changed() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; for (const listener of listeners) listener(); });
}

export function loadBoard(board) {
  S.virtual = board.virtualClock; S.now = board.at; S.numbers = board.numbers;
  S.calls = new Map(board.calls.map((c) => [c.id, c]));
  S.texts = new Map(board.texts.map((t) => [t.id, t]));
  S.deliveries = new Map(board.deliveries.map((d) => [d.id, d]));
  S.findings = board.findings;
  S.replies = new Map(); S.keys = new Map();
  changed();
}

export function repliesOf(callId) {
  if (!S.replies.has(callId)) S.replies.set(callId, new Map());
  return S.replies.get(callId);
}

export function apply(event) {
  S.now = event.at;
  switch (event.type) {
    case "call": S.calls.set(event.call.id, event.call); break;
    case "reply": repliesOf(event.callId).set(event.reply.turn, event.reply); break;
    case "chunk": {
      const replies = repliesOf(event.callId);
      const reply = replies.get(event.turn);
      if (reply && reply.chunks.length === event.index) reply.chunks.push(event.chunk);
      break;
    }
    case "keys": {
      if (!S.keys.has(event.callId)) S.keys.set(event.callId, []);
      S.keys.get(event.callId).push({ by: event.by, digits: event.digits, at: event.at });
      break;
    }
    case "finding": S.findings.push(event.finding); break;
    case "text": S.texts.set(event.message.id, event.message); break;
    case "delivery": S.deliveries.set(event.delivery.id, event.delivery); break;
    default: break;
  }
  changed();
}

// Whether a tab is on screen: hidden tabs skip their rendering (it runs again when shown).
export function onScreen(tab) { return document.getElementById(`tab-${tab}`).classList.contains("active"); }

// innerHTML only when it changes: a render runs every frame while events come, and most of the
// page is the same as the frame before; re-parsing and laying out unchanged rows is what a page
// with 100 live calls would spend its frames (and the machine's CPU) on.
export function setHtml(element, html) {
  if (element.__html === html) return false;
  element.innerHTML = html;
  element.__html = html;
  return true;
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
export function time(iso) { return iso ? iso.slice(11, 19) : ""; }
export function showError(error) {
  const box = document.getElementById("error");
  box.textContent = error ? String(error.message || error) : "";
}
