/**
 * {@linkcode Conn} and {@linkcode Listener} over `Bun.listen` / `Bun.connect`.
 *
 * Bun's native sockets are callback-driven and do not buffer writes:
 * `write()` returns how many bytes went out now, and the rest must wait for
 * the `drain` callback. Reading is pull-based through `pause()`/`resume()`.
 * `shutdown()` with no argument is shutdown(SHUT_WR); `allowHalfOpen: true`
 * stops Bun from answering the peer's FIN with its own.
 *
 * @module
 */

import { ConnectionClosedError } from "../errors.ts";
import { AcceptQueue } from "./accept_queue.ts";
import type { BunGlobal, BunSocket, BunSocketHandler, BunSocketListener } from "./bun_types.d.ts";
import { ByteConn, type ConnTransport } from "./byte_conn.ts";
import type { Conn, Listener } from "./types.ts";

/** Addresses and credentials of a Bun socket, for logs and peerUid(). */
export interface BunConnInfo {
  localAddr: string;
  remoteAddr: string;
  peerUid?: number;
  /** Read a reset as EOF (the agent link; see {@linkcode ByteConnOptions.resetIsEof}). */
  resetIsEof?: boolean;
  /** Whether the peer closed entirely (accepted Unix sockets; see `peer_hangup.ts`). */
  hungUp?: () => boolean;
}

/**
 * One Bun socket as a push-style {@linkcode ConnTransport}; its callbacks
 * report to the {@linkcode ByteConn} on top. Bun hands over everything the
 * kernel holds in one `data` call (up to ~230 KiB on a Unix socket), so the
 * conn reads ahead nothing: a stalled reader pauses the socket.
 */
export class BunTransport implements ConnTransport {
  readonly conn: ByteConn;
  readonly #socket: BunSocket<BunTransport>;
  #gone = false;
  #drainWaiter: (() => void) | undefined;

  constructor(socket: BunSocket<BunTransport>, info: BunConnInfo) {
    this.#socket = socket;
    // A write returns once Bun has taken every byte into the kernel.
    this.conn = new ByteConn({ ...info, writesComplete: true }).attach(this);
  }

  resume(): void {
    if (!this.#gone) this.#socket.resume();
  }

  pause(): void {
    if (!this.#gone) this.#socket.pause();
  }

  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (true) {
      const written = this.#gone
        ? -1
        : this.#socket.write(offset === 0 ? chunk : chunk.subarray(offset));
      if (written < 0) throw new ConnectionClosedError("write on a closed connection");
      offset += written;
      if (offset >= chunk.byteLength) return;
      await new Promise<void>((resolve) => (this.#drainWaiter = resolve));
    }
  }

  shutdownWrite(): void {
    if (this.#gone) throw new ConnectionClosedError("shutdown on a closed connection");
    this.#socket.shutdown();
  }

  close(): void {
    if (!this.#gone) this.#socket.end();
  }

  /** `terminate()` closes at once: SO_LINGER 0 (RST) on TCP, unread bytes left unread on Unix. */
  reset(): void {
    if (!this.#gone) this.#socket.terminate();
  }

  /** `drain` callback: the socket can take more bytes. */
  onDrain(): void {
    const waiter = this.#drainWaiter;
    this.#drainWaiter = undefined;
    waiter?.();
  }

  /** `close` callback: the socket is gone in both directions. */
  onClose(error?: Error): void {
    this.#gone = true;
    this.conn.pushClosed(error);
    this.onDrain();
  }
}

/** Socket callbacks shared by every Bun socket; `open` is supplied per use. */
const forward: BunSocketHandler<BunTransport> = {
  data: (socket, data) =>
    socket.data.conn.pushData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
  drain: (socket) => socket.data.onDrain(),
  end: (socket) => socket.data.conn.pushEnd(),
  error: (socket, error) => socket.data?.conn.pushError(error),
  close: (socket, error) => socket.data?.onClose(error),
};

/** Where to listen or connect, in Bun's option shape. */
export type BunAddress = { unix: string } | { hostname: string; port: number };

/** Connect with `Bun.connect` (or adopt a connected descriptor) and wrap the socket. */
export async function bunConnect(
  bun: BunGlobal,
  address: BunAddress | { fd: number },
  describe: (socket: BunSocket<BunTransport>) => BunConnInfo,
): Promise<Conn> {
  const socket = await bun.connect<BunTransport>({
    ...address,
    allowHalfOpen: true,
    socket: {
      ...forward,
      open: (socket) => {
        socket.data = new BunTransport(socket, describe(socket));
      },
    },
  });
  socket.data ??= new BunTransport(socket, describe(socket));
  return socket.data.conn;
}

/** Options for {@linkcode bunListen}. */
export interface BunListenOptions {
  /** What to report as `Listener.addr`; default `host:port` for TCP. */
  addr?: string;
  /** Describe an accepted socket. */
  describe: (socket: BunSocket<BunTransport>) => BunConnInfo;
  /** Runs after the listener has stopped (e.g. removes the socket file). */
  afterClose?: () => Promise<void>;
}

/** Listen with `Bun.listen` (synchronous bind inside `listen`). */
export function bunListen(
  bun: BunGlobal,
  address: BunAddress,
  options: BunListenOptions,
): Listener {
  const queue = new AcceptQueue();
  const server: BunSocketListener = bun.listen<BunTransport>({
    ...address,
    allowHalfOpen: true,
    socket: {
      ...forward,
      open: (socket) => {
        // Read only when the conn is read: until then the client's bytes stay
        // in the kernel, where a reset (a failed dial) still shows to it.
        socket.pause();
        socket.data = new BunTransport(socket, options.describe(socket));
        queue.push(socket.data.conn);
      },
    },
  });
  let closing: Promise<void> | undefined;
  const port = "port" in address ? server.port : undefined;
  return {
    addr: options.addr ?? ("hostname" in address ? `${address.hostname}:${port}` : address.unix),
    port,
    close(): Promise<void> {
      closing ??= (async () => {
        queue.end();
        server.stop(false);
        await options.afterClose?.();
      })();
      return closing;
    },
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  };
}
