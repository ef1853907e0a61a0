/**
 * Wraps a `node:net` Socket (or named-pipe socket) as a {@linkcode Conn}, and a
 * `node:net` Server as a {@linkcode Listener}. Works in Deno and in Bun.
 *
 * The socket must have been created with `allowHalfOpen: true`; otherwise the
 * runtime answers the peer's FIN with its own and half-close breaks.
 *
 * @module
 */

import type { Server, Socket } from "node:net";
import { ConnectionClosedError } from "../errors.ts";
import { AcceptQueue } from "./accept_queue.ts";
import type { Conn, Listener } from "./types.ts";

/**
 * Bytes the readable buffers ahead of its reader: none. The socket is
 * resumed when the reader reads and paused when data arrives with no read
 * pending, so a stalled reader leaves the rest in the kernel.
 */
export const READ_HIGH_WATER_MARK = 0;

/** Options for {@linkcode nodeSocketConn}. */
export interface NodeSocketConnOptions {
  /** Local description for logs. */
  localAddr: string;
  /** Remote description for logs. */
  remoteAddr: string;
  /** The peer's uid, when known (read once at accept time). */
  peerUid?: number;
}

/**
 * Wrap a connected `node:net` Socket as a {@linkcode Conn}.
 *
 * Reading is pull-based: the socket is paused whenever a chunk waits in the
 * readable's queue with no read pending and resumed when the reader pulls, so
 * a slow consumer backs the peer up instead of growing memory.
 * Writes wait for `drain` whenever `socket.write()` returns false. Chunks
 * given to the writable must not be modified afterwards: node may still hold
 * them in its write queue after the write resolves.
 */
export function nodeSocketConn(socket: Socket, options: NodeSocketConnOptions): Conn {
  return new NodeSocketConn(socket, options);
}

class NodeSocketConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly localAddr: string;
  readonly remoteAddr: string;
  #socket: Socket;
  #peerUid: number | undefined;
  #error: Error | undefined;
  #gone = false;
  #readDone = false;
  #writeDone = false;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  constructor(socket: Socket, options: NodeSocketConnOptions) {
    this.#socket = socket;
    this.#peerUid = options.peerUid;
    this.localAddr = options.localAddr;
    this.remoteAddr = options.remoteAddr;
    // An 'error' listener must always be attached, or node-style emitters throw.
    socket.on("error", (error) => {
      this.#error ??= error;
    });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#gone = true;
        this.#endRead();
        if (!this.#writeDone) {
          this.#writeController.error(
            this.#error ?? new ConnectionClosedError("connection closed"),
          );
        }
        resolve();
      });
    });
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
        socket.on("data", (data: Uint8Array) => this.#onData(data));
        socket.once("end", () => this.#endRead());
      },
      pull: () => {
        if (!this.#readDone) socket.resume();
      },
      cancel: () => {
        // Keep draining (and dropping) so the peer's FIN is still seen and the
        // socket can finish closing on its own once our write side is done.
        this.#readDone = true;
        socket.resume();
        if (this.#writeDone) socket.destroy();
      },
    }, { highWaterMark: READ_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWrite(),
      abort: () => {
        socket.destroy();
      },
    });
  }

  #onData(data: Uint8Array): void {
    if (this.#readDone) return;
    // Hand out a plain Uint8Array view: Buffer#slice does not copy, which
    // would surprise consumers that expect Uint8Array semantics.
    this.#readController.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    // Not at <= 0: pausing after every delivered chunk would flip the socket
    // for each small message.
    if ((this.#readController.desiredSize ?? 0) < 0) this.#socket.pause();
  }

  #endRead(): void {
    if (this.#readDone) return;
    this.#readDone = true;
    // A reset from the peer surfaces as an error; our own close() ends cleanly.
    if (this.#error && !this.#socket.readableEnded) this.#readController.error(this.#error);
    else this.#readController.close();
  }

  #write(chunk: Uint8Array): Promise<void> | void {
    if (this.#gone || this.#socket.destroyed) {
      throw this.#error ?? new ConnectionClosedError("write on a closed connection");
    }
    if (this.#socket.write(chunk)) return;
    return this.#waitFor("drain");
  }

  async #closeWrite(): Promise<void> {
    if (this.#gone || this.#socket.destroyed) {
      throw this.#error ?? new ConnectionClosedError("shutdown on a closed connection");
    }
    const finished = this.#waitFor("finish");
    this.#socket.end();
    await finished;
    this.#writeDone = true;
  }

  /** Resolve on `event`; reject if the socket closes first. */
  #waitFor(event: "drain" | "finish"): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      const onEvent = () => {
        socket.off("close", onClose);
        resolve();
      };
      const onClose = () => {
        socket.off(event, onEvent);
        if (event === "finish" && socket.writableFinished) resolve();
        else reject(this.#error ?? new ConnectionClosedError("connection closed during write"));
      };
      socket.once(event, onEvent);
      socket.once("close", onClose);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  peerUid(): number | undefined {
    return this.#peerUid;
  }
}

/** Options for {@linkcode nodeServerListener}. */
export interface NodeServerListenerOptions {
  /** What the server is bound to. */
  addr: string;
  /** For TCP, the bound port. */
  port?: number;
  /** Turn an accepted socket into a Conn. */
  wrap: (socket: Socket) => Conn;
  /** Runs after the server has stopped (e.g. removes the socket file). */
  afterClose?: () => Promise<void>;
}

/**
 * Wrap an already-listening `node:net` Server as a {@linkcode Listener}. The
 * server should be created with `allowHalfOpen: true` and `pauseOnConnect: true`
 * (so no data event fires before the Conn's stream is attached).
 */
export function nodeServerListener(server: Server, options: NodeServerListenerOptions): Listener {
  const queue = new AcceptQueue();
  server.on("connection", (socket: Socket) => queue.push(options.wrap(socket)));
  server.on("error", (error: Error) => queue.end(error));
  server.on("close", () => queue.end());
  let closing: Promise<void> | undefined;
  return {
    addr: options.addr,
    port: options.port,
    close(): Promise<void> {
      closing ??= (async () => {
        queue.end();
        // server.close() waits for open connections; we only need the accept
        // socket gone, which happens synchronously inside close().
        server.close();
        await options.afterClose?.();
      })();
      return closing;
    },
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  };
}
