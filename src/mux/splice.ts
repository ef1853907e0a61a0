/**
 * Copy bytes both ways between two duplex byte streams (a socket and a mux
 * stream, say) with half-close: EOF on one side's readable closes the other's
 * writable (FIN), and reading goes on the other way. An error on either side
 * resets both sides at once (a socket sees RST, a mux stream sends RST), so
 * an aborted transfer is never mistaken for a complete one, and never hangs.
 *
 * A side whose peer ends the whole connection cleanly (a named pipe's server
 * disconnects after its reply) can take no more bytes, but has lost none.
 * By default that ends the splice as a failure too, which is right where
 * that side is a client that left: the far side must be told to stop. Where
 * the other side is a client still reading (`peerClosed: "drain"`, the
 * agent), resetting would drop the reply still on its way there; the bytes
 * meant for the closed side are read and dropped instead, until the other
 * side ends.
 *
 * Plain reader/writer loops, no TransformStream per chunk: the hot path is one
 * `read()` and one `write()` per chunk, with one chunk in flight per direction.
 * A chunk is read only once the writer has room, so a stalled destination
 * holds at most one chunk here; the rest waits in the source's flow control.
 *
 * @module
 */
import { ConnectionClosedError, ConnectionResetError } from "../errors.ts";
import { ResetCode } from "./frame.ts";

/** Anything with a readable and a writable side. */
export interface Duplex {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Tear down both directions now, so that the far end sees a reset
   * (`MuxStream.reset`, `Conn.reset`). Without it, the writable is aborted,
   * which waits for a write in progress to finish.
   */
  reset?(code?: number, reason?: string): void;
}

/** What happened, for logs and stats. */
export interface SpliceResult {
  /** Bytes copied from `a` to `b`. */
  aToB: number;
  /** Bytes copied from `b` to `a`. */
  bToA: number;
  /** The first error in either direction, or null if both ended cleanly. */
  error: unknown;
}

/** Options for {@linkcode splice}. */
export interface SpliceOptions {
  /** Called with each chunk size as it is copied (for live byte counters). */
  onBytes?: (direction: "aToB" | "bToA", n: number) => void;
  /**
   * When a side's peer closes the whole connection cleanly while the other
   * side still sends to it: `"reset"` ends the splice as a failure (the
   * default), `"drain"` reads and drops what the other side still sends,
   * until it ends, and delivers everything the closed side sent.
   */
  peerClosed?: "reset" | "drain";
}

/** The destination's peer closed the connection cleanly: nothing lost, no one left to write to. */
function closedByPeer(e: unknown): boolean {
  return e instanceof ConnectionClosedError && e.byPeer;
}

/** Read `reader` to its end, dropping what it yields; a failure is left to the caller. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e ?? "stream failed");
}

/** Copy both ways until both directions have ended. Never rejects. The sides stay locked. */
export async function splice(
  a: Duplex,
  b: Duplex,
  options: SpliceOptions = {},
): Promise<SpliceResult> {
  const result: SpliceResult = { aToB: 0, bToA: 0, error: null };
  const ends = [
    { reader: a.readable.getReader(), writer: b.writable.getWriter(), dir: "aToB" as const },
    { reader: b.readable.getReader(), writer: a.writable.getWriter(), dir: "bToA" as const },
  ];
  // If one direction fails, reset both sides at once: a reset is never half,
  // and never waits for a write to a peer that does not read.
  const sides = [{ side: b, writer: ends[0].writer }, { side: a, writer: ends[1].writer }];
  const teardown = (e: unknown) => {
    if (result.error !== null) return;
    result.error = e ?? new Error("stream failed");
    const code = e instanceof ConnectionResetError ? ResetCode.CONNECTION_RESET : ResetCode.CANCEL;
    const reason = describe(e);
    for (const { side, writer } of sides) {
      if (side.reset) side.reset(code, reason);
      else writer.abort(e).catch(() => {});
    }
    for (const { reader } of ends) reader.cancel(e).catch(() => {});
  };
  // A side that fails while nothing is being written to it (a client gone
  // while the far side has not answered yet) ends the splice too.
  const drainOnPeerClose = options.peerClosed === "drain";
  for (const { writer } of ends) {
    writer.closed.catch((e) => {
      if (!(drainOnPeerClose && closedByPeer(e))) teardown(e);
    });
  }
  await Promise.allSettled(ends.map(async ({ reader, writer, dir }) => {
    try {
      for (;;) {
        // Wait for room before taking the next chunk: a stalled writer then
        // holds one chunk, and the rest stays in the reader's flow control.
        await writer.ready;
        const { value, done } = await reader.read();
        if (done) break;
        result[dir] += value.byteLength;
        options.onBytes?.(dir, value.byteLength);
        writer.write(value).catch(() => {}); // failures surface through ready/close
      }
      await writer.close();
    } catch (e) {
      if (!(drainOnPeerClose && closedByPeer(e))) return teardown(e);
      try {
        await drain(reader);
      } catch (e) {
        teardown(e);
      }
    }
  }));
  // The locks stay: both sides have ended, and releasing them costs a new
  // TypeError (with its stack) per reader and writer, ~13 us a pair in Deno.
  return result;
}
