/**
 * A {@linkcode Conn} over a connected stream socket that is driven through
 * FFI with blocking calls: each `recv`/`send` runs as a `nonblocking: true`
 * FFI call on Deno's blocking thread pool, at most one of each in flight.
 * Used for Windows AF_UNIX under Deno (`win_afunix_deno.ts`, over ws2_32);
 * the tests drive the same class over Linux libc.
 *
 * The one rule that matters: the socket handle is closed only after every
 * call running on a pool thread has returned. Otherwise the OS could hand
 * the same handle value to a new socket, and a late `recv` would read
 * someone else's bytes. `close()` therefore shuts the socket down, asks the
 * backend to cancel blocked calls until they have all come back, and only
 * then closes the handle.
 *
 * @module
 */

import { ConnectionClosedError } from "../errors.ts";
import { ByteConn, type ConnTransport } from "./byte_conn.ts";
import type { Conn } from "./types.ts";

/** The socket calls {@linkcode ffiSocketConn} needs, bound by some FFI. */
export interface FfiSocketApi {
  /** Blocking `recv` on a pool thread: bytes read, 0 at EOF, negative on failure. */
  recv(socket: bigint, buffer: Uint8Array<ArrayBuffer>): Promise<number>;
  /** Blocking `send` on a pool thread: bytes sent (maybe fewer than given), negative on failure. */
  send(socket: bigint, data: Uint8Array<ArrayBuffer>): Promise<number>;
  /** `shutdown(SEND)`: our FIN. Throws on failure. */
  shutdownWrite(socket: bigint): void;
  /** `shutdown(BOTH)`, ignoring failure (the first step of closing). */
  shutdownBoth(socket: bigint): void;
  /** Make `recv`/`send` calls blocked on other threads return (CancelIoEx on Windows). */
  cancelBlocked(socket: bigint): void;
  /** Close the handle. Called once, after every call above has returned. */
  close(socket: bigint): void;
}

const READ_CHUNK = 64 * 1024;
/** Bytes read ahead of the consumer: a blocking recv per pull costs a pool thread hop. */
const READ_HIGH_WATER_MARK = 256 * 1024;
/** Largest slice handed to one `send` (its length is an `int` on Windows). */
const MAX_SEND = 1 << 30;
/** How often `close()` repeats the cancel while a call has not come back yet. */
const CANCEL_RETRY_MS = 50;

/** Take ownership of the connected `socket` as a {@linkcode Conn}; `remoteAddr` describes the peer. */
export function ffiSocketConn(api: FfiSocketApi, socket: bigint, remoteAddr: string): Conn {
  return new ByteConn({
    localAddr: "(unnamed)",
    remoteAddr,
    readHighWaterMark: READ_HIGH_WATER_MARK,
  })
    .attach(new FfiSocketTransport(api, socket, remoteAddr));
}

/** A socket driven by blocking FFI calls, as a pull-style {@linkcode ConnTransport}. */
class FfiSocketTransport implements ConnTransport {
  readonly #api: FfiSocketApi;
  readonly #socket: bigint;
  readonly #remoteAddr: string;
  /** FFI calls running on pool threads; the handle outlives all of them. */
  readonly #inFlight = new Set<Promise<number>>();
  #gone = false;

  constructor(api: FfiSocketApi, socket: bigint, remoteAddr: string) {
    this.#api = api;
    this.#socket = socket;
    this.#remoteAddr = remoteAddr;
  }

  /** Track a pool-thread call until it returns. */
  #track(call: Promise<number>): Promise<number> {
    this.#inFlight.add(call);
    call.finally(() => this.#inFlight.delete(call)).catch(() => {});
    return call;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#gone) return null;
    const buffer = new Uint8Array(READ_CHUNK);
    let n: number;
    try {
      n = await this.#track(this.#api.recv(this.#socket, buffer));
    } catch {
      n = -1;
    }
    if (this.#gone || n === 0) return null;
    if (n < 0) throw new ConnectionClosedError(`recv failed on ${this.#remoteAddr}`);
    // Small reads are copied so a held chunk does not pin a whole buffer.
    return n < READ_CHUNK / 2 ? buffer.slice(0, n) : buffer.subarray(0, n);
  }

  async write(chunk: Uint8Array): Promise<void> {
    for (let offset = 0; offset < chunk.byteLength;) {
      if (this.#gone) throw new ConnectionClosedError("write on a closed connection");
      const part = chunk.subarray(offset, offset + Math.min(chunk.byteLength - offset, MAX_SEND));
      // `part` stays referenced by this frame until the pool thread is done with it.
      const sent = await this.#track(this.#api.send(this.#socket, part as Uint8Array<ArrayBuffer>));
      if (this.#gone) throw new ConnectionClosedError("connection closed during write");
      if (sent <= 0) throw new ConnectionClosedError(`send failed on ${this.#remoteAddr}`);
      offset += sent;
    }
  }

  shutdownWrite(): void {
    this.#api.shutdownWrite(this.#socket);
  }

  close(): Promise<void> {
    return this.#release();
  }

  /** No SO_LINGER here: closing with what the peer sent unread is the reset a stream socket reports. */
  reset(): Promise<void> {
    return this.#release();
  }

  /** The handle is closed once no call is still running on it. */
  async #release(): Promise<void> {
    if (this.#gone) return;
    this.#gone = true;
    this.#api.shutdownBoth(this.#socket);
    while (this.#inFlight.size > 0) {
      this.#api.cancelBlocked(this.#socket);
      // A call queued on the pool but not started yet escapes one cancel, so
      // cancel again until every call has come back.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#inFlight]),
        new Promise((resolve) => (timer = setTimeout(resolve, CANCEL_RETRY_MS))),
      ]);
      clearTimeout(timer);
    }
    this.#api.close(this.#socket);
  }
}
