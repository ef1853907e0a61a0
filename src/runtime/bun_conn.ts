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
import type { Conn, Listener } from "./types.ts";
import { markWritesComplete } from "./writes_complete.ts";

/**
 * Bytes queued ahead of the consumer: none. Bun hands over everything the
 * kernel holds in one `data` call (up to ~230 KiB on a Unix socket), so any
 * read-ahead would be whole chunks of that size per stalled connection.
 */
const READ_HIGH_WATER_MARK = 0;

/** Addresses and credentials of a Bun socket, for logs and peerUid(). */
export interface BunConnInfo {
  localAddr: string;
  remoteAddr: string;
  peerUid?: number;
  /**
   * Read a reset as EOF. For the agent link: a child that exits with our
   * bytes unread resets its end of a socket pair, where a pipe would just
   * end, and either way all it means is that the child is gone.
   */
  resetIsEof?: boolean;
}

/** A {@linkcode Conn} over one Bun socket; the socket's handlers call its `on*` methods. */
export class BunConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly localAddr: string;
  readonly remoteAddr: string;
  #socket: BunSocket<BunConn>;
  #peerUid: number | undefined;
  #resetIsEof: boolean;
  #resolveClosed!: () => void;
  #error: Error | undefined;
  #gone = false;
  #readDone = false;
  #writeDone = false;
  #drainWaiter: (() => void) | undefined;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  constructor(socket: BunSocket<BunConn>, info: BunConnInfo) {
    this.#socket = socket;
    this.#peerUid = info.peerUid;
    this.#resetIsEof = info.resetIsEof ?? false;
    this.localAddr = info.localAddr;
    this.remoteAddr = info.remoteAddr;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: () => {
        if (!this.#readDone && !this.#gone) socket.resume();
      },
      cancel: () => {
        // Keep reading (and dropping) so the peer's FIN is still seen.
        this.#readDone = true;
        if (this.#gone) return;
        if (this.#writeDone) this.close();
        else socket.resume();
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

  /**
   * `data` callback: hand the bytes over; pause when they wait with no read
   * pending. (Pausing after every chunk would cost an epoll_ctl pair per small
   * message.)
   */
  onData(data: Uint8Array): void {
    if (this.#readDone) return;
    this.#readController.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if ((this.#readController.desiredSize ?? 0) < 0) this.#socket.pause();
  }

  /** `drain` callback: the socket can take more bytes. */
  onDrain(): void {
    const waiter = this.#drainWaiter;
    this.#drainWaiter = undefined;
    waiter?.();
  }

  /** `end` callback: the peer sent FIN. */
  onEnd(): void {
    if (this.#readDone) return;
    this.#readDone = true;
    this.#readController.close();
    if (this.#writeDone) this.close();
  }

  /** `error` callback. */
  onError(error: Error): void {
    if (!this.#ignored(error)) this.#error ??= error;
  }

  /** `close` callback: the socket is gone in both directions. */
  onClose(error?: Error): void {
    if (error && !this.#ignored(error)) this.#error ??= error;
    this.#gone = true;
    if (!this.#readDone) {
      this.#readDone = true;
      // Bun may report close without a separate `end` when both FINs crossed.
      if (this.#error) this.#readController.error(this.#error);
      else this.#readController.close();
    }
    if (!this.#writeDone) {
      this.#writeController.error(this.#error ?? new ConnectionClosedError("connection closed"));
    }
    this.onDrain();
    this.#resolveClosed();
  }

  #ignored(error: Error): boolean {
    return this.#resetIsEof && (error as { code?: string }).code === "ECONNRESET";
  }

  async #write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (true) {
      if (this.#gone) {
        throw this.#error ?? new ConnectionClosedError("write on a closed connection");
      }
      const written = this.#socket.write(offset === 0 ? chunk : chunk.subarray(offset));
      if (written < 0) {
        throw this.#error ?? new ConnectionClosedError("write on a closed connection");
      }
      offset += written;
      if (offset >= chunk.byteLength) return;
      await new Promise<void>((resolve) => (this.#drainWaiter = resolve));
    }
  }

  #closeWrite(): void {
    if (this.#gone) {
      throw this.#error ?? new ConnectionClosedError("shutdown on a closed connection");
    }
    this.#socket.shutdown();
    this.#writeDone = true;
    if (this.#readDone) this.close();
  }

  close(): void {
    if (this.#gone) return;
    this.#socket.end();
  }

  peerUid(): number | undefined {
    return this.#peerUid;
  }
}

/** Socket callbacks shared by every Bun socket; `open` is supplied per use. */
const forward: BunSocketHandler<BunConn> = {
  data: (socket, data) => socket.data.onData(data),
  drain: (socket) => socket.data.onDrain(),
  end: (socket) => socket.data.onEnd(),
  error: (socket, error) => socket.data?.onError(error),
  close: (socket, error) => socket.data?.onClose(error),
};

/** Where to listen or connect, in Bun's option shape. */
export type BunAddress = { unix: string } | { hostname: string; port: number };

/** Connect with `Bun.connect` (or adopt a connected descriptor) and wrap the socket. */
export async function bunConnect(
  bun: BunGlobal,
  address: BunAddress | { fd: number },
  describe: (socket: BunSocket<BunConn>) => BunConnInfo,
): Promise<Conn> {
  const socket = await bun.connect<BunConn>({
    ...address,
    allowHalfOpen: true,
    socket: {
      ...forward,
      open: (socket) => {
        socket.data = new BunConn(socket, describe(socket));
      },
    },
  });
  socket.data ??= new BunConn(socket, describe(socket));
  return socket.data;
}

/** Options for {@linkcode bunListen}. */
export interface BunListenOptions {
  /** What to report as `Listener.addr`; default `host:port` for TCP. */
  addr?: string;
  /** Describe an accepted socket. */
  describe: (socket: BunSocket<BunConn>) => BunConnInfo;
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
  const server: BunSocketListener = bun.listen<BunConn>({
    ...address,
    allowHalfOpen: true,
    socket: {
      ...forward,
      open: (socket) => {
        socket.data = new BunConn(socket, options.describe(socket));
        queue.push(socket.data);
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
