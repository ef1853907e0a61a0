/**
 * Flow control: every credit rule of docs/PROTOCOL.md §6, each written once.
 *
 * - {@linkcode SendCredit}: credit the peer granted us (a stream's, or the
 *   session's), spent by sending.
 * - {@linkcode ReceiveBudget}: the session's receive side: the session window
 *   the peer spends, the credit owed back, and the budget that stream windows
 *   are committed from.
 * - {@linkcode ReceiveWindow}: one stream's receive side: its window, the
 *   peer's credit on it, what is owed back, and when it grows.
 *
 * Concurrency rules: plain counters, used from the event loop only.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";

/** Credit the peer granted: spent by sending, added to by WINDOW_UPDATE. */
export class SendCredit {
  #credit: number;
  readonly #max: number;
  readonly #what: string;

  /** `max` is the largest credit the wire allows; `what` names it in errors. */
  constructor(initial: number, max: number, what: string) {
    this.#credit = initial;
    this.#max = max;
    this.#what = what;
  }

  /** Bytes that may be sent now. */
  get available(): number {
    return this.#credit;
  }

  /** Spend `n` bytes (never more than available). */
  spend(n: number): void {
    this.#credit -= n;
  }

  /** A WINDOW_UPDATE of `n`. @throws {ProtocolError} past the wire's limit. */
  grant(n: number): void {
    if (this.#credit + n > this.#max) throw new ProtocolError(`${this.#what} window overflow`);
    this.#credit += n;
  }
}

/**
 * The session's receive side. The session window (what the peer may send
 * across all streams) is the hard memory bound; the budget is the same size,
 * and stream windows are committed out of it so that streams whose
 * application does not read can never leave others without credit.
 */
export class ReceiveBudget {
  /** The session window we announced: the most unread bytes we hold. */
  readonly size: number;
  /** Session credit the peer still has. */
  #avail: number;
  /** Bytes consumed or discarded and not yet credited back. */
  #owed = 0;
  /** Σ of the open streams' windows. */
  #committed = 0;
  /**
   * Growth never commits the last quarter of the budget: it backs the
   * initial windows of streams opened later, so that streams which grew and
   * then stopped reading cannot leave a new stream without session credit.
   */
  readonly #growthLimit: number;
  /** Session credit is also returned on its own once this much is owed. */
  readonly #returnAt: number;

  constructor(size: number, returnAt: number) {
    this.size = size;
    this.#avail = size;
    this.#returnAt = returnAt;
    this.#growthLimit = size - Math.floor(size / 4);
  }

  /** Received bytes not yet read (or discarded) by the application. */
  get unread(): number {
    return this.size - this.#avail - this.#owed;
  }

  /** `n` DATA bytes arrived. @throws {ProtocolError} beyond the session window. */
  onData(n: number): void {
    if (n > this.#avail) {
      throw new ProtocolError(
        `session window overflow: ${n} bytes sent with only ${this.#avail} of credit`,
      );
    }
    this.#avail -= n;
  }

  /** `n` received bytes were read or discarded. Returns whether an update is due on its own. */
  consumed(n: number): boolean {
    this.#owed += n;
    return this.#owed >= this.#returnAt;
  }

  /**
   * The session WINDOW_UPDATE to send now, or 0. Session credit goes back with
   * every write that returns stream credit, so it never lags behind the
   * streams' (and is never what blocks a sender), and on its own once
   * `returnAt` is owed (data discarded by resets).
   */
  takeUpdate(withStreamCredit: boolean): number {
    const n = this.#owed;
    if (n === 0 || (!withStreamCredit && n < this.#returnAt)) return 0;
    this.#owed = 0;
    this.#avail += n;
    return n;
  }

  /** Commit `n` bytes of the budget to a stream's window (initial windows always succeed). */
  commit(n: number): void {
    this.#committed += n;
  }

  /** A stream ended: its window goes back to the budget. */
  release(n: number): void {
    this.#committed -= n;
  }

  /** How much a window of `window` bytes may grow now: double, up to `max`, out of the uncommitted budget. */
  growth(window: number, max: number): number {
    return Math.max(0, Math.min(window, max - window, this.#growthLimit - this.#committed));
  }
}

/**
 * One stream's receive side. Its window is what the peer may still send plus
 * what arrived and was not yet credited back, so it bounds what the stream
 * holds. Credit goes back as the application reads, once half the window is
 * owed; a stream whose application keeps up grows its window then.
 */
export class ReceiveWindow {
  readonly #budget: ReceiveBudget;
  readonly #max: number;
  #window: number;
  /** Credit the peer still has on this stream. */
  #avail: number;
  /** Bytes read since credit was last returned. */
  #owed = 0;
  #released = false;

  constructor(budget: ReceiveBudget, initial: number, max: number) {
    this.#budget = budget;
    this.#max = max;
    this.#window = this.#avail = initial;
    budget.commit(initial);
  }

  /** The current window. */
  get size(): number {
    return this.#window;
  }

  /** `n` DATA bytes arrived on stream `id`. @throws {ProtocolError} beyond its credit. */
  onData(n: number, id: number): void {
    if (n > this.#avail) {
      throw new ProtocolError(
        `stream window overflow on stream ${id}: ${n} bytes sent with only ${this.#avail} of credit`,
      );
    }
    this.#avail -= n;
  }

  /** The application read `n` bytes. Returns whether a WINDOW_UPDATE is due. */
  consumed(n: number): boolean {
    this.#owed += n;
    return this.#owed >= this.#window / 2;
  }

  /**
   * The WINDOW_UPDATE increment to send now: what was read, plus growth when
   * the application keeps up (`keepingUp`: nothing is queued unread), taken
   * from the uncommitted budget.
   */
  takeUpdate(keepingUp: boolean): number {
    const grow = keepingUp && !this.#released ? this.#budget.growth(this.#window, this.#max) : 0;
    this.#budget.commit(grow);
    this.#window += grow;
    const n = this.#owed + grow;
    this.#owed = 0;
    this.#avail += n;
    return n;
  }

  /** The stream ended: give its window back to the budget (once). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#budget.release(this.#window);
  }
}
