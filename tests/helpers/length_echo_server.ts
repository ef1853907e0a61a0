/**
 * The Linux counterpart of `tests/fixtures/win_pipe_echo.c` for AF_UNIX and
 * TCP bridge targets, made with the runtime layer, with the same two modes
 * (see `half_close.ts`) and the same open-connection count:
 *
 * - `length`: read a u32 big-endian N, echo exactly N bytes, then end the
 *   connection (FIN after the reply; closed once the client's EOF is read).
 * - `echo`: echo until the client's EOF, then FIN and close.
 *
 * @module
 */
import type { Conn, Listener } from "../../src/runtime/types.ts";

/** A running server. */
export interface LengthEchoServer {
  /** Connections open now. */
  open(): number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resolves once `ok()` holds, checked at each accept and close; fails after `ms`. */
  waitUntil(ok: () => boolean, ms: number, what: string): Promise<void>;
  /** Resolves once no connection is open; fails after `ms` with the count. */
  waitIdle(ms: number): Promise<void>;
  /** Stop accepting and close every connection. */
  close(): Promise<void>;
}

/** Serve `listener` in `mode` until closed. */
export function serveLengthEcho(listener: Listener, mode: "length" | "echo"): LengthEchoServer {
  const conns = new Set<Conn>();
  const changed = new Set<() => void>();
  const notify = () => {
    for (const f of changed) f();
  };
  let accepted = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      notify();
      (mode === "length" ? lengthEcho(conn) : plainEcho(conn)).catch(() => {}).finally(() => {
        conn.close();
        conns.delete(conn);
        notify();
      });
    }
  })().catch(() => {});
  const waitUntil = (ok: () => boolean, ms: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!ok()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${conns.size} open)`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        changed.delete(check);
      };
      changed.add(check);
      check();
    });
  return {
    open: () => conns.size,
    accepted: () => accepted,
    waitUntil,
    waitIdle: (ms) => waitUntil(() => conns.size === 0, ms, "no target connection open"),
    async close() {
      await listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}

async function plainEcho(conn: Conn): Promise<void> {
  await conn.readable.pipeTo(conn.writable);
}

async function lengthEcho(conn: Conn): Promise<void> {
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  let header = new Uint8Array(0);
  let left = -1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return; // the client ended before the reply was complete
    let chunk = value;
    if (left < 0) {
      const h = new Uint8Array(header.length + chunk.length);
      h.set(header);
      h.set(chunk, header.length);
      if (h.length < 4) {
        header = h;
        continue;
      }
      left = new DataView(h.buffer).getUint32(0);
      chunk = h.subarray(4);
    }
    const take = chunk.subarray(0, left);
    if (take.length > 0) await writer.write(take.slice());
    left -= take.length;
    if (left === 0) break;
  }
  await writer.close(); // the reply is complete
  // Read to the client's EOF before closing, so nothing unread turns the close into a reset.
  while (!(await reader.read()).done) { /* discard */ }
}
