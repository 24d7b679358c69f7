// What the live event stream (./events.js) and the call's audio socket (./audio.js) share: the
// items received so far, kept in order (the newest `keep`), read by one async iterator that goes
// on where the last loop stopped, and searched by `until()` without consuming anything.

export const DEFAULT_KEEP = 10_000;

export class Feed {
  constructor({ keep = DEFAULT_KEEP, describe = (item) => item?.type ?? typeof item } = {}) {
    /** The items received so far, oldest first (at most `keep`; older ones are dropped). */
    this.items = [];
    this.keep = keep;
    this.dropped = 0; // items dropped from the front of `items`
    this.position = 0; // the iterator's place, counted from the first item ever received
    this.ended = false;
    this.failure = undefined;
    this._waiters = new Set();
    this._describe = describe;
  }

  push(item) {
    if (this.ended) return;
    this.items.push(item);
    if (this.items.length > this.keep) {
      this.items.shift();
      this.dropped += 1;
    }
    this._wake();
  }

  /** No more items: iterators finish (with `failure`, they throw it once the items are read). */
  end(failure) {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    this._wake();
  }

  _wake() {
    for (const waiter of [...this._waiters]) waiter();
  }

  _changed() {
    return new Promise((resolve) => {
      const waiter = () => {
        this._waiters.delete(waiter);
        resolve();
      };
      this._waiters.add(waiter);
    });
  }

  /** The next item after the iterator's place, or `undefined` once the feed has ended. */
  async next() {
    for (;;) {
      if (this.position < this.dropped) this.position = this.dropped; // fell behind `keep`: skip
      const index = this.position - this.dropped;
      if (index < this.items.length) {
        this.position += 1;
        return this.items[index];
      }
      if (this.ended) {
        if (this.failure !== undefined) {
          const failure = this.failure;
          this.failure = undefined;
          throw failure;
        }
        return undefined;
      }
      await this._changed();
    }
  }

  /**
   * The first item received (so far, or from now on) that `match` accepts: a `type`, or a
   * predicate. Rejects when the feed ends first or after `timeoutMs`, naming what did come.
   */
  async until(match, { timeoutMs = 10_000, what } = {}) {
    const accepts = typeof match === "function" ? match : (item) => item?.type === match;
    const wanted = what ?? (typeof match === "function" ? "a matching item" : `"${match}"`);
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
      timer.unref?.();
    });
    try {
      let checked = 0; // absolute count already looked at
      for (;;) {
        const start = Math.max(checked, this.dropped);
        for (let i = start - this.dropped; i < this.items.length; i++) {
          if (accepts(this.items[i])) return this.items[i];
        }
        checked = this.dropped + this.items.length;
        if (this.ended) throw new Error(`${wanted} never came: ${this._summary()}`);
        if ((await Promise.race([this._changed(), timedOut])) === TIMED_OUT) {
          throw new Error(`${wanted} did not come within ${timeoutMs} ms: ${this._summary()}`);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** An async iterator over what comes next; ending it early calls `close` (the stream's own). */
  iterator(close) {
    return {
      next: async () => {
        const value = await this.next();
        return value === undefined ? { value: undefined, done: true } : { value, done: false };
      },
      return: async () => {
        await close();
        return { value: undefined, done: true };
      },
    };
  }

  _summary() {
    if (this.items.length === 0) return "nothing came";
    const kinds = this.items.slice(-20).map(this._describe);
    return `${this.dropped + this.items.length} came (${this.items.length > 20 ? "the last 20: " : ""}${kinds.join(", ")})`;
  }
}

const TIMED_OUT = Symbol("timed out");
