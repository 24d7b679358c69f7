// GET /__emulator/events: the account's live events (calls, turns, replies, chunks, keys,
// findings, texts, deliveries, resets), server-sent, as an async iterator of typed objects.
// The request goes through the control client's openapi-fetch client like every other route.

import { Feed } from "./feed.js";

/** Server-sent events from a byte stream: `{event, data, id}` for each one (comments skipped). */
export async function* parseServerSentEvents(body) {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { data: [], event: undefined, id: undefined };
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data.length > 0) yield { event: event.event ?? "message", data: event.data.join("\n"), id: event.id };
          event = { data: [], event: undefined, id: undefined };
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the emulator's heartbeat
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") event.data.push(value);
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * One open event stream. Iterate it (`for await (const event of stream)`) for each event in order,
 * starting with `ready`; breaking out of the loop closes it. `until(type or predicate)` waits for
 * an event without consuming any; `received` holds what came (the newest `keep`). `close()` or
 * the `signal` given ends it; so does the emulator stopping. The events are the OpenAPI's
 * `ReadyEvent`, `CallEventOut`, `TurnEventOut` ... by `type`.
 */
export class EventStream {
  constructor({ path, abort, keep }) {
    this.path = path;
    this._abort = abort;
    this._feed = new Feed({ keep });
    this.closed = false;
    /** Settles when the stream has ended (closed here, by the signal, or by the emulator). */
    this.ended = new Promise((resolve) => {
      this._ended = resolve;
    });
  }

  /** The events received so far, oldest first. */
  get received() {
    return this._feed.items;
  }

  async _pump(body) {
    let failure;
    try {
      for await (const { event, data } of parseServerSentEvents(body)) {
        let parsed;
        try {
          parsed = JSON.parse(data);
        } catch {
          parsed = { type: event, data };
        }
        this._feed.push(parsed);
      }
    } catch (error) {
      if (!this.closed && error?.name !== "AbortError") {
        failure = new Error(`${this.path}: the event stream broke: ${error?.message ?? error}`, { cause: error });
      }
    } finally {
      this._feed.end(failure);
      this._ended();
    }
  }

  /** Wait for the first event (received so far, or to come) of a `type`, or that `match` accepts. */
  until(match, options) {
    return this._feed.until(match, options);
  }

  /** Stop listening: the request is aborted and iteration ends (no error). Safe to call twice. */
  async close() {
    if (!this.closed) {
      this.closed = true;
      this._abort();
    }
    await this.ended;
  }

  [Symbol.asyncIterator]() {
    return this._feed.iterator(() => this.close());
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}
