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
import { ByteConn, type ConnTransport } from "./byte_conn.ts";
import type { Conn, Listener } from "./types.ts";

/** Options for {@linkcode nodeSocketConn}. */
export interface NodeSocketConnOptions {
  /** Local description for logs. */
  localAddr: string;
  /** Remote description for logs. */
  remoteAddr: string;
  /** The peer's uid, when known (read once at accept time). */
  peerUid?: number;
  /** False for a named pipe, which has no half-close (see `byte_conn.ts`). @default true */
  halfClose?: boolean;
  /** Whether the peer closed entirely (accepted Unix sockets; see `peer_hangup.ts`). */
  hungUp?: () => boolean;
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
  return new NodeTransport(socket, options).conn;
}

/** A `node:net` socket as a push-style {@linkcode ConnTransport}. */
class NodeTransport implements ConnTransport {
  readonly conn: ByteConn;
  readonly #socket: Socket;

  constructor(socket: Socket, options: NodeSocketConnOptions) {
    this.#socket = socket;
    const conn = this.conn = new ByteConn(options).attach(this);
    const push = (data: Uint8Array) =>
      // A plain Uint8Array view: Buffer#slice does not copy, which would
      // surprise consumers that expect Uint8Array semantics.
      conn.pushData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    // An 'error' listener must always be attached, or node-style emitters throw.
    socket.on("error", (error) => {
      // An error destroys the socket, and node:net never emits what it had
      // already read while paused. A named pipe that its server ends with
      // DisconnectNamedPipe errors (EPIPE) right after the reply's last bytes,
      // so a paused pipe lost the reply's tail (measured under Wine: all of a
      // 1,000-byte reply paused before it arrived). read() still hands it over.
      for (let chunk: Uint8Array | null; (chunk = socket.read()) !== null;) push(chunk);
      conn.pushError(error);
    });
    socket.on("data", push);
    socket.once("end", () => conn.pushEnd());
    socket.once("close", () => conn.pushClosed());
    // A 'data' listener would start the flow: read only when the conn is read,
    // so bytes nobody asked for stay in the kernel (and a reset shows there).
    socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  pause(): void {
    this.#socket.pause();
  }

  write(chunk: Uint8Array): Promise<void> | void {
    if (this.#socket.destroyed) throw new ConnectionClosedError("write on a closed connection");
    if (this.#socket.write(chunk)) return;
    return this.#waitFor("drain");
  }

  async shutdownWrite(): Promise<void> {
    if (this.#socket.destroyed) {
      throw new ConnectionClosedError("shutdown on a closed connection");
    }
    const finished = this.#waitFor("finish");
    this.#socket.end();
    await finished;
  }

  close(): void {
    this.#socket.destroy();
  }

  /**
   * TCP: RST through `resetAndDestroy()` (Bun sends one; Deno 2.9 only
   * closes). Unix sockets and pipes have no RST: destroying them with what
   * the peer sent still unread is the reset Linux reports.
   */
  reset(): void {
    const socket = this.#socket;
    if (typeof socket.remotePort === "number" && typeof socket.resetAndDestroy === "function") {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // Not a TCP handle after all: destroy below.
      }
    }
    socket.destroy();
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
        else reject(new ConnectionClosedError("connection closed during write"));
      };
      socket.once(event, onEvent);
      socket.once("close", onClose);
    });
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
  server.on("error", (error: Error) => {
    // Out of files for a moment (a burst above the daemon's connection
    // budget): that connection is lost, not the listener.
    const code = (error as { code?: string }).code;
    if (code === "EMFILE" || code === "ENFILE") return;
    queue.end(error);
  });
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
