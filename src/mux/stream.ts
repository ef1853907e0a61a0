/**
 * One multiplexed stream: a `readable`/`writable` pair with half-close, reset
 * and credit-based flow control.
 *
 * Concurrency rules: every method runs on the event loop; the session calls the
 * `_`-prefixed methods from its reader pump (which never awaits them) and its
 * writer pump. Received bytes are credited back to the peer only once the
 * application has read them and asks for more, so an unread stream (or one
 * whose reader is stuck passing a chunk on) holds at most one window.
 *
 * @module
 */
import { SessionClosedError, StreamResetError } from "../errors.ts";
import { ResetCode } from "./frame.ts";

/** What a stream needs from its session. @internal */
export interface StreamHost {
  /** The stream has something for the writer pump (data with credit, or a FIN). */
  _wantsSend(stream: MuxStream): void;
  /** Queue an RST for this stream. */
  _sendReset(stream: MuxStream, code: number, reason: string): void;
  /** The application consumed (or we discarded) `n` received bytes: return credit. */
  _consumed(stream: MuxStream, n: number): void;
  /** Both directions are finished; forget the stream. */
  _finished(stream: MuxStream): void;
}

/** A payload slice the writer pump takes from a stream. @internal */
export interface SendSlice {
  bytes: Uint8Array;
  fin: boolean;
}

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
  #resolveClosed!: () => void;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;

  // Receive side.
  #queue: Uint8Array[] = [];
  #queued = 0;
  #waiting = false; // a read is pending and the queue is empty
  #delivered = 0; // bytes handed to the reader, credited at its next read
  #remoteFin = false;
  #readClosed = false;

  /** Receive credit the peer still has on this stream. @internal */
  _recvAvail = 0;
  /** This stream's receive window: credit the peer has plus bytes not yet credited back. @internal */
  _window = 0;
  /** Bytes consumed since we last returned credit. @internal */
  _creditOwed = 0;
  /** Whether the stream sits in the writer pump's ready queue. @internal */
  _inReady = false;
  /** Whether ACK was sent or received (data may flow). @internal */
  _established = false;

  // Send side.
  /** Credit the peer has granted us on this stream. @internal */
  _sendWindow: number;
  #chunk: Uint8Array | null = null;
  #chunkOffset = 0;
  #chunkDone: (() => void) | null = null;
  #chunkFailed: ((e: unknown) => void) | null = null;
  #finPending = false;
  #finDone: (() => void) | null = null;
  #finFailed: ((e: unknown) => void) | null = null;
  #finSent = false;

  #error: Error | null = null;
  #finished = false;

  /** @internal Created by the session only. */
  constructor(host: StreamHost, id: number, target: string, sendWindow: number) {
    this.#host = host;
    this.id = id;
    this.target = target;
    this._sendWindow = sendWindow;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#readController = c;
      },
      pull: (c) => this.#pull(c),
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
    if (this.#finished) return;
    this.#host._sendReset(this, code, reason);
    this.#terminate(new StreamResetError(code, reason, false));
  }

  // ---- called by the session -------------------------------------------

  /** Payload arrived (already checked against the window). @internal */
  _receive(payload: Uint8Array): void {
    if (this.#error || this.#readClosed) {
      this.#host._consumed(this, payload.byteLength);
      return;
    }
    if (this.#waiting) {
      this.#waiting = false;
      this.#deliver(payload);
      return;
    }
    this.#queue.push(payload);
    this.#queued += payload.byteLength;
  }

  /** True once the peer has sent FIN or the stream was reset. @internal */
  get _remoteDone(): boolean {
    return this.#remoteFin || this.#error !== null;
  }

  /** The peer half-closed. @internal */
  _receiveFin(): void {
    if (this.#remoteFin || this.#error) return;
    this.#remoteFin = true;
    if (this.#waiting) {
      this.#waiting = false;
      this.#closeReadable();
    }
    this.#maybeFinished();
  }

  /** The peer reset the stream. @internal */
  _remoteReset(code: number, reason: string): void {
    if (this.#finished) return;
    this.#terminate(new StreamResetError(code, reason, true));
  }

  /** The session ended. Data already complete (peer FIN seen) stays readable. @internal */
  _sessionEnded(cause: Error): void {
    if (this.#finished) return;
    const error = cause instanceof SessionClosedError
      ? cause
      : new SessionClosedError(cause.message, { cause });
    if (this.#remoteFin) {
      this.#failWrite(error);
      this.#error = error;
      this.#finish();
    } else {
      this.#terminate(error);
    }
  }

  /** Whether the writer pump can take something now. @internal */
  _canSend(): boolean {
    if (this.#error) return false;
    if (this.#chunk) return this._sendWindow > 0;
    return this.#finPending && !this.#finSent;
  }

  /** Take up to `max` bytes (limited by this stream's credit) for one DATA frame. @internal */
  _takeSend(max: number): SendSlice | null {
    if (this.#error) return null;
    const chunk = this.#chunk;
    if (chunk) {
      const n = Math.min(max, this._sendWindow, chunk.byteLength - this.#chunkOffset);
      if (n <= 0) return null;
      const bytes = chunk.subarray(this.#chunkOffset, this.#chunkOffset + n);
      this.#chunkOffset += n;
      this._sendWindow -= n;
      if (this.#chunkOffset === chunk.byteLength) {
        const done = this.#chunkDone!;
        this.#chunk = null;
        this.#chunkDone = this.#chunkFailed = null;
        done();
      }
      return { bytes, fin: false };
    }
    if (this.#finPending && !this.#finSent) {
      this.#finSent = true;
      this.#finDone?.();
      this.#finDone = this.#finFailed = null;
      this.#maybeFinished();
      return { bytes: EMPTY, fin: true };
    }
    return null;
  }

  // ---- readable / writable sinks ----------------------------------------

  #pull(_c: ReadableStreamDefaultController<Uint8Array>): void {
    // The reader is back for more, so it is done with the chunk it had.
    this.#creditDelivered();
    const chunk = this.#queue.shift();
    if (chunk) {
      this.#queued -= chunk.byteLength;
      this.#deliver(chunk);
    } else if (this.#remoteFin) {
      this.#closeReadable();
    } else {
      this.#waiting = true;
    }
  }

  /**
   * Hand a chunk to the reader. Its credit goes back to the peer only when
   * the reader asks for the next one: a reader still writing the chunk out
   * somewhere (a splice to a slow socket) holds it inside the window, so a
   * stalled stream holds at most one window in all.
   */
  #deliver(chunk: Uint8Array): void {
    this.#delivered = chunk.byteLength;
    this.#readController.enqueue(chunk);
  }

  #creditDelivered(): void {
    const n = this.#delivered;
    this.#delivered = 0;
    if (n > 0) this.#host._consumed(this, n);
  }

  #cancelRead(): void {
    this.#readClosed = true;
    this.#discardQueue();
    if (!this._remoteDone) this.reset(ResetCode.CANCEL, "reader cancelled");
  }

  #write(chunk: Uint8Array): Promise<void> | void {
    if (this.#error) throw this.#error;
    if (chunk.byteLength === 0) return;
    return new Promise<void>((resolve, reject) => {
      this.#chunk = chunk;
      this.#chunkOffset = 0;
      this.#chunkDone = resolve;
      this.#chunkFailed = reject;
      this.#host._wantsSend(this);
    });
  }

  #closeWrite(): Promise<void> | void {
    if (this.#error) throw this.#error;
    return new Promise<void>((resolve, reject) => {
      this.#finPending = true;
      this.#finDone = resolve;
      this.#finFailed = reject;
      this.#host._wantsSend(this);
    });
  }

  // ---- endings ----------------------------------------------------------

  #closeReadable(): void {
    if (this.#readClosed) return;
    this.#readClosed = true;
    try {
      this.#readController.close();
    } catch { /* already closed or errored */ }
  }

  #discardQueue(): void {
    this.#creditDelivered();
    const n = this.#queued;
    this.#queue = [];
    this.#queued = 0;
    if (n > 0) this.#host._consumed(this, n);
  }

  #failWrite(error: Error): void {
    this.#chunkFailed?.(error);
    this.#finFailed?.(error);
    this.#chunk = null;
    this.#chunkDone = this.#chunkFailed = null;
    this.#finDone = this.#finFailed = null;
    try {
      this.#writeController.error(error);
    } catch { /* already errored */ }
  }

  #terminate(error: Error): void {
    this.#error = error;
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

  #maybeFinished(): void {
    if (this.#remoteFin && this.#finSent) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#host._finished(this);
    this.#resolveClosed();
  }
}

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? "aborted");
}
