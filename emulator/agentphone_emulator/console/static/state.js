// The clock (advance, fast-forward) and the state (snapshot, restore, reset): the admin key's.
import { api } from "./api.js";
import { S, onChange, showError } from "./store.js";

const info = document.getElementById("state-info");
const snapshots = document.getElementById("snapshots");

async function act(work, done) {
  showError(null);
  try { const result = await work(); if (done) info.textContent = done(result); } catch (error) { showError(error); }
}

async function listSnapshots() {
  try {
    const list = await api("GET", "/__emulator/snapshots");
    snapshots.innerHTML = list.data.map((s) => `<option value="${s.id}">${s.id} · ${s.createdAt}</option>`).join("");
  } catch { /* an account's key may not list them: the buttons say why when pressed */ }
}

export function initState() {
  document.getElementById("advance").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number(document.getElementById("advance-seconds").value);
    act(() => api("POST", "/__emulator/clock/advance", { seconds }), (c) => `Advanced ${c.advancedSeconds} s; ${c.ran.length} thing(s) ran.`);
  });
  document.getElementById("fast-forward").addEventListener("click", () =>
    act(() => api("POST", "/__emulator/clock/fast-forward", {}), (c) => `Fast-forwarded ${c.advancedSeconds} s; ${c.ran.length} thing(s) ran.`));
  document.getElementById("snapshot").addEventListener("click", () =>
    act(() => api("POST", "/__emulator/snapshots"), (s) => { listSnapshots(); return `Snapshot ${s.id} taken.`; }));
  document.getElementById("restore").addEventListener("click", () =>
    act(() => api("POST", `/__emulator/snapshots/${snapshots.value}/restore`), () => `Restored ${snapshots.value}.`));
  document.getElementById("reset").addEventListener("click", () => {
    if (confirm("Forget every agent, number, call, text and delivery?")) act(() => api("POST", "/__emulator/reset"), () => "Reset.");
  });
  onChange(() => {
    document.getElementById("clock-info").textContent = `${S.now || ""} · ${S.virtual ? "virtual: it moves only when told" : "real time"}`;
  });
  listSnapshots();
}
