/**
 * Pings in flight: each PING carries a value that the pong echoes, so the
 * round trip can be timed. Bounded, and failed all at once when the session ends.
 *
 * @module
 */

const MAX_PINGS_IN_FLIGHT = 16;

interface Pending {
  start: number;
  resolve: (ms: number) => void;
  reject: (e: Error) => void;
}

/** Outstanding pings of one session and the last measured round trip. */
export class Pings {
  /** Last measured round trip in ms, or null before the first pong. */
  rttMs: number | null = null;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  /** How many are in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Start a ping: `send(value)` puts the PING on the wire. Resolves with the
   * round trip in ms. Rejects with RangeError when 16 are in flight already.
   */
  start(send: (value: number) => void): Promise<number> {
    if (this.#pending.size >= MAX_PINGS_IN_FLIGHT) {
      return Promise.reject(new RangeError("too many pings in flight"));
    }
    const value = this.#next;
    this.#next = (this.#next + 1) >>> 0 || 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(value, { start: performance.now(), resolve, reject });
      send(value);
    });
  }

  /** A pong arrived; unknown values (late or forged) are ignored. */
  pong(value: number): void {
    const p = this.#pending.get(value);
    if (!p) return;
    this.#pending.delete(value);
    this.rttMs = performance.now() - p.start;
    p.resolve(this.rttMs);
  }

  /** Fail every ping in flight. */
  failAll(error: Error): void {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
