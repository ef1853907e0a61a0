/**
 * A multiplexed session over one pair of byte streams.
 *
 * Two pumps run per session. The reader pump decodes frames and dispatches
 * them synchronously: it never awaits a stream's consumer and never waits for
 * the writer, so one stalled stream or a full pipe cannot freeze the others.
 * The writer pump is the only code that writes: control frames first, then
 * one DATA frame per ready stream in round-robin, batched into one write.
 *
 * Layout: the writer lives in `outbound.ts`, pings in `pings.ts`, the plain
 * types in `session_types.ts`. What stays here (about 500 lines, over the
 * usual 400) is the stream table and the inbound frame handlers that mutate
 * it; splitting those apart would need a wide internal interface between two
 * files, which reads worse than one state machine in one place.
 *
 * @module
 */
import { ProtocolError, SessionClosedError, StreamResetError } from "../errors.ts";
import {
  decodeReason,
  encodeFrame,
  encodeReason,
  Flag,
  FrameType,
  GoAwayCode,
  MAX_WINDOW,
  ResetCode,
} from "./frame.ts";
import type { Frame } from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { handshake } from "./handshake.ts";
import { IncomingStream } from "./incoming_stream.ts";
import {
  type ResolvedSessionOptions,
  resolveSessionOptions,
  type SessionOptions,
  writesComplete,
} from "./options.ts";
import { type Preface, PROTOCOL_VERSION } from "./preface.ts";
import { MuxStream, type StreamHost } from "./stream.ts";
import { Outbound, type SessionFlow } from "./outbound.ts";
import { Pings } from "./pings.ts";
import type { OpenOptions, SessionCloseInfo, SessionStats } from "./session_types.ts";

export type { OpenOptions, SessionCloseInfo, SessionStats };

interface PendingOpen {
  stream: MuxStream;
  resolve: (s: MuxStream) => void;
  reject: (e: Error) => void;
}

/** One end of a multiplexed session. Create with {@linkcode Session.connect}. */
export class Session implements StreamHost {
  /** The peer's preface: its version, role, capabilities and windows. */
  readonly peer: Preface;
  /** Resolves (never rejects) when the session has ended and its output is closed. */
  readonly closed: Promise<SessionCloseInfo>;

  readonly #o: ResolvedSessionOptions;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder: FrameDecoder;
  readonly #streams = new Map<number, MuxStream>();
  readonly #opening = new Map<number, PendingOpen>();
  readonly #pings = new Pings();
  #resolveClosed!: (info: SessionCloseInfo) => void;
  #closeInfo: SessionCloseInfo | null = null;

  /** Σ of the live streams' receive windows: what they may hold at most (see #windowUpdate). */
  #committed = 0;
  #nextId: number;
  #lastPeerId = 0;
  #keepalive: ReturnType<typeof setInterval> | undefined;

  // Flow control (see docs/PROTOCOL.md, "Flow control"), shared with the writer.
  readonly #flow: SessionFlow;
  readonly #out: Outbound;
  #stats: Omit<SessionStats, "rttMs"> = {
    openStreams: 0,
    totalStreams: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    bufferedIn: 0,
  };

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
    const local: Preface = {
      protocol: PROTOCOL_VERSION,
      role: o.role,
      capabilities: o.capabilities,
      streamWindow: o.initialStreamWindow,
      sessionWindow: o.sessionWindow,
      version: o.version,
    };
    try {
      const { peer, leftover } = await handshake(
        reader,
        writer,
        local,
        o.names,
        o.mismatchHint,
        o.handshakeTimeoutMs,
        signal,
      );
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
    this.#writer = writer;
    this.peer = peer;
    this.#nextId = o.role === "client" ? 1 : 2;
    this.#flow = { sendWindow: peer.sessionWindow, recvAvail: o.sessionWindow, recvOwed: 0 };
    this.#out = new Outbound(writer, o, this.#flow, (s) => this.#windowUpdate(s));
    this.#decoder = new FrameDecoder({ maxPayload: o.maxFramePayload });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#decoder.push(leftover);
    if (o.keepaliveMs > 0) {
      this.#keepalive = setInterval(() => this.ping().catch(() => {}), o.keepaliveMs);
    }
    this.#readLoop();
    this.#writeLoop();
  }

  /** Whether the session has ended (or is ending). */
  get isClosed(): boolean {
    return this.#closeInfo !== null;
  }

  /** A snapshot of the counters. */
  stats(): SessionStats {
    return {
      ...this.#stats,
      bytesOut: this.#out.bytesOut,
      rttMs: this.#pings.rttMs,
      framesOut: this.#out.framesOut,
      openStreams: this.#streams.size,
      bufferedIn: this.#o.sessionWindow - this.#flow.recvAvail - this.#flow.recvOwed,
    };
  }

  /** Sizes of every internal table and queue; all zero on an idle session. For leak tests. @internal */
  _internals(): Record<string, number> {
    return {
      streams: this.#streams.size,
      opening: this.#opening.size,
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
    const bytes = new TextEncoder().encode(target);
    if (bytes.byteLength === 0 || bytes.byteLength > 4096) {
      return Promise.reject(new RangeError("target must be 1..4096 bytes of UTF-8"));
    }
    if (this.#streams.size >= this.#o.maxStreams) {
      return Promise.reject(
        new StreamResetError(ResetCode.REFUSED, "too many open streams", false),
      );
    }
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = this.#newStream(id, target);
    return new Promise<MuxStream>((resolve, reject) => {
      this.#opening.set(id, { stream, resolve, reject });
      this.#out.queueControl(encodeFrame(FrameType.DATA, Flag.SYN, id, bytes.byteLength, bytes));
      const signal = options.signal;
      if (signal) {
        const onAbort = () => {
          if (!this.#opening.has(id)) return;
          this.#opening.delete(id);
          stream.reset(ResetCode.CANCEL, "open aborted");
          reject(signal.reason ?? new StreamResetError(ResetCode.CANCEL, "open aborted", false));
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
        stream.closed.then(() => signal.removeEventListener("abort", onAbort));
      }
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

  // ---- reader pump ------------------------------------------------------

  async #readLoop(): Promise<void> {
    try {
      this.#drainFrames();
      while (!this.#closeInfo) {
        const { value, done } = await this.#reader.read();
        if (done) {
          const reason = `${this.#o.names.peer} closed the pipe`;
          this.#end({ reason, error: new SessionClosedError(reason), remote: true });
          return;
        }
        this.#decoder.push(value);
        this.#drainFrames();
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

  #drainFrames(): void {
    let f: Frame | null;
    while (!this.#closeInfo && (f = this.#decoder.next()) !== null) {
      this.#stats.framesIn++;
      switch (f.type) {
        case FrameType.DATA:
          this.#onData(f);
          break;
        case FrameType.WINDOW_UPDATE:
          this.#onWindowUpdate(f);
          break;
        case FrameType.PING:
          this.#onPing(f);
          break;
        case FrameType.GO_AWAY: {
          const { code, reason } = decodeReason(f.payload);
          const why = `${this.#o.names.peer} ended the session (GO_AWAY code ${code}): ${reason}`;
          const error = code === GoAwayCode.NORMAL ? null : new SessionClosedError(why);
          this.#end({ reason: why, error, remote: true });
          break;
        }
      }
    }
  }

  #onData(f: Frame): void {
    if (f.flags & Flag.SYN) return this.#onSyn(f);
    const stream = this.#streams.get(f.streamId);
    if (f.flags & Flag.RST) {
      if (!stream) return this.#checkKnown(f.streamId);
      const { code, reason } = decodeReason(f.payload);
      stream._remoteReset(code, reason); // a pending open() is rejected by _finished()
      return;
    }
    const n = f.payload.byteLength;
    if (n > this.#flow.recvAvail) {
      throw new ProtocolError(
        `session window overflow: ${n} bytes sent with only ${this.#flow.recvAvail} of credit`,
      );
    }
    this.#flow.recvAvail -= n;
    this.#stats.bytesIn += n;
    if (!stream) {
      this.#checkKnown(f.streamId);
      this.#returnSessionCredit(n); // late data for a stream we already dropped
      return;
    }
    if (!stream._established) {
      throw new ProtocolError(`DATA on stream ${f.streamId} before it was accepted`);
    }
    if (stream._remoteDone) {
      if (stream.error) return this.#returnSessionCredit(n); // we reset it; data was in flight
      throw new ProtocolError(`DATA on stream ${f.streamId} after its FIN`);
    }
    if (n > stream._recvAvail) {
      throw new ProtocolError(
        `stream window overflow on stream ${f.streamId}: ${n} bytes sent with only ${stream._recvAvail} of credit`,
      );
    }
    stream._recvAvail -= n;
    if (n > 0) stream._receive(f.payload);
    if (f.flags & Flag.FIN) stream._receiveFin();
  }

  #onSyn(f: Frame): void {
    const id = f.streamId;
    const peerParity = this.#o.role === "client" ? 0 : 1;
    if (id % 2 !== peerParity) {
      throw new ProtocolError(
        `${this.#o.names.peer} opened stream ${id} of the wrong parity (the Linux side opens odd ids, the Windows side even)`,
      );
    }
    if (id <= this.#lastPeerId) {
      throw new ProtocolError(`stream id ${id} reused (ids must increase)`);
    }
    this.#lastPeerId = id;
    let target: string;
    try {
      target = new TextDecoder("utf-8", { fatal: true }).decode(f.payload);
    } catch {
      throw new ProtocolError(`SYN on stream ${id} carries a target that is not UTF-8`);
    }
    const handler = this.#o.onStream;
    if (!handler || this.#streams.size >= this.#o.maxStreams) {
      const reason = handler ? "too many open streams" : "this side accepts no streams";
      this.#out.queueControl(encodeRst(id, ResetCode.REFUSED, reason));
      return;
    }
    const stream = this.#newStream(id, target);
    try {
      handler(new IncomingStream(this, stream));
    } catch (e) {
      stream.reset(
        ResetCode.INTERNAL,
        `stream handler failed: ${e instanceof Error ? e.message : e}`,
      );
    }
  }

  #onWindowUpdate(f: Frame): void {
    if (f.streamId === 0) {
      if (this.#flow.sendWindow + f.length > 0xffff_ffff) {
        throw new ProtocolError("session send window overflow");
      }
      this.#flow.sendWindow += f.length;
      this.#out.wake();
      return;
    }
    const stream = this.#streams.get(f.streamId);
    if (!stream) return this.#checkKnown(f.streamId);
    if (f.flags & Flag.ACK) {
      const pending = this.#opening.get(f.streamId);
      if (!pending) throw new ProtocolError(`unexpected ACK on stream ${f.streamId}`);
      this.#opening.delete(f.streamId);
      stream._established = true;
      pending.resolve(stream);
    }
    if (f.length > 0) {
      if (stream._sendWindow + f.length > MAX_WINDOW) {
        throw new ProtocolError(`window overflow on stream ${f.streamId}`);
      }
      stream._sendWindow += f.length;
      if (stream._canSend()) this._wantsSend(stream);
    }
  }

  #onPing(f: Frame): void {
    if (f.flags & Flag.SYN) {
      this.#out.queuePong(f.length); // dropped in a flood; the pinger's ping() waits for session end
      return;
    }
    this.#pings.pong(f.length);
  }

  /** A frame for an id not in the table: fine if it was used before, an error otherwise. */
  #checkKnown(id: number): void {
    const ours = (id % 2 === 1) === (this.#o.role === "client");
    const used = ours ? id < this.#nextId : id <= this.#lastPeerId;
    if (!used) throw new ProtocolError(`frame for stream ${id}, which was never opened`);
  }

  #newStream(id: number, target: string): MuxStream {
    const stream = new MuxStream(this, id, target, this.peer.streamWindow);
    stream._recvAvail = stream._window = this.#o.initialStreamWindow;
    this.#committed += stream._window;
    this.#streams.set(id, stream);
    this.#stats.totalStreams++;
    return stream;
  }

  // ---- StreamHost / IncomingHost ------------------------------------------

  /** @internal */
  _accept(stream: MuxStream): void {
    stream._established = true;
    this.#out.queueControl(encodeFrame(FrameType.WINDOW_UPDATE, Flag.ACK, stream.id, 0));
  }

  /** @internal */
  _reject(stream: MuxStream, code: number, reason: string): void {
    stream.reset(code, reason);
  }

  /** @internal */
  _wantsSend(stream: MuxStream): void {
    this.#out.wantsSend(stream);
  }

  /** @internal */
  _sendReset(stream: MuxStream, code: number, reason: string): void {
    if (this.#closeInfo || !this.#streams.has(stream.id)) return;
    this.#out.queueControl(encodeRst(stream.id, code, reason));
  }

  /** @internal */
  _consumed(stream: MuxStream, n: number): void {
    if (this.#closeInfo) return;
    this.#returnSessionCredit(n);
    if (stream._remoteDone || !this.#streams.has(stream.id)) return;
    stream._creditOwed += n;
    if (stream._creditOwed >= stream._window / 2) this.#out.creditDue(stream);
  }

  /** @internal */
  _finished(stream: MuxStream): void {
    if (this.#streams.delete(stream.id)) this.#committed -= stream._window;
    this.#out.forget(stream);
    const pending = this.#opening.get(stream.id);
    if (pending) {
      this.#opening.delete(stream.id);
      pending.reject(stream.error ?? new SessionClosedError("stream ended before it was accepted"));
    }
  }

  #returnSessionCredit(n: number): void {
    this.#flow.recvOwed += n;
    this.#out.sessionCreditOwed();
  }

  /**
   * The WINDOW_UPDATE increment for a stream owing credit: what its
   * application consumed, plus growth. A stream grows (doubling, up to
   * `streamWindow`) only while its application keeps up (nothing queued
   * unread) and only out of the budget no stream has committed yet, so streams
   * that never read keep their small initial window and cannot take the
   * budget from streams that do (docs/PROTOCOL.md, "Flow control").
   */
  #windowUpdate(s: MuxStream): number {
    const owed = s._creditOwed;
    s._creditOwed = 0;
    const free = this.#o.sessionWindow - this.#committed;
    const grow = s.buffered === 0
      ? Math.max(0, Math.min(s._window, this.#o.streamWindow - s._window, free))
      : 0;
    s._window += grow;
    this.#committed += grow;
    s._recvAvail += owed + grow;
    return owed + grow;
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
    for (const p of this.#opening.values()) p.reject(cause);
    this.#opening.clear();
    for (const s of [...this.#streams.values()]) s._sessionEnded(cause);
    this.#streams.clear();
    this.#pings.failAll(cause);
    this.#reader.cancel().catch(() => {});
    this.#out.shutdown(farewell, this.#o.closeTimeoutMs).then(() => this.#resolveClosed(info));
  }
}

function encodeRst(id: number, code: number, reason: string): Uint8Array {
  const payload = encodeReason(code, reason);
  return encodeFrame(FrameType.DATA, Flag.RST, id, payload.byteLength, payload);
}
