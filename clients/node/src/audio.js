// GET /__emulator/calls/{callId}/audio: talk on a live call as a browser's microphone does, over a
// WebSocket (docs/mic.md, "In the browser"). The first frame is {"type": "start", "apiKey",
// "sampleRate"}; PCM16LE mono goes up; JSON frames (ready, partial, utterance, bargeIn, reply,
// ended, error) and the agent's speech (PCM16LE mono 16 kHz) come down; a refusal is a close code
// 4400-4500 after an `error` frame that says why.
//
// The WebSocket is the `ws` package's by default (Node 20 has no global WebSocket without
// --experimental-websocket); `{ WebSocket }` takes any WHATWG-style constructor instead, such as
// Node 22's global one. Only the standard API is used: addEventListener, binaryType, send, close.

import { Feed } from "./feed.js";

/** The rate of the speech the emulator sends down. */
export const DOWNLINK_SAMPLE_RATE = 16000;

/** What a refusal's close code means (docs/mic.md). */
export const CLOSE_CODES = Object.freeze({
  1000: "the call ended",
  1001: "the emulator is stopping",
  1006: "the connection was lost or never opened",
  1009: "a frame was too large for the emulator",
  1011: "the emulator failed (its log says why)",
  4400: "the first frame was not a start frame (or none came within 10 s)",
  4401: "no API key, or one the emulator does not know",
  4403: "an Origin that is not the emulator's own, or the admin key",
  4404: "no such call on the key's account",
  4409: "the call has ended, nobody is on the line, the emulator runs on a virtual clock, or another connection took the call's audio",
  4413: "an audio frame over 1 s at the declared rate",
  4429: "too many audio connections are open",
  4500: "no recogniser or synthesiser on the emulator's side, or recognition failed",
});

/** The audio socket closed before it was ready, or was refused: the close code and why. */
export class AudioSocketError extends Error {
  constructor({ path, code, reason, detail }) {
    const why = detail || reason || CLOSE_CODES[code] || "closed";
    super(`GET ${path} (WebSocket): closed ${code} ${why}`);
    this.name = "AudioSocketError";
    this.path = path;
    /** The WebSocket close code: 4401, 4409 ... (1006 when it never opened). */
    this.code = code;
    /** The close frame's reason (at most 123 bytes). */
    this.reason = reason;
    /** The `error` frame's whole message, when the emulator sent one. */
    this.detail = detail;
  }
}

let wsModule;

async function defaultWebSocket() {
  wsModule ??= import("ws").catch((cause) => {
    wsModule = undefined;
    throw new Error(
      "agentphone-emulator: the call audio socket needs the `ws` package (npm install ws), or pass { WebSocket: globalThis.WebSocket } on Node >= 22",
      { cause },
    );
  });
  const loaded = await wsModule;
  return loaded.WebSocket ?? loaded.default;
}

/** PCM as bytes: an Int16Array's samples, or bytes already (Buffer, Uint8Array, ArrayBuffer). */
function pcmBytes(pcm) {
  if (pcm instanceof ArrayBuffer) return new Uint8Array(pcm);
  if (ArrayBuffer.isView(pcm)) return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  throw new TypeError("PCM is an Int16Array of samples, or its bytes (Buffer, Uint8Array, ArrayBuffer)");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One connection to a call's audio. Connects at once and sends the start frame; `ready` settles
 * when the emulator says `ready` (or rejects with an AudioSocketError: a refusal's close code and
 * message). Frames down are `frames` (the newest `keep`), `until(type or predicate)` and the async
 * iterator: the JSON ones as sent, the agent's speech as `{type: "audio", pcm: Int16Array,
 * sampleRate: 16000}`. Closing the socket does not hang up (`hangup()` does); `closed` settles
 * with `{code, reason, detail}` when it closes, however that happens.
 */
export class CallAudio {
  constructor({ baseUrl, callId, apiKey, sampleRate = 16000, subAccountId, WebSocket, keep }) {
    if (!callId) throw new TypeError("CallAudio: callId is required");
    if (!apiKey) throw new TypeError("CallAudio: apiKey is required (the call's account's key)");
    this.callId = callId;
    this.sampleRate = sampleRate;
    this.path = `/__emulator/calls/${encodeURIComponent(callId)}/audio`;
    this.url = `${baseUrl.replace(/\/+$/, "").replace(/^http/, "ws")}${this.path}`;
    this.socket = undefined;
    this.closeInfo = undefined;
    this._feed = new Feed({ keep, describe: (frame) => frame.type });
    this._error = undefined; // the last `error` frame's message
    this._failure = undefined; // why the socket could not open
    this.closed = new Promise((resolve) => {
      this._closed = resolve;
    });
    this.ready = new Promise((resolve, reject) => {
      this._ready = { resolve, reject };
    });
    this.ready.catch(() => {}); // awaited by whoever wants it; not an unhandled rejection otherwise
    this._opening = this._open({ apiKey, sampleRate, subAccountId, WebSocket });
    this._opening.catch(() => {});
  }

  async _open({ apiKey, sampleRate, subAccountId, WebSocket }) {
    let Impl;
    try {
      Impl = WebSocket ?? (await defaultWebSocket());
    } catch (error) {
      this._finish({ code: 1006, reason: "", detail: error.message });
      throw error;
    }
    const socket = new Impl(this.url);
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      const start = { type: "start", apiKey, sampleRate, ...(subAccountId ? { subAccountId } : {}) };
      socket.send(JSON.stringify(start));
    });
    socket.addEventListener("message", ({ data }) => this._message(data));
    socket.addEventListener("error", (event) => {
      this._failure = event?.message ?? event?.error?.message ?? this._failure;
    });
    socket.addEventListener("close", ({ code, reason }) => {
      this._finish({ code, reason: reason ?? "", detail: this._error ?? (code === 1006 ? this._failure : undefined) });
    });
  }

  _message(data) {
    if (typeof data !== "string") {
      const bytes = data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      this._feed.push({ type: "audio", pcm: new Int16Array(bytes, 0, bytes.byteLength >> 1), sampleRate: DOWNLINK_SAMPLE_RATE });
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      frame = { type: "unparsed", data };
    }
    if (frame.type === "error") this._error = frame.message;
    this._feed.push(frame);
    if (frame.type === "ready") this._ready.resolve(frame);
  }

  _finish(info) {
    if (this.closeInfo !== undefined) return;
    this.closeInfo = info;
    this._ready.reject(new AudioSocketError({ path: this.path, ...info }));
    this._feed.end();
    this._closed(info);
  }

  /** The frames received so far, oldest first (speech as `{type: "audio", pcm}`). */
  get frames() {
    return this._feed.items;
  }

  /** Wait for the first frame (received so far, or to come) of a `type`, or that `match` accepts. */
  until(match, options) {
    return this._feed.until(match, options);
  }

  _sendable() {
    if (this.closeInfo !== undefined) {
      throw new AudioSocketError({ path: this.path, ...this.closeInfo });
    }
    if (this.socket === undefined || this.socket.readyState !== 1) {
      throw new Error(`GET ${this.path} (WebSocket): not open yet: await audio.ready first`);
    }
    return this.socket;
  }

  /** Send one frame of PCM16LE mono at the declared rate (at most 1 s of it). */
  send(pcm) {
    this._sendable().send(pcm instanceof ArrayBuffer || ArrayBuffer.isView(pcm) ? pcmBytes(pcm) : pcm);
  }

  /**
   * Send PCM cut into `frameMs` frames (default 20), paced to real time as a microphone would
   * unless `realTime: false`. Settles once the last frame is sent.
   */
  async stream(pcm, { frameMs = 20, realTime = true } = {}) {
    const bytes = pcmBytes(pcm);
    const frameBytes = Math.max(2, Math.round((this.sampleRate * frameMs) / 1000) * 2);
    const began = Date.now();
    for (let offset = 0, sent = 0; offset < bytes.length; offset += frameBytes, sent++) {
      if (realTime) {
        const due = began + sent * frameMs - Date.now();
        if (due > 0) await sleep(due);
      }
      this.send(bytes.subarray(offset, Math.min(bytes.length, offset + frameBytes)));
    }
  }

  /** Hang up the call (`{"type": "hangup"}`); the emulator then sends `ended` and closes (1000). */
  hangup() {
    this._sendable().send(JSON.stringify({ type: "hangup" }));
  }

  /** The page's interrupt button: the agent stops now, as if the caller had started talking. */
  bargeIn() {
    this._sendable().send(JSON.stringify({ type: "bargeIn" }));
  }

  /** Close the socket (the call stays up); settles with how it closed. Safe to call twice. */
  async close(code = 1000, reason = "") {
    await this._opening.catch(() => {});
    if (this.closeInfo === undefined && this.socket !== undefined && this.socket.readyState < 2) {
      this.socket.close(code, reason);
    }
    return this.closed;
  }

  [Symbol.asyncIterator]() {
    return this._feed.iterator(() => this.close());
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/** Connect to a call's audio and wait for `ready`; an AudioSocketError (its close code) if refused. */
export async function openCallAudio({ readyTimeoutMs = 30_000, ...options }) {
  const audio = new CallAudio(options);
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`GET ${audio.path} (WebSocket): no "ready" within ${readyTimeoutMs} ms (the recogniser loads on the first connection)`)),
      readyTimeoutMs,
    );
  });
  try {
    await Promise.race([audio.ready, late]);
  } catch (error) {
    clearTimeout(timer);
    await audio.close();
    throw error;
  }
  clearTimeout(timer);
  return audio;
}
