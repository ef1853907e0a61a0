/**
 * A multiplexed session over one pair of byte streams.
 *
 * Two pumps run per session. The reader pump feeds `inbound.ts`, which
 * decodes frames and dispatches each synchronously: it never awaits a
 * stream's consumer and never waits for the writer, so one stalled stream or
 * a full pipe cannot freeze the others. The writer pump (`outbound.ts`) is
 * the only code that writes. Streams (`stream.ts`) own their state and
 * windows; the credit rules live in `flow.ts`. What stays here is the
 * session's life: connect, open, ping, close, and the hosts that let streams
 * reach the pumps.
 *
 * @module
 */
import { ProtocolError, SessionClosedError, StreamResetError } from "../errors.ts";
import {
  encodeFrame,
  encodeReason,
  encodeRst,
  Flag,
  FrameType,
  GoAwayCode,
  MAX_TARGET_BYTES,
  ResetCode,
} from "./frame.ts";
import { ReceiveBudget, SendCredit } from "./flow.ts";
import { handshake } from "./handshake.ts";
import { Inbound } from "./inbound.ts";
import {
  localPreface,
  type ResolvedSessionOptions,
  resolveSessionOptions,
  type SessionOptions,
  writesComplete,
} from "./options.ts";
import type { Preface } from "./preface.ts";
import { MuxStream } from "./stream.ts";
import { type StreamHost, StreamState } from "./stream_types.ts";
import { Outbound } from "./outbound.ts";
import { Pings } from "./pings.ts";
import { StreamTable } from "./stream_table.ts";
import type { OpenOptions, SessionCloseInfo, SessionStats } from "./session_types.ts";

export type { OpenOptions, SessionCloseInfo, SessionStats };

const encoder = new TextEncoder();

/** One end of a multiplexed session. Create with {@linkcode Session.connect}. */
export class Session {
  /** The peer's preface: its version, role, capabilities, windows and frame size. */
  readonly peer: Preface;
  /** Resolves (never rejects) when the session has ended and its output is closed. */
  readonly closed: Promise<SessionCloseInfo>;

  readonly #o: ResolvedSessionOptions;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #in: Inbound;
  readonly #streams: StreamTable;
  readonly #pings = new Pings();
  readonly #sendCredit: SendCredit;
  readonly #budget: ReceiveBudget;
  readonly #out: Outbound;
  /** What streams may ask of the session; never handed to the application. */
  readonly #host: StreamHost;
  #resolveClosed!: (info: SessionCloseInfo) => void;
  #closeInfo: SessionCloseInfo | null = null;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #totalStreams = 0;

  /**
   * Exchange prefaces over `readable`/`writable` and start the session.
   * `options.signal` abandons the handshake: the promise rejects with the
   * signal's reason, and both streams are let go of (the writer is aborted,
   * which closes a child's stdin), so a peer that never answers cannot hold
   * up a shutdown.
   * @throws {HandshakeError} on stray bytes, a version mismatch, EOF or timeout.
   */
  static async connect(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
    options: SessionOptions & { signal?: AbortSignal },
  ): Promise<Session> {
    const { signal, ...sessionOptions } = options;
    signal?.throwIfAborted();
    const o = resolveSessionOptions(sessionOptions);
    o.reuseWriteBuffer ??= writesComplete(writable);
    const reader = readable.getReader();
    const writer = writable.getWriter();
    try {
      const { peer, leftover } = await handshake(reader, writer, localPreface(o), o, signal);
      return new Session(o, reader, writer, peer, leftover);
    } catch (e) {
      reader.cancel().catch(() => {});
      writer.abort(e).catch(() => {});
      throw e;
    }
  }

  private constructor(
    o: ResolvedSessionOptions,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    writer: WritableStreamDefaultWriter<Uint8Array>,
    peer: Preface,
    leftover: Uint8Array,
  ) {
    this.#o = o;
    this.#reader = reader;
    this.peer = peer;
    this.#streams = new StreamTable(o.role, o.names.peer);
    this.#sendCredit = new SendCredit(peer.sessionWindow, 0xffff_ffff, "session send");
    this.#budget = new ReceiveBudget(o.sessionWindow, o.initialStreamWindow / 2);
    const sendFramePayload = Math.min(o.maxFramePayload, peer.maxFramePayload);
    this.#out = new Outbound(
      writer,
      { maxWriteBatch: o.maxWriteBatch, sendFramePayload, reuseWriteBuffer: o.reuseWriteBuffer },
      this.#sendCredit,
      this.#budget,
      (answers) => {
        const reason =
          `${o.names.peer} does not read its answers: ${answers} ACK/RST frames waiting`;
        const error = new SessionClosedError(reason);
        this.#end({ reason, error, remote: false }, { code: GoAwayCode.OVERLOADED, reason });
      },
    );
    this.#host = {
      ready: (s) => this.#out.wantsSend(s),
      creditDue: (s) => this.#out.creditDue(s),
      sendReset: (s, code, reason) => {
        if (this.#closeInfo || !this.#streams.has(s)) return;
        const rst = encodeRst(s.id, code, reason);
        // Refusing the peer's SYN answers it; resetting an accepted stream is our own doing.
        if (s.state === StreamState.SYN_RECEIVED) this.#out.queueAnswer(rst);
        else this.#out.queueControl(rst);
      },
      consumed: (n) => {
        if (!this.#closeInfo && this.#budget.consumed(n)) this.#out.wake();
      },
      finished: (s) => {
        this.#streams.delete(s);
        this.#out.forget(s);
      },
    };
    this.#in = new Inbound({
      streams: this.#streams,
      budget: this.#budget,
      sendCredit: this.#sendCredit,
      out: this.#out,
      pings: this.#pings,
      incomingHost: {
        accept: (s) => {
          s._accept();
          this.#out.queueAnswer(encodeFrame(FrameType.WINDOW_UPDATE, Flag.ACK, s.id, 0));
        },
        reject: (s, code, reason) => s.reset(code, reason),
      },
      maxStreams: o.maxStreams,
      maxFramePayload: o.maxFramePayload,
      onStream: o.onStream,
      consumed: (n) => this.#host.consumed(n),
      newStream: (id, target, state) => this.#newStream(id, target, state),
      peerWentAway: (code, reason) => {
        const why = `${o.names.peer} ended the session (GO_AWAY code ${code}): ${reason}`;
        const error = code === GoAwayCode.NORMAL ? null : new SessionClosedError(why);
        this.#end({ reason: why, error, remote: true });
      },
      isClosed: () => this.#closeInfo !== null,
    });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    if (o.keepaliveMs > 0) {
      this.#keepalive = setInterval(() => this.ping().catch(() => {}), o.keepaliveMs);
    }
    this.#readLoop(leftover);
    this.#writeLoop();
  }

  /** Whether the session has ended (or is ending). */
  get isClosed(): boolean {
    return this.#closeInfo !== null;
  }

  /** A snapshot of the counters. */
  stats(): SessionStats {
    return {
      totalStreams: this.#totalStreams,
      bytesIn: this.#in.bytesIn,
      framesIn: this.#in.framesIn,
      openStreams: this.#streams.size,
      bytesOut: this.#out.bytesOut,
      framesOut: this.#out.framesOut,
      bufferedIn: this.#budget.unread,
      rttMs: this.#pings.rttMs,
    };
  }

  /** Sizes of every internal table and queue; all zero on an idle session. For leak tests. @internal */
  _internals(): Record<string, number> {
    let opening = 0;
    for (const s of this.#streams.values()) if (s.state === StreamState.SYN_SENT) opening++;
    return {
      streams: this.#streams.size,
      opening,
      pings: this.#pings.size,
      ...this.#out.internals(),
      keepaliveTimers: this.#keepalive === undefined ? 0 : 1,
    };
  }

  /**
   * Open a stream to `target` on the far side. Resolves once the peer has
   * dialled it and answered ACK.
   * @throws {StreamResetError} when the peer answers RST (the reason says why, e.g. "pipe not found").
   * @throws {SessionClosedError} when the session ends first.
   */
  open(target: string, options: OpenOptions = {}): Promise<MuxStream> {
    if (this.#closeInfo) {
      return Promise.reject(new SessionClosedError(`session closed: ${this.#closeInfo.reason}`));
    }
    const bytes = encoder.encode(target);
    if (bytes.byteLength === 0 || bytes.byteLength > MAX_TARGET_BYTES) {
      return Promise.reject(
        new RangeError(`target must be 1..${MAX_TARGET_BYTES} bytes of UTF-8`),
      );
    }
    if (this.#streams.size >= this.#o.maxStreams) {
      return Promise.reject(
        new StreamResetError(ResetCode.REFUSED, "too many open streams", false),
      );
    }
    const id = this.#streams.takeLocalId();
    const stream = this.#newStream(id, target, StreamState.SYN_SENT);
    this.#out.queueControl(encodeFrame(FrameType.DATA, Flag.SYN, id, bytes.byteLength, bytes));
    return new Promise<MuxStream>((resolve, reject) => {
      stream._opened.then(() => resolve(stream), reject);
      const signal = options.signal;
      if (!signal) return;
      const onAbort = () => {
        if (stream.state !== StreamState.SYN_SENT) return;
        reject(signal.reason ?? new StreamResetError(ResetCode.CANCEL, "open aborted", false));
        stream.reset(ResetCode.CANCEL, "open aborted");
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      stream.closed.then(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Send a PING and resolve with the round-trip time in ms. */
  ping(): Promise<number> {
    if (this.#closeInfo) {
      return Promise.reject(new SessionClosedError(`session closed: ${this.#closeInfo.reason}`));
    }
    return this.#pings.start((value) =>
      this.#out.queueControl(encodeFrame(FrameType.PING, Flag.SYN, 0, value))
    );
  }

  /** End the session: GO_AWAY to the peer, reset every open stream, close the output. */
  close(reason = "closed"): Promise<SessionCloseInfo> {
    this.#end({ reason, error: null, remote: false }, { code: GoAwayCode.NORMAL, reason });
    return this.closed;
  }

  // ---- the pumps -------------------------------------------------------------

  /** Dispatch `leftover` (read along with the peer's preface), then every chunk the peer sends. */
  async #readLoop(leftover: Uint8Array): Promise<void> {
    try {
      this.#in.push(leftover);
      while (!this.#closeInfo) {
        const { value, done } = await this.#reader.read();
        if (done) {
          const reason = `${this.#o.names.peer} closed the pipe`;
          this.#end({ reason, error: new SessionClosedError(reason), remote: true });
          return;
        }
        this.#in.push(value);
      }
    } catch (e) {
      if (e instanceof ProtocolError) {
        this.#end({ reason: e.message, error: e, remote: false }, {
          code: GoAwayCode.PROTOCOL_ERROR,
          reason: e.message,
        });
      } else if (!this.#closeInfo) {
        const error = e instanceof Error ? e : new Error(String(e));
        this.#end({
          reason: `reading from ${this.#o.names.peer} failed: ${error.message}`,
          error,
          remote: true,
        });
      }
    }
  }

  #newStream(
    id: number,
    target: string,
    state: typeof StreamState.SYN_SENT | typeof StreamState.SYN_RECEIVED,
  ): MuxStream {
    const stream = new MuxStream(this.#host, {
      id,
      target,
      state,
      sendWindow: this.peer.streamWindow,
      budget: this.#budget,
      initialWindow: this.#o.initialStreamWindow,
      maxWindow: this.#o.streamWindow,
    });
    this.#streams.add(stream);
    this.#totalStreams++;
    return stream;
  }

  async #writeLoop(): Promise<void> {
    const error = await this.#out.pump();
    if (error) {
      this.#end({
        reason: `writing to ${this.#o.names.peer} failed: ${error.message}`,
        error,
        remote: true,
      });
    }
  }

  // ---- ending -----------------------------------------------------------

  #end(info: SessionCloseInfo, goAway?: { code: number; reason: string }): void {
    if (this.#closeInfo) return;
    this.#closeInfo = info;
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    // Opens and pings fail as streams do: with a SessionClosedError whose cause is the error.
    const cause = info.error instanceof SessionClosedError
      ? info.error
      : info.error
      ? new SessionClosedError(info.error.message, { cause: info.error })
      : new SessionClosedError(`session closed: ${info.reason}`);
    const payload = goAway ? encodeReason(goAway.code, goAway.reason) : null;
    const farewell = payload
      ? encodeFrame(FrameType.GO_AWAY, 0, 0, payload.byteLength, payload)
      : null;
    for (const s of [...this.#streams.values()]) s._sessionEnded(cause);
    this.#streams.clear();
    this.#pings.failAll(cause);
    this.#reader.cancel().catch(() => {});
    this.#out.shutdown(farewell, this.#o.closeTimeoutMs).then(() => this.#resolveClosed(info));
  }
}
