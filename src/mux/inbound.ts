/**
 * The session's one reader: it decodes the peer's frames and dispatches each
 * through a handler table, synchronously. It never awaits a stream's consumer
 * and never waits for the writer, so one stalled stream or a full pipe cannot
 * freeze the others. Answers it owes the peer (ACK/RST for SYNs, pongs,
 * credit) are queued on the outbound side, which alone writes.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import { decodeReason, encodeRst, Flag, type Frame, ResetCode } from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import type { ReceiveBudget, SendCredit } from "./flow.ts";
import { type IncomingHost, IncomingStream } from "./incoming_stream.ts";
import type { Outbound } from "./outbound.ts";
import type { Pings } from "./pings.ts";
import type { MuxStream } from "./stream.ts";
import type { StreamTable } from "./stream_table.ts";
import { StreamState } from "./stream_types.ts";

/** What the reader needs from its session. */
export interface InboundContext {
  readonly streams: StreamTable;
  readonly budget: ReceiveBudget;
  readonly sendCredit: SendCredit;
  readonly out: Outbound;
  readonly pings: Pings;
  readonly incomingHost: IncomingHost;
  readonly maxStreams: number;
  readonly maxFramePayload: number;
  /** The application's handler for the peer's streams; without one every SYN is refused. */
  readonly onStream?: (incoming: IncomingStream) => void;
  /** Credit `n` bytes back at once (data for a stream that has already ended). */
  consumed(n: number): void;
  /** Create and register a stream. */
  newStream(id: number, target: string, state: typeof StreamState.SYN_RECEIVED): MuxStream;
  /** The peer sent GO_AWAY: end the session. */
  peerWentAway(code: number, reason: string): void;
  /** Whether the session has ended; no frame is dispatched after that. */
  isClosed(): boolean;
}

/** The decoder and frame handlers of one session. */
export class Inbound {
  /** Frames decoded and DATA payload bytes received. */
  framesIn = 0;
  bytesIn = 0;
  readonly #c: InboundContext;
  readonly #decoder: FrameDecoder;
  /** Frame handlers, indexed by frame type. */
  readonly #handlers: readonly ((f: Frame) => void)[];
  readonly #utf8 = new TextDecoder("utf-8", { fatal: true });

  constructor(context: InboundContext) {
    this.#c = context;
    this.#decoder = new FrameDecoder({ maxPayload: context.maxFramePayload });
    this.#handlers = [
      (f) => this.#onData(f), // FrameType.DATA
      (f) => this.#onWindowUpdate(f), // FrameType.WINDOW_UPDATE
      (f) => this.#onPing(f), // FrameType.PING
      (f) => this.#onGoAway(f), // FrameType.GO_AWAY
    ];
  }

  /**
   * Decode `bytes` and dispatch every whole frame in them.
   * @throws {ProtocolError} on a frame the protocol forbids; the session goes away with it.
   */
  push(bytes: Uint8Array): void {
    this.#decoder.push(bytes);
    let f: Frame | null;
    while (!this.#c.isClosed() && (f = this.#decoder.next()) !== null) {
      this.framesIn++;
      this.#handlers[f.type](f);
    }
  }

  #onData(f: Frame): void {
    if (f.flags & Flag.SYN) return this.#onSyn(f);
    const c = this.#c;
    const stream = c.streams.get(f.streamId);
    if (f.flags & Flag.RST) {
      if (!stream) return c.streams.checkKnown(f.streamId);
      const { code, reason } = decodeReason(f.payload);
      return stream._onReset(code, reason);
    }
    const n = f.payload.byteLength;
    c.budget.onData(n);
    this.bytesIn += n;
    if (!stream) {
      c.streams.checkKnown(f.streamId);
      c.consumed(n); // late data for a stream that has ended: credit it back at once
      return;
    }
    stream._onData(f.payload, (f.flags & Flag.FIN) !== 0);
  }

  #onSyn(f: Frame): void {
    const c = this.#c;
    const id = f.streamId;
    c.streams.acceptPeerId(id);
    let target: string;
    try {
      target = this.#utf8.decode(f.payload);
    } catch {
      throw new ProtocolError(`SYN on stream ${id} carries a target that is not UTF-8`);
    }
    const handler = c.onStream;
    if (!handler || c.streams.size >= c.maxStreams) {
      const reason = handler ? "too many open streams" : "this side accepts no streams";
      c.out.queueAnswer(encodeRst(id, ResetCode.REFUSED, reason));
      return;
    }
    const stream = c.newStream(id, target, StreamState.SYN_RECEIVED);
    try {
      handler(new IncomingStream(c.incomingHost, stream));
    } catch (e) {
      stream.reset(
        ResetCode.INTERNAL,
        `stream handler failed: ${e instanceof Error ? e.message : e}`,
      );
    }
  }

  #onWindowUpdate(f: Frame): void {
    const c = this.#c;
    if (f.streamId === 0) {
      c.sendCredit.grant(f.length);
      c.out.wake();
      return;
    }
    const stream = c.streams.get(f.streamId);
    if (!stream) return c.streams.checkKnown(f.streamId);
    stream._onWindowUpdate(f.length, (f.flags & Flag.ACK) !== 0);
  }

  #onPing(f: Frame): void {
    if (f.flags & Flag.SYN) {
      this.#c.out.queuePong(f.length); // dropped in a flood; the pinger's ping() waits for session end
      return;
    }
    this.#c.pings.pong(f.length);
  }

  #onGoAway(f: Frame): void {
    const { code, reason } = decodeReason(f.payload);
    this.#c.peerWentAway(code, reason);
  }
}
