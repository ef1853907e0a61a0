/**
 * The one byte-connection core: how a connection ends (half-close, reset,
 * close), written once. Each runtime's socket API is a thin
 * {@linkcode ConnTransport} underneath: pull-style ones (Deno, FFI) offer
 * `read()`, push-style ones (Bun's native sockets, `node:net`) call
 * {@linkcode ByteConn.pushData} and friends and offer `pause()`/`resume()`.
 *
 * The states, and what moves between them:
 *
 * | from                  | event                                   | to            |
 * |-----------------------|-----------------------------------------|---------------|
 * | open                  | the peer's EOF, or the reader cancelled | read-done     |
 * | open                  | `writable.close()` (our FIN)            | write-done    |
 * | read-done, write-done | the other direction ends too            | closed        |
 * | any but closed/reset  | {@linkcode ByteConn.close}              | closed        |
 * | any but closed/reset  | {@linkcode ByteConn.reset}, `writable.abort()` | reset  |
 * | any but closed/reset  | the peer reset, or a read failed        | reset         |
 * | open, read-done       | a write failed (the peer stopped reading) | write-done, or reset once reading is done too |
 *
 * A reset is never reported as an end: a peer's reset errors the readable
 * with {@linkcode ConnectionResetError}, and our own reset closes the socket
 * so that the peer sees one (TCP: RST; a Unix stream: the kernel reports
 * ECONNRESET to the peer only when bytes it sent are still unread here, so
 * a reset never reads what is queued).
 *
 * Named pipes have no half-close: with `halfClose: false`, closing the
 * writable waits for the writes to finish and sends nothing, and the
 * connection stays open, still reading, until the peer ends it or either
 * side resets. See docs/PROTOCOL.md, "How a connection ends".
 *
 * @module
 */

import { ConnectionClosedError, ConnectionResetError } from "../errors.ts";
import { errnoCode } from "./errno.ts";
import { markWritesComplete } from "./writes_complete.ts";
import type { Conn } from "./types.ts";

/** Where a connection is in its life; see the module doc for the transitions. */
export type ConnState = "open" | "read-done" | "write-done" | "closed" | "reset";

/** What one runtime's socket offers the core. Every method is called at most as the core says. */
export interface ConnTransport {
  /** Pull-style: the next bytes, `null` at EOF; throws when the read fails. */
  read?(): Promise<Uint8Array | null>;
  /** Push-style: deliver bytes (through `pushData`) until paused. */
  resume?(): void;
  /** Push-style: stop delivering for now. */
  pause?(): void;
  /** Send all of `chunk`; resolves once it is in the kernel. Throws when the socket failed. */
  write(chunk: Uint8Array): Promise<void> | void;
  /** shutdown(SHUT_WR): our FIN. Not called with `halfClose: false`. */
  shutdownWrite(): Promise<void> | void;
  /**
   * Release the socket in both directions. Called at most once, and never
   * after `reset`. `closed` waits for a returned promise (a handle that must
   * outlive calls still running on other threads).
   */
  close(): void | Promise<void>;
  /** Release the socket so that the peer sees a reset. Called at most once, never after `close`. */
  reset(): void | Promise<void>;
}

/** Options for {@linkcode ByteConn}. */
export interface ByteConnOptions {
  /** Local description for logs. */
  localAddr: string;
  /** Remote description for logs. */
  remoteAddr: string;
  /** The peer's uid, when known. */
  peerUid?: number;
  /**
   * Whether the transport can half-close. `false` for named pipes: closing
   * the writable sends nothing and keeps the connection open. @default true
   */
  halfClose?: boolean;
  /**
   * Read ECONNRESET as a plain EOF. For the agent link: a child that exits
   * with our bytes unread resets its end of a socket pair, where a pipe
   * would just end, and either way all it means is that the child is gone.
   */
  resetIsEof?: boolean;
  /** Bytes read ahead of the consumer. @default 0: a stalled reader leaves the rest in the kernel. */
  readHighWaterMark?: number;
  /**
   * The transport is done with a chunk once its `write` resolves (it copies
   * or sends it), so the writer may reuse its buffer (`WRITES_COMPLETE` in
   * the mux). Not for `node:net`, which may still queue the chunk. @default false
   */
  writesComplete?: boolean;
  /**
   * Whether the peer has closed entirely (see `peer_hangup.ts`). Asked
   * while the peer has half-closed and we still owe it data, so a client
   * that vanished is noticed before we next write to it.
   */
  hungUp?: () => boolean;
}

/** How often a half-closed peer is checked for having gone entirely. */
const HANGUP_PROBE_MS = 200;

/** Error codes that mean the peer reset or vanished, rather than a local fault. */
const PEER_GONE = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ENOTCONN", "ETIMEDOUT"]);

/** A {@linkcode Conn} over any {@linkcode ConnTransport}. */
export class ByteConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly localAddr: string;
  readonly remoteAddr: string;
  #transport!: ConnTransport;
  readonly #peerUid: number | undefined;
  readonly #halfClose: boolean;
  readonly #resetIsEof: boolean;
  readonly #hungUp: (() => boolean) | undefined;
  #probe: ReturnType<typeof setInterval> | undefined;
  #state: ConnState = "open";
  #readDone = false;
  #writeDone = false;
  /** The first failure a push-style transport reported, kept until its close. */
  #pendingError: Error | undefined;
  /** Why the connection was reset, for writes that come after. */
  #writeFailure: Error | undefined;
  #resolveClosed!: () => void;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  /** Build the connection; call {@linkcode attach} with its transport before any I/O. */
  constructor(options: ByteConnOptions) {
    this.localAddr = options.localAddr;
    this.remoteAddr = options.remoteAddr;
    this.#peerUid = options.peerUid;
    this.#halfClose = options.halfClose ?? true;
    this.#resetIsEof = options.resetIsEof ?? false;
    this.#hungUp = options.hungUp;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: () => this.#pull(),
      cancel: () => this.#cancelRead(),
    }, {
      highWaterMark: options.readHighWaterMark ?? 0,
      size: (chunk) => chunk.byteLength,
    });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWrite(),
      abort: () => this.reset(),
    });
    if (options.writesComplete) markWritesComplete(this.writable);
  }

  /** Give the connection its transport (adapters build the two together). */
  attach(transport: ConnTransport): this {
    this.#transport = transport;
    return this;
  }

  /** Where the connection is in its life. */
  get state(): ConnState {
    return this.#state;
  }

  peerUid(): number | undefined {
    return this.#peerUid;
  }

  /** Destroy both directions now, without a reset (idempotent). */
  close(): void {
    if (this.#ended) return;
    this.#end("closed", new ConnectionClosedError("connection closed"));
    this.#released(this.#transport.close());
  }

  /** Destroy both directions so that the peer sees a reset (idempotent). */
  reset(): void {
    if (this.#ended) return;
    this.#end("reset", new ConnectionResetError("connection reset here", false));
    this.#released(this.#transport.reset());
  }

  // ---- push-style transports report here ---------------------------------

  /** Bytes arrived. Pauses the transport when they wait with no read pending. */
  pushData(chunk: Uint8Array): void {
    if (this.#readDone) return; // cancelled: drain and drop, so the peer's FIN is still seen
    this.#readController.enqueue(chunk);
    // Not at <= 0: pausing after every chunk would flip the socket for each small message.
    if ((this.#readController.desiredSize ?? 0) < 0) this.#transport.pause?.();
  }

  /** The peer sent FIN. */
  pushEnd(): void {
    this.#readEnded();
  }

  /** The transport failed; the failure is reported when it closes (or now, by the next write). */
  pushError(error: Error): void {
    if (this.#resetIsEof && errnoCode(error) === "ECONNRESET") return;
    // A named pipe has no reset: a server that flushes and disconnects
    // (DisconnectNamedPipe) is read as ERROR_PIPE_NOT_CONNECTED, which libuv
    // names EPIPE. It is the end of the reply; what was read stays readable.
    if (!this.#halfClose && errnoCode(error) === "EPIPE") return;
    this.#pendingError ??= error;
  }

  /** The transport is gone in both directions. */
  pushClosed(error?: Error): void {
    if (error) this.pushError(error);
    if (this.#ended) return;
    const failure = this.#pendingError;
    if (failure) {
      this.#end("reset", peerReset(this.remoteAddr, failure));
    } else {
      // Both FINs may cross with no separate EOF report: that is a clean end.
      this.#readEnded();
      if (this.#ended) return;
      this.#end(
        "closed",
        new ConnectionClosedError("connection closed by the peer", { byPeer: true }),
      );
    }
    this.#resolveClosed();
  }

  // ---- the two directions ------------------------------------------------

  get #ended(): boolean {
    return this.#state === "closed" || this.#state === "reset";
  }

  async #pull(): Promise<void> {
    if (this.#readDone) return;
    const transport = this.#transport;
    if (!transport.read) {
      transport.resume?.();
      return;
    }
    let chunk: Uint8Array | null;
    try {
      chunk = await transport.read();
    } catch (error) {
      if (this.#readDone || this.#ended) return;
      if (this.#resetIsEof && errnoCode(error) === "ECONNRESET") chunk = null;
      else return this.#fail(error);
    }
    if (this.#readDone) return; // cancelled or ended meanwhile
    if (chunk === null) this.#readEnded();
    else this.#readController.enqueue(chunk);
  }

  #readEnded(): void {
    if (this.#readDone) return;
    this.#readDone = true;
    this.#readController.close();
    if (this.#state === "open") this.#state = "read-done";
    this.#maybeFinish();
    if (this.#hungUp && !this.#ended) this.#watchHangup(this.#hungUp);
  }

  /** While we still owe a half-closed peer data, notice when it goes entirely. */
  #watchHangup(hungUp: () => boolean): void {
    this.#probe = setInterval(() => {
      if (this.#ended) return clearInterval(this.#probe);
      if (!hungUp()) return;
      const gone = Object.assign(new Error("the peer closed the connection"), { code: "EPIPE" });
      this.#fail(gone);
    }, HANGUP_PROBE_MS);
    (this.#probe as { unref?: () => void }).unref?.();
  }

  #cancelRead(): void {
    if (this.#readDone) return;
    this.#readDone = true;
    if (this.#state === "open") this.#state = "read-done";
    if (this.#writeDone) this.#maybeFinish();
    else this.#transport.resume?.(); // keep draining (and dropping) so the peer's FIN is seen
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#ended) throw this.#closedError("write on a closed connection");
    if (this.#pendingError) throw this.#failWrite(this.#pendingError);
    try {
      await this.#transport.write(chunk);
    } catch (error) {
      if (this.#ended) throw this.#closedError("connection closed during write");
      throw this.#failWrite(error);
    }
  }

  /**
   * A write failed: the peer stopped reading, reset, or is gone. Only this
   * direction ends here. What the peer sent before is still ours to read
   * (an error would discard what is queued), and the read side ends as the
   * socket reports it: EOF, or the reset.
   */
  #failWrite(error: unknown): Error {
    this.#writeDone = true;
    this.#writeFailure ??= peerReset(this.remoteAddr, error);
    if (this.#state === "open") this.#state = "write-done";
    if (this.#readDone) {
      this.#end("reset", this.#writeFailure);
      this.#released(this.#transport.reset());
    }
    return this.#writeFailure;
  }

  async #closeWrite(): Promise<void> {
    if (this.#ended) throw this.#closedError("shutdown on a closed connection");
    if (this.#halfClose) {
      try {
        await this.#transport.shutdownWrite();
      } catch (error) {
        if (this.#ended) return;
        // The peer already went away entirely: our FIN has nowhere to go.
        if (errnoCode(error) !== "ENOTCONN") throw error;
      }
    }
    this.#writeDone = true;
    if (this.#state === "open") this.#state = "write-done";
    this.#maybeFinish();
  }

  /** Both directions are done: release the socket. */
  #maybeFinish(): void {
    if (!this.#readDone || !this.#writeDone || this.#ended) return;
    this.#end("closed", new ConnectionClosedError("connection closed"));
    this.#released(this.#transport.close());
  }

  /** A read or write failed: the connection is reset, from the peer's side or ours. */
  #fail(error: unknown): void {
    if (this.#ended) return;
    if (this.#resetIsEof) {
      // All a failure means here is that the child is gone: the link ends.
      this.#end("closed", new ConnectionClosedError("the other end is gone", { cause: error }));
      this.#released(this.#transport.close());
      return;
    }
    const reset = peerReset(this.remoteAddr, error);
    this.#end("reset", reset);
    this.#released(this.#transport.reset());
  }

  /** `closed` resolves once the transport has let go of the socket. */
  #released(releasing: void | Promise<void>): void {
    if (releasing) releasing.then(this.#resolveClosed, this.#resolveClosed);
    else this.#resolveClosed();
  }

  #closedError(message: string): Error {
    return this.#writeFailure ?? new ConnectionClosedError(message);
  }

  /** Settle both streams; the caller releases the transport and resolves `closed`. */
  #end(state: "closed" | "reset", error: Error): void {
    this.#state = state;
    clearInterval(this.#probe);
    if (state === "reset") this.#writeFailure = error;
    if (!this.#readDone) {
      this.#readDone = true;
      if (state === "reset") this.#readController.error(error);
      else this.#readController.close();
    }
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeController.error(error);
    }
  }
}

/** What a failed read or write means for the reader: the peer reset, or the socket failed. */
function peerReset(remoteAddr: string, error: unknown): ConnectionResetError {
  const code = errnoCode(error);
  const why = code && PEER_GONE.has(code) ? `${code}` : (error as Error)?.message ?? String(error);
  return new ConnectionResetError(`connection reset (${why}): ${remoteAddr}`, true, {
    cause: error,
  });
}
