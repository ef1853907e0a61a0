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

import { ByteConn, type ConnTransport } from "./byte_conn.ts";
import { acceptedTcpPeerUid } from "./tcp_peer_uid.ts";
import type { Conn, Listener } from "./types.ts";

/** Largest read buffer. */
const READ_CHUNK = 64 * 1024;
/**
 * Smallest read buffer, and the first. A pending read holds its buffer, so an
 * idle connection costs this much; a busy one doubles it on every full read.
 */
const MIN_READ = 4 * 1024;

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

/**
 * A `Deno.Conn` as a pull-style {@linkcode ConnTransport}: the socket is read
 * only when the consumer reads, so a stalled consumer leaves the rest in the
 * kernel.
 */
class DenoTransport implements ConnTransport {
  readonly #conn: Deno.Conn;
  #closed = false;
  #spare: Uint8Array | undefined;
  #readSize = MIN_READ;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async read(): Promise<Uint8Array | null> {
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
      if (this.#closed || isClosedResourceError(error)) return null;
      throw error;
    }
    if (n === null) return null;
    // Grow while reads fill the buffer, shrink back when they are small.
    if (n === size && size < READ_CHUNK) this.#readSize = size * 2;
    else if (n <= size / 4 && size > MIN_READ) this.#readSize = size / 2;
    if (n >= size / 2) return buffer.subarray(0, n);
    // Copy small reads out, so the buffer is reused rather than pinned.
    this.#spare = buffer;
    return buffer.slice(0, n);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      offset += await this.#conn.write(offset === 0 ? chunk : chunk.subarray(offset));
    }
  }

  async shutdownWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      // The peer already went away entirely: our FIN has nowhere to go.
      if (!(error instanceof Deno.errors.NotConnected)) throw error;
    }
  }

  close(): void {
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno itself; nothing left to release.
    }
  }

  /**
   * Deno has no SO_LINGER: a TCP peer sees an end, not RST. On a Unix
   * socket, closing without reading what is queued is the reset Linux reports.
   */
  reset(): void {
    this.close();
  }
}

/** Wrap `conn` as a {@linkcode Conn}; `peerUid` is the peer's uid if already known. */
export function denoConn(conn: Deno.Conn, peerUid?: number): Conn {
  return new ByteConn({
    localAddr: formatDenoAddr(conn.localAddr),
    remoteAddr: formatDenoAddr(conn.remoteAddr),
    peerUid,
    writesComplete: true, // conn.write() resolves once the bytes are in the kernel
  }).attach(new DenoTransport(conn));
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

  async *[Symbol.asyncIterator](): AsyncIterator<Conn> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || isClosedResourceError(error)) return;
        throw error;
      }
      const { localAddr: l, remoteAddr: r } = conn;
      yield denoConn(
        conn,
        l.transport === "tcp" && r.transport === "tcp"
          ? acceptedTcpPeerUid(
            { address: l.hostname, port: l.port },
            { address: r.hostname, port: r.port },
          )
          : undefined,
      );
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
