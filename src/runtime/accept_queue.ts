/**
 * A queue that turns callback-style accepts (node:net `connection` events,
 * `Bun.listen` `open` handlers) into the pull-style `AsyncIterable` that
 * {@linkcode Listener} promises.
 *
 * @module
 */

import type { Conn } from "./types.ts";

/**
 * Accepted connections waiting for the iterator. Accepted connections that
 * nobody took when the queue ends are closed, so none leak.
 *
 * Concurrency: one consumer iterates at a time; producers call `push`/`end`
 * from event callbacks.
 */
export class AcceptQueue implements AsyncIterable<Conn> {
  #items: Conn[] = [];
  #waiter: ((result: IteratorResult<Conn>) => void) | undefined;
  #failWaiter: ((error: unknown) => void) | undefined;
  #ended = false;
  #error: unknown = undefined;

  /** Hand a freshly accepted connection to the consumer (or close it if the queue has ended). */
  push(conn: Conn): void {
    if (this.#ended) {
      conn.close();
      return;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#clearWaiter();
      waiter({ value: conn, done: false });
    } else {
      this.#items.push(conn);
    }
  }

  /** Stop the iteration: with `error`, the pending `next()` rejects; otherwise it finishes. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    for (const conn of this.#items.splice(0)) conn.close();
    const waiter = this.#waiter;
    const fail = this.#failWaiter;
    this.#clearWaiter();
    if (error !== undefined && fail) fail(error);
    else waiter?.({ value: undefined, done: true });
  }

  /** Whether {@linkcode AcceptQueue.end} has been called. */
  get ended(): boolean {
    return this.#ended;
  }

  #clearWaiter(): void {
    this.#waiter = undefined;
    this.#failWaiter = undefined;
  }

  #next(): Promise<IteratorResult<Conn>> {
    const item = this.#items.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.#ended) {
      const error = this.#error;
      this.#error = undefined;
      if (error !== undefined) return Promise.reject(error);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  /** Iterate accepted connections until the queue ends. */
  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
