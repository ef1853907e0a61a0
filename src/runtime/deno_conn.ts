/**
 * {@linkcode Conn} over a `Deno.Conn`, with real half-close.
 *
 * Deno's own `conn.readable` closes the whole resource when it reaches EOF,
 * which would cut off our write side after the peer's FIN. So the readable
 * here is built on `conn.read()`, and `writable.close()` calls
 * `conn.closeWrite()` (shutdown(SHUT_WR)). The resource is closed only once
 * both directions are done, or on {@linkcode Conn.close}.
 *
 * @module
 */

import { ConnectionClosedError } from "../errors.ts";
import type { Conn, Listener } from "./types.ts";
import { markWritesComplete } from "./writes_complete.ts";

/** Largest read buffer. */
const READ_CHUNK = 64 * 1024;
/**
 * Smallest read buffer, and the first. A pending read holds its buffer, so an
 * idle connection costs this much; a busy one doubles it on every full read.
 */
const MIN_READ = 4 * 1024;
/**
 * Bytes read ahead of the consumer: none. The socket is read when the
 * consumer reads, so a stalled consumer leaves the rest in the kernel.
 */
const READ_HIGH_WATER_MARK = 0;

/** Format a Deno address for logs. */
export function formatDenoAddr(addr: Deno.Addr): string {
  switch (addr.transport) {
    case "tcp":
    case "udp":
      return addr.hostname.includes(":")
        ? `[${addr.hostname}]:${addr.port}`
        : `${addr.hostname}:${addr.port}`;
    case "unix":
    case "unixpacket":
      return addr.path || "(unnamed)";
    default:
      return addr.transport;
  }
}

/** Errors Deno raises on a resource we closed ourselves. */
function isClosedResourceError(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

/** Wrap `conn` as a {@linkcode Conn}; `peerUid` is the peer's uid if already known. */
export class DenoConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly localAddr: string;
  readonly remoteAddr: string;
  #conn: Deno.Conn;
  #peerUid: number | undefined;
  #resolveClosed!: () => void;
  #gone = false;
  #readDone = false;
  #writeDone = false;
  #spare: Uint8Array | undefined;
  #readSize = MIN_READ;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  constructor(conn: Deno.Conn, peerUid?: number) {
    this.#conn = conn;
    this.#peerUid = peerUid;
    this.localAddr = formatDenoAddr(conn.localAddr);
    this.remoteAddr = formatDenoAddr(conn.remoteAddr);
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
    // A write resolves once every byte is in the kernel: the mux may reuse its buffer.
    this.writable = markWritesComplete(
      new WritableStream<Uint8Array>({
        start: (controller) => {
          this.#writeController = controller;
        },
        write: (chunk) => this.#write(chunk),
        close: () => this.#closeWrite(),
        abort: () => this.close(),
      }),
    );
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    // A fresh buffer unless the previous one was copied out: chunks handed to
    // the consumer are never written to again.
    const size = this.#readSize;
    const buffer = this.#spare?.byteLength === size ? this.#spare : new Uint8Array(size);
    this.#spare = undefined;
    let n: number | null = 0;
    try {
      // Deno may report 0 bytes without EOF; the stream would not pull again.
      while (n === 0) n = await this.#conn.read(buffer);
    } catch (error) {
      if (this.#readDone) return;
      this.#readDone = true;
      if (this.#gone || isClosedResourceError(error)) controller.close();
      else controller.error(error);
      this.#maybeFinish();
      return;
    }
    if (this.#readDone) return;
    if (n === null) {
      this.#readDone = true;
      controller.close();
      this.#maybeFinish();
    } else {
      // Grow while reads fill the buffer, shrink back when they are small.
      if (n === size && size < READ_CHUNK) this.#readSize = size * 2;
      else if (n <= size / 4 && size > MIN_READ) this.#readSize = size / 2;
      if (n < size / 2) {
        // Copy small reads out, so the buffer is reused rather than pinned.
        controller.enqueue(buffer.slice(0, n));
        this.#spare = buffer;
      } else {
        controller.enqueue(buffer.subarray(0, n));
      }
    }
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#gone) throw new ConnectionClosedError("write on a closed connection");
    let offset = 0;
    while (offset < chunk.byteLength) {
      offset += await this.#conn.write(offset === 0 ? chunk : chunk.subarray(offset));
    }
  }

  async #closeWrite(): Promise<void> {
    if (this.#gone) throw new ConnectionClosedError("shutdown on a closed connection");
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      // The peer already went away entirely: our FIN has nowhere to go, and
      // that is not the writer's fault.
      if (!(error instanceof Deno.errors.NotConnected)) throw error;
    }
    this.#writeDone = true;
    this.#maybeFinish();
  }

  /** Close the resource once both directions are finished. */
  #maybeFinish(): void {
    if (this.#readDone && this.#writeDone) this.close();
  }

  close(): void {
    if (this.#gone) return;
    this.#gone = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno itself; nothing left to release.
    }
    if (!this.#readDone) {
      this.#readDone = true;
      this.#readController.close();
    }
    if (!this.#writeDone) {
      this.#writeController.error(new ConnectionClosedError("connection closed"));
    }
    this.#resolveClosed();
  }

  peerUid(): number | undefined {
    return this.#peerUid;
  }
}

/** {@linkcode Listener} over a `Deno.Listener`. */
export class DenoListener implements Listener {
  readonly addr: string;
  readonly port?: number;
  #listener: Deno.Listener;
  #closing: Promise<void> | undefined;

  constructor(listener: Deno.Listener) {
    this.#listener = listener;
    this.addr = formatDenoAddr(listener.addr);
    if (listener.addr.transport === "tcp") this.port = listener.addr.port;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DenoConn> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || isClosedResourceError(error)) return;
        throw error;
      }
      yield new DenoConn(conn);
    }
  }

  close(): Promise<void> {
    if (!this.#closing) {
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      this.#closing = Promise.resolve();
    }
    return this.#closing;
  }
}
