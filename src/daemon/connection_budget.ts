/**
 * How many client connections the daemon holds at once, so that it never
 * reaches its open-file limit. At that limit `accept()` fails with EMFILE and
 * leaves the connection queued, and Bun 1.4's native accept loop then spins
 * at full CPU (its EMFILE back-off is a "todo" in usockets' loop.c), which
 * also starves `status` and the control socket. Staying below the limit, and
 * closing what comes beyond the budget at once, keeps every accept
 * succeeding: the excess client sees a reset, the rest keep working, and new
 * connections succeed again as soon as others end.
 *
 * @module
 */
import type { FdLimit } from "../runtime/mod.ts";

/** Open files kept free beyond those open at start: control clients, logs, an agent restart. */
export function reserveFor(limit: number): number {
  return Math.max(16, Math.min(256, Math.floor(limit / 4)));
}

/** One budget shared by every socket of a daemon. */
export class ConnectionBudget {
  /** The most client connections held at once. */
  readonly max: number;
  #open = 0;
  #refusing = false;

  /** A budget under `fd` (the limit and the files already open; `undefined`: unknown, no bound). */
  constructor(fd: FdLimit | undefined) {
    this.max = fd === undefined ? Infinity : Math.max(1, fd.limit - fd.open - reserveFor(fd.limit));
  }

  /** Client connections held now. */
  get open(): number {
    return this.#open;
  }

  /**
   * Take a place for a new connection: `"ok"`, or `"refuse"` when the budget
   * is spent (`"refuse-first"` for the first refusal of a burst, to log once).
   */
  take(): "ok" | "refuse" | "refuse-first" {
    if (this.#open < this.max) {
      this.#open++;
      this.#refusing = false;
      return "ok";
    }
    if (this.#refusing) return "refuse";
    this.#refusing = true;
    return "refuse-first";
  }

  /** A connection taken with `take()` has ended. */
  release(): void {
    this.#open--;
  }
}
