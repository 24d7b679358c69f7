// The emulator's API and its live event stream, with the key the person gave (never in a URL).
const STORE = "agentphone-console-key";
let key = null;

export function takeKey() {
  const fragment = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fragment) {
    sessionStorage.setItem(STORE, fragment);
    history.replaceState(null, "", location.pathname + location.search);  // the key leaves the address bar
  }
  key = sessionStorage.getItem(STORE);
  return key;
}

export function currentKey() { return key; }
export function setKey(value) { key = value; sessionStorage.setItem(STORE, value); }
export function forgetKey() { key = null; sessionStorage.removeItem(STORE); }

// A 422's [{loc, msg}] as one line a person reads: "creditCents: Input should be ... 0".
function oneLine(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.every((d) => d && Array.isArray(d.loc) && typeof d.msg === "string")) {
    return detail.map((d) => `${d.loc.filter((part) => part !== "body").join(".") || "body"}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(detail);
}

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail !== undefined ? body.detail : body;
    super(`${status}: ${oneLine(detail)}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Server-sent events over fetch (EventSource cannot send an Authorization header): yields
// {event, data} as each arrives; returns when the stream ends.
export async function* events(path, signal) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

// What the served control plane offers (other engineers' routes appear when they land).
let openapi = null;
async function openapiDocument() {
  if (openapi === null) {
    try { openapi = await api("GET", "/__emulator/openapi.json"); } catch { openapi = { paths: {} }; }
  }
  return openapi;
}

// One of the control plane's schemas by name (the settings form is drawn from AccountSettingsPatch).
export async function schema(name) {
  const doc = await openapiDocument();
  return (doc.components && doc.components.schemas && doc.components.schemas[name]) || null;
}

export async function features() {
  await openapiDocument();
  const has = (path, method) => Boolean(openapi.paths[path] && openapi.paths[path][method]);
  return {
    deliveryDetail: has("/__emulator/deliveries/{delivery_id}", "get"),
    probes: has("/__emulator/probes", "post"),
    audio: has("/__emulator/calls/{call_id}/audio", "get"),
    scenario: has("/__emulator/calls/{call_id}/scenario", "get"),
    replayEdited: has("/__emulator/deliveries/{delivery_id}/replay", "post"),
  };
}
