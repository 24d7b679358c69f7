// The clock (advance, fast-forward) and the state (snapshot, restore, reset): the admin key's;
// the key's account settings, a form drawn from the control plane's own schema.
import { api, schema } from "./api.js";
import { S, esc, onChange, showError } from "./store.js";

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

const settingsForm = document.getElementById("settings");
const settingsError = document.getElementById("settings-error");
const settingsInfo = document.getElementById("settings-info");
let settingsNow = {};  // as the server last answered

function settingField(name, spec, value) {
  const type = spec.type || (spec.anyOf ? spec.anyOf.map((s) => s.type).find((t) => t !== "null") : "string");
  const title = esc(spec.description || "");
  if (type === "boolean") {
    return `<label class="check" title="${title}"><input type="checkbox" data-setting="${esc(name)}" data-kind="boolean" ${value ? "checked" : ""}> ${esc(name)}</label>`;
  }
  const kind = type === "array" ? "list" : type === "integer" || type === "number" ? "number" : "text";
  const shown = kind === "list" ? (value || []).join(", ") : value;
  // No min/max here: what is valid is the server's to say (its one-line 422 is shown).
  return `<label title="${title}">${esc(name)} <input data-setting="${esc(name)}" data-kind="${kind}" value="${esc(shown)}" autocomplete="off"></label>`;
}

async function loadSettings() {
  try {
    const [account, spec] = await Promise.all([api("GET", "/__emulator/account"), schema("AccountSettingsPatch")]);
    settingsNow = account.settings;
    const properties = (spec && spec.properties) || Object.fromEntries(Object.keys(settingsNow).map((k) => [k, {}]));
    settingsForm.innerHTML = Object.entries(properties).map(([name, field]) => settingField(name, field, settingsNow[name])).join("");
    settingsInfo.textContent = `balance ${account.balanceCents} cents`;
  } catch (error) { settingsError.textContent = String(error.message || error); }
}

function settingValue(input) {
  const kind = input.dataset.kind;
  if (kind === "boolean") return input.checked;
  const raw = input.value.trim();
  if (kind === "list") return raw ? raw.split(",").map((part) => part.trim()) : [];
  if (kind === "number" && raw !== "" && Number.isFinite(Number(raw))) return Number(raw);
  return raw;  // not a number: sent as typed, for the server to refuse in its own words
}

async function saveSettings() {
  settingsError.textContent = "";
  const changes = {};
  for (const input of settingsForm.querySelectorAll("[data-setting]")) {
    const value = settingValue(input);
    if (JSON.stringify(value) !== JSON.stringify(settingsNow[input.dataset.setting])) changes[input.dataset.setting] = value;
  }
  if (!Object.keys(changes).length) { settingsInfo.textContent = "Nothing changed."; return; }
  try {
    const account = await api("PATCH", "/__emulator/account", changes);
    settingsNow = account.settings;
    settingsInfo.textContent = `Saved ${Object.keys(changes).join(", ")}; balance ${account.balanceCents} cents.`;
  } catch (error) { settingsError.textContent = String(error.message || error); }
}

export function initState() {
  settingsForm.addEventListener("submit", (event) => { event.preventDefault(); saveSettings(); });
  document.querySelector("#tabs button[data-tab=state]").addEventListener("click", loadSettings);
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
    act(() => api("POST", `/__emulator/snapshots/${snapshots.value}/restore`), () => { loadSettings(); return `Restored ${snapshots.value}.`; }));
  document.getElementById("reset").addEventListener("click", () => {
    if (confirm("Forget every agent, number, call, text and delivery?")) act(() => api("POST", "/__emulator/reset"), () => { loadSettings(); return "Reset."; });
  });
  onChange(() => {
    document.getElementById("clock-info").textContent = `${S.now || ""} · ${S.virtual ? "virtual: it moves only when told" : "real time"}`;
  });
  listSnapshots();
}
