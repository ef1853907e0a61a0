/**
 * One multiplexed stream: a state machine that owns its state, both of its
 * windows and its buffers, behind a `readable`/`writable` pair.
 *
 * States (docs/PROTOCOL.md §4–5):
 *
 * ```
 *  open() ─> SYN_SENT ──ACK──┐            ┌── FIN sent ──> LOCAL_CLOSED ──FIN received──┐
 *                            ├─> ESTABLISHED                                           ├─> CLOSED
 *  SYN ──> SYN_RECEIVED ─accept()─┘       └── FIN received ─> REMOTE_CLOSED ──FIN sent─┘
 *  any state ── RST sent or received, session ended ──> RESET
 * ```
 *
 * Concurrency rules: every method runs on the event loop. The session calls
 * the `_on…` methods from its reader pump (which never awaits them) and the
 * writer calls `_takeWindowUpdate`/`_nextFrame`; the application only uses
 * the public surface. Received bytes are credited back only once the
 * application has read them and asks for more, so a stream whose reader is
 * stuck holds at most its window.
 *
 * @module
 */
import { ProtocolError, SessionClosedError, StreamResetError } from "../errors.ts";
import { MAX_WINDOW, ResetCode } from "./frame.ts";
import { ReceiveWindow, SendCredit } from "./flow.ts";
import { type SendSlice, type StreamHost, type StreamInit, StreamState } from "./stream_types.ts";

const EMPTY = new Uint8Array(0);

/** A bidirectional stream inside a session. */
export class MuxStream {
  /** Stream id: odd when the Linux side opened it, even when the Windows side did. */
  readonly id: number;
  /** What the opener asked to connect to, e.g. `pipe://./pipe/openssh-ssh-agent`. */
  readonly target: string;
  /** Bytes from the peer. `cancel()` resets the stream so the peer's writes fail fast. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. `close()` sends FIN (half-close); `abort()` resets. */
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves when both directions are finished (FIN both ways, or a reset). Never rejects. */
  readonly closed: Promise<void>;

  readonly #host: StreamHost;
  #state: StreamState;
  readonly #recv: ReceiveWindow;
  readonly #send: SendCredit;
  #error: Error | null = null;
  #resolveClosed!: () => void;
  #opened: PromiseWithResolvers<void> | null = null;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  // Receive side.
  #queue: Uint8Array[] = [];
  #queued = 0;
  #waiting = false; // a read is pending and the queue is empty
  #delivered = 0; // bytes handed to the reader, credited at its next read
  #readClosed = false;

  // Send side.
  #chunk: Uint8Array | null = null;
  #chunkOffset = 0;
  #chunkDone: (() => void) | null = null;
  #chunkFailed: ((e: unknown) => void) | null = null;
  #finPending = false;
  #finDone: (() => void) | null = null;
  #finFailed: ((e: unknown) => void) | null = null;

  /** @internal Created by the session only. */
  constructor(host: StreamHost, init: StreamInit) {
    this.#host = host;
    this.id = init.id;
    this.target = init.target;
    this.#state = init.state;
    this.#send = new SendCredit(init.sendWindow, MAX_WINDOW, `stream ${init.id} send`);
    this.#recv = new ReceiveWindow(init.budget, init.initialWindow, init.maxWindow);
    if (init.state === StreamState.SYN_SENT) {
      this.#opened = Promise.withResolvers<void>();
      this.#opened.promise.catch(() => {});
    }
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#readController = c;
      },
      pull: () => this.#pull(),
      cancel: () => this.#cancelRead(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      start: (c) => {
        this.#writeController = c;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWrite(),
      abort: (reason) => this.reset(ResetCode.CANCEL, `writer aborted: ${describe(reason)}`),
    }, { highWaterMark: 1 });
  }

  /** Where the stream is in its life (see the module doc). */
  get state(): StreamState {
    return this.#state;
  }

  /** Bytes received and not yet read by the application. */
  get buffered(): number {
    return this.#queued;
  }

  /** The error that ended this stream, if it was reset or its session died. */
  get error(): Error | null {
    return this.#error;
  }

  /**
   * Abort both directions and tell the peer with RST carrying `code` and `reason`.
   * Pending reads and writes on both sides fail with {@linkcode StreamResetError}.
   */
  reset(code: number = ResetCode.CANCEL, reason = "reset"): void {
    if (this.#isFinished()) return;
    this.#host.sendReset(this, code, reason);
    if (this.#isFinished()) return; // queueing the RST ended the session (the peer does not read)
    this.#terminate(new StreamResetError(code, reason, false));
  }

  // ---- the session's side: frames in --------------------------------------

  /** Resolves once the peer accepted (ACK); rejects if the stream ends first. @internal */
  get _opened(): Promise<void> {
    return this.#opened?.promise ?? Promise.resolve();
  }

  /** Our application accepted the peer's SYN. @internal */
  _accept(): void {
    if (this.#state === StreamState.SYN_RECEIVED) this.#state = StreamState.ESTABLISHED;
  }

  /** DATA arrived (already counted against the session window). @throws {ProtocolError} @internal */
  _onData(payload: Uint8Array, fin: boolean): void {
    switch (this.#state) {
      case StreamState.SYN_SENT:
      case StreamState.SYN_RECEIVED:
        throw new ProtocolError(`DATA on stream ${this.id} before it was accepted`);
      case StreamState.REMOTE_CLOSED:
      case StreamState.CLOSED:
      case StreamState.RESET:
        throw new ProtocolError(`DATA on stream ${this.id} after its FIN`);
    }
    const n = payload.byteLength;
    this.#recv.onData(n, this.id);
    if (n > 0) this.#receive(payload);
    if (!fin) return;
    this.#state = this.#state === StreamState.LOCAL_CLOSED
      ? StreamState.CLOSED
      : StreamState.REMOTE_CLOSED;
    if (this.#waiting) {
      this.#waiting = false;
      this.#closeReadable();
    }
    if (this.#state === StreamState.CLOSED) this.#finish();
  }

  /** WINDOW_UPDATE arrived, with ACK or not. @throws {ProtocolError} @internal */
  _onWindowUpdate(n: number, ack: boolean): void {
    if (ack) {
      if (this.#state !== StreamState.SYN_SENT) {
        throw new ProtocolError(`unexpected ACK on stream ${this.id}`);
      }
      this.#state = StreamState.ESTABLISHED;
      this.#opened!.resolve();
    }
    if (n === 0) return;
    this.#send.grant(n); // after our FIN too: harmless, the credit goes unused
    if (this._canSend()) this.#host.ready(this);
  }

  /** The peer reset the stream. @internal */
  _onReset(code: number, reason: string): void {
    if (this.#isFinished()) return;
    this.#terminate(new StreamResetError(code, reason, true));
  }

  /** The session ended. Data the peer completed with FIN stays readable. @internal */
  _sessionEnded(cause: Error): void {
    if (this.#isFinished()) return;
    const error = cause instanceof SessionClosedError
      ? cause
      : new SessionClosedError(cause.message, { cause });
    if (this.#state === StreamState.REMOTE_CLOSED) {
      this.#error = error;
      this.#failWrite(error);
      this.#state = StreamState.CLOSED;
      this.#finish();
    } else {
      this.#terminate(error);
    }
  }

  // ---- the writer's side: frames out --------------------------------------

  /** The WINDOW_UPDATE increment owed to the peer now, or 0. @internal */
  _takeWindowUpdate(): number {
    if (this.#state !== StreamState.ESTABLISHED && this.#state !== StreamState.LOCAL_CLOSED) {
      return 0; // the peer sends no more
    }
    return this.#recv.takeUpdate(this.#queued === 0);
  }

  /** Whether the writer can take a frame now. @internal */
  _canSend(): boolean {
    if (this.#chunk) return this.#send.available > 0;
    return this.#finPending;
  }

  /** The next DATA frame's payload, at most `max` bytes and within credit; null when none. @internal */
  _nextFrame(max: number): SendSlice | null {
    const chunk = this.#chunk;
    if (chunk) {
      const n = Math.min(max, this.#send.available, chunk.byteLength - this.#chunkOffset);
      if (n <= 0) return null;
      const bytes = chunk.subarray(this.#chunkOffset, this.#chunkOffset + n);
      this.#chunkOffset += n;
      this.#send.spend(n);
      if (this.#chunkOffset === chunk.byteLength) {
        const done = this.#chunkDone!;
        this.#chunk = null;
        this.#chunkDone = this.#chunkFailed = null;
        done();
      }
      return { bytes, fin: false };
    }
    if (!this.#finPending) return null;
    this.#finPending = false;
    this.#finDone!();
    this.#finDone = this.#finFailed = null;
    this.#state = this.#state === StreamState.REMOTE_CLOSED
      ? StreamState.CLOSED
      : StreamState.LOCAL_CLOSED;
    if (this.#state === StreamState.CLOSED) this.#finish();
    return { bytes: EMPTY, fin: true };
  }

  // ---- readable / writable sinks ------------------------------------------

  #receive(payload: Uint8Array): void {
    if (this.#waiting) {
      this.#waiting = false;
      this.#deliver(payload);
      return;
    }
    this.#queue.push(payload);
    this.#queued += payload.byteLength;
  }

  #pull(): void {
    // The reader is back for more, so it is done with the chunk it had.
    this.#creditDelivered();
    const chunk = this.#queue.shift();
    if (chunk) {
      this.#queued -= chunk.byteLength;
      this.#deliver(chunk);
    } else if (this.#peerFinished()) {
      this.#closeReadable();
    } else {
      this.#waiting = true;
    }
  }

  /**
   * Hand a chunk to the reader. Its credit goes back to the peer only when
   * the reader asks for the next one: a reader still writing the chunk out
   * somewhere (a splice to a slow socket) holds it inside the window.
   */
  #deliver(chunk: Uint8Array): void {
    this.#delivered = chunk.byteLength;
    this.#readController.enqueue(chunk);
  }

  #creditDelivered(): void {
    const n = this.#delivered;
    this.#delivered = 0;
    if (n === 0) return;
    this.#host.consumed(n);
    if (this.#recv.consumed(n)) this.#host.creditDue(this);
  }

  #cancelRead(): void {
    this.#readClosed = true;
    this.#discardQueue();
    if (!this.#peerFinished()) this.reset(ResetCode.CANCEL, "reader cancelled");
  }

  #write(chunk: Uint8Array): Promise<void> | void {
    if (this.#error) throw this.#error;
    if (chunk.byteLength === 0) return;
    return new Promise<void>((resolve, reject) => {
      this.#chunk = chunk;
      this.#chunkOffset = 0;
      this.#chunkDone = resolve;
      this.#chunkFailed = reject;
      if (this._canSend()) this.#host.ready(this);
    });
  }

  #closeWrite(): Promise<void> | void {
    if (this.#error) throw this.#error;
    return new Promise<void>((resolve, reject) => {
      this.#finPending = true;
      this.#finDone = resolve;
      this.#finFailed = reject;
      this.#host.ready(this);
    });
  }

  // ---- endings --------------------------------------------------------------

  /** The peer sends nothing more: it sent FIN, or the stream is over. */
  #peerFinished(): boolean {
    return this.#state === StreamState.REMOTE_CLOSED || this.#state === StreamState.CLOSED ||
      this.#state === StreamState.RESET;
  }

  #isFinished(): boolean {
    return this.#state === StreamState.CLOSED || this.#state === StreamState.RESET;
  }

  #closeReadable(): void {
    if (this.#readClosed) return;
    this.#readClosed = true;
    try {
      this.#readController.close();
    } catch { /* already closed or errored */ }
  }

  /** Drop what the application will never read; its credit goes back to the session. */
  #discardQueue(): void {
    const n = this.#delivered + this.#queued;
    this.#delivered = 0;
    this.#queue = [];
    this.#queued = 0;
    if (n > 0) this.#host.consumed(n);
  }

  #failWrite(error: Error): void {
    this.#chunkFailed?.(error);
    this.#finFailed?.(error);
    this.#chunk = null;
    this.#chunkDone = this.#chunkFailed = null;
    this.#finPending = false;
    this.#finDone = this.#finFailed = null;
    try {
      this.#writeController.error(error);
    } catch { /* already errored */ }
  }

  #terminate(error: Error): void {
    this.#state = StreamState.RESET;
    this.#error = error;
    this.#opened?.reject(error);
    this.#discardQueue();
    if (!this.#readClosed) {
      this.#readClosed = true;
      this.#waiting = false;
      try {
        this.#readController.error(error);
      } catch { /* already closed */ }
    }
    this.#failWrite(error);
    this.#finish();
  }

  #finish(): void {
    this.#recv.release();
    this.#host.finished(this);
    this.#resolveClosed();
  }
}

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? "aborted");
}
