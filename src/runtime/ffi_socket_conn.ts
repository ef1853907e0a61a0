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
import type { Conn } from "./types.ts";

/** The socket calls {@linkcode FfiSocketConn} needs, bound by some FFI. */
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
const READ_HIGH_WATER_MARK = 256 * 1024;
/** Largest slice handed to one `send` (its length is an `int` on Windows). */
const MAX_SEND = 1 << 30;
/** How often `close()` repeats the cancel while a call has not come back yet. */
const CANCEL_RETRY_MS = 50;

/** A connected socket as a {@linkcode Conn} with half-close. */
export class FfiSocketConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly localAddr = "(unnamed)";
  readonly remoteAddr: string;
  readonly #api: FfiSocketApi;
  readonly #socket: bigint;
  /** FFI calls running on pool threads; the handle outlives all of them. */
  readonly #inFlight = new Set<Promise<number>>();
  #resolveClosed!: () => void;
  #gone = false;
  #readDone = false;
  #writeDone = false;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  /** Take ownership of the connected `socket`; `remoteAddr` describes the peer for logs. */
  constructor(api: FfiSocketApi, socket: bigint, remoteAddr: string) {
    this.#api = api;
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#readDone = true;
        this.#maybeFinish();
      },
    }, { highWaterMark: READ_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWrite(),
      abort: () => this.close(),
    });
  }

  /** Track a pool-thread call until it returns. */
  #track(call: Promise<number>): Promise<number> {
    this.#inFlight.add(call);
    call.finally(() => this.#inFlight.delete(call)).catch(() => {});
    return call;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#readDone) return;
    const buffer = new Uint8Array(READ_CHUNK);
    let n: number;
    try {
      n = await this.#track(this.#api.recv(this.#socket, buffer));
    } catch {
      n = -1;
    }
    if (this.#readDone) return; // cancelled, or close() ended the readable meanwhile
    if (n > 0) {
      // Small reads are copied so a held chunk does not pin a whole buffer.
      controller.enqueue(n < READ_CHUNK / 2 ? buffer.slice(0, n) : buffer.subarray(0, n));
      return;
    }
    this.#readDone = true;
    if (n === 0) controller.close();
    else controller.error(new ConnectionClosedError(`recv failed on ${this.remoteAddr}`));
    this.#maybeFinish();
  }

  async #write(chunk: Uint8Array): Promise<void> {
    for (let offset = 0; offset < chunk.byteLength;) {
      if (this.#gone) throw new ConnectionClosedError("write on a closed connection");
      const part = chunk.subarray(offset, offset + Math.min(chunk.byteLength - offset, MAX_SEND));
      // `part` stays referenced by this frame until the pool thread is done with it.
      const sent = await this.#track(this.#api.send(this.#socket, part as Uint8Array<ArrayBuffer>));
      if (this.#gone) throw new ConnectionClosedError("connection closed during write");
      if (sent <= 0) throw new ConnectionClosedError(`send failed on ${this.remoteAddr}`);
      offset += sent;
    }
  }

  #closeWrite(): void {
    if (this.#gone) throw new ConnectionClosedError("shutdown on a closed connection");
    this.#api.shutdownWrite(this.#socket);
    this.#writeDone = true;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#readDone && this.#writeDone) this.close();
  }

  /** Destroy both directions; the handle is closed once no call is still running on it. */
  close(): void {
    if (this.#gone) return;
    this.#gone = true;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#readController.close();
    }
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeController.error(new ConnectionClosedError("connection closed"));
    }
    this.#release();
  }

  async #release(): Promise<void> {
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
    this.#resolveClosed();
  }

  /** Unknown for these sockets. */
  peerUid(): number | undefined {
    return undefined;
  }
}
