/**
 * The session's one writer: it owns everything waiting to go out and the
 * pump that writes it. Each turn builds one batch: control frames first
 * (SYN, ACK, RST, PING, GO_AWAY), then the window updates it asks the budget
 * and the streams for, then one DATA frame per ready stream in round-robin
 * until the batch is full. A FIN never overtakes its stream's data because a
 * stream hands out its FIN only after its last byte.
 *
 * Concurrency rules: `queue*`, `wantsSend`, `creditDue` and `wake` may be
 * called at any time from the reader pump or the application; they only
 * enqueue and wake. Only the pump awaits the writer.
 *
 * @module
 */
import { encodeFrame, Flag, FrameType, HEADER_SIZE, writeHeader } from "./frame.ts";
import type { ReceiveBudget, SendCredit } from "./flow.ts";
import type { MuxStream } from "./stream.ts";

/** What the pump needs to know. */
export interface OutboundOptions {
  maxWriteBatch: number;
  /** Largest DATA payload to send: the smaller of ours and the peer's. */
  sendFramePayload: number;
  /** Build batches in one reused buffer (the writer is done with a chunk when its write resolves). */
  reuseWriteBuffer?: boolean;
}

/** Pongs beyond this many unanswered are dropped (a flooding peer). */
const MAX_QUEUED_PONGS = 64;
/**
 * Answers to the peer (ACK and RST for its SYNs) that may wait for one write
 * to finish. A peer that keeps opening streams without reading our output
 * would grow them without bound; past this the session goes away.
 */
export const MAX_QUEUED_ANSWERS = 4096;

/** The outbound queues and the writer pump of one session. */
export class Outbound {
  /** Frames written and DATA payload bytes sent. */
  framesOut = 0;
  bytesOut = 0;

  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #o: OutboundOptions;
  readonly #sendCredit: SendCredit;
  readonly #budget: ReceiveBudget;
  readonly #onOverload: (answers: number) => void;
  #control: Uint8Array[] = [];
  #queuedPongs = 0;
  #queuedAnswers = 0;
  #ready: MuxStream[] = [];
  #inReady = new Set<MuxStream>();
  #creditDue = new Set<MuxStream>();
  /** Scratch for #collect: stream id, flags, payload, per DATA frame. */
  #dataOut: (number | Uint8Array)[] = [];
  #wakeup: (() => void) | null = null;
  #stopped = false;
  /** The reused batch buffer, when reuseWriteBuffer is on. */
  #scratch = new Uint8Array(0);

  /** `onOverload` is called once the peer leaves more than {@linkcode MAX_QUEUED_ANSWERS} unread. */
  constructor(
    writer: WritableStreamDefaultWriter<Uint8Array>,
    options: OutboundOptions,
    sendCredit: SendCredit,
    budget: ReceiveBudget,
    onOverload: (answers: number) => void,
  ) {
    this.#writer = writer;
    this.#o = options;
    this.#sendCredit = sendCredit;
    this.#budget = budget;
    this.#onOverload = onOverload;
  }

  /** Queue an encoded control frame of our own (SYN, our RST, PING). */
  queueControl(frame: Uint8Array): void {
    if (this.#stopped) return;
    this.#control.push(frame);
    this.#wake();
  }

  /** Queue an answer to the peer's SYN (ACK or RST); counted against {@linkcode MAX_QUEUED_ANSWERS}. */
  queueAnswer(frame: Uint8Array): void {
    if (this.#stopped) return;
    if (++this.#queuedAnswers > MAX_QUEUED_ANSWERS) return this.#onOverload(this.#queuedAnswers);
    this.queueControl(frame);
  }

  /** Queue a pong; false (dropped) when a flooding peer has 64 unanswered already. */
  queuePong(value: number): boolean {
    if (this.#queuedPongs >= MAX_QUEUED_PONGS) return false;
    this.#queuedPongs++;
    this.queueControl(encodeFrame(FrameType.PING, Flag.ACK, 0, value));
    return true;
  }

  /** A stream has data with credit, or a FIN, to send. */
  wantsSend(stream: MuxStream): void {
    if (this.#stopped || this.#inReady.has(stream)) return;
    this.#inReady.add(stream);
    this.#ready.push(stream);
    this.#wake();
  }

  /** A stream owes its peer a window update. */
  creditDue(stream: MuxStream): void {
    if (this.#stopped || this.#creditDue.has(stream)) return;
    this.#creditDue.add(stream);
    this.#wake();
  }

  /** A stream is gone: it is owed nothing. (It leaves the ready queue at its next turn, having nothing to send.) */
  forget(stream: MuxStream): void {
    this.#creditDue.delete(stream);
  }

  /** Session credit came back or is owed: streams may be able to send. */
  wake(): void {
    this.#wake();
  }

  /** Sizes of the queues, for leak tests. */
  internals(): { creditDue: number; ready: number; control: number } {
    return {
      creditDue: this.#creditDue.size,
      ready: this.#ready.length,
      control: this.#control.length,
    };
  }

  /** Write batches until {@linkcode shutdown}; resolves with the write error, if any. */
  async pump(): Promise<Error | null> {
    try {
      while (!this.#stopped) {
        const batch = this.#collect();
        if (batch === null) {
          await new Promise<void>((resolve) => (this.#wakeup = resolve));
          continue;
        }
        await this.#writer.write(batch);
      }
      return null;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /**
   * Drop everything queued, write `farewell` (GO_AWAY) behind any write in
   * flight, and close the output; abort it if the pipe stays blocked.
   */
  async shutdown(farewell: Uint8Array | null, timeoutMs: number): Promise<void> {
    this.#stopped = true;
    this.#control = [];
    this.#ready = [];
    this.#inReady.clear();
    this.#creditDue.clear();
    this.#wake();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
    try {
      const flush = (async () => {
        if (farewell) await this.#writer.write(farewell);
        await this.#writer.close();
      })();
      flush.catch(() => {});
      // An abort waits for a write in flight, which a frozen peer never finishes: don't await it.
      if ((await Promise.race([flush, timeout])) === "timeout") {
        this.#writer.abort().catch(() => {});
      }
    } catch {
      this.#writer.abort().catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  }

  #wake(): void {
    const w = this.#wakeup;
    if (w) {
      this.#wakeup = null;
      w();
    }
  }

  /**
   * Everything ready to go, as one buffer; null when there is nothing. DATA
   * payloads are copied once, straight into the batch (no buffer per frame).
   */
  #collect(): Uint8Array | null {
    const control: Uint8Array[] = this.#control;
    let size = 0;
    for (const p of control) size += p.byteLength;
    this.#control = [];
    this.#queuedPongs = 0;
    this.#queuedAnswers = 0;
    const sessionCredit = this.#budget.takeUpdate(this.#creditDue.size > 0);
    if (sessionCredit > 0) {
      control.push(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, sessionCredit));
      size += HEADER_SIZE;
    }
    for (const s of this.#creditDue) {
      const n = s._takeWindowUpdate();
      if (n === 0) continue;
      control.push(encodeFrame(FrameType.WINDOW_UPDATE, 0, s.id, n));
      size += HEADER_SIZE;
    }
    this.#creditDue.clear();
    const max = this.#o.maxWriteBatch;
    const data = this.#dataOut;
    const credit = this.#sendCredit;
    // Round-robin, one frame per stream per turn. A stream that can send but got
    // nothing (session credit exhausted) goes back and counts as idle; the loop
    // ends when only idle streams remain.
    let idle = 0;
    while (size < max && this.#ready.length > idle) {
      const s = this.#ready.shift()!;
      const slice = s._nextFrame(Math.min(this.#o.sendFramePayload, credit.available));
      if (slice) {
        idle = 0;
        const n = slice.bytes.byteLength;
        data.push(s.id, slice.fin ? Flag.FIN : 0, slice.bytes);
        size += HEADER_SIZE + n;
        credit.spend(n);
        this.bytesOut += n;
      }
      if (s._canSend()) {
        this.#ready.push(s);
        if (!slice) idle++;
      } else {
        this.#inReady.delete(s);
      }
    }
    const frames = control.length + data.length / 3;
    if (frames === 0) return null;
    this.framesOut += frames;
    if (control.length === 1 && data.length === 0) return control[0];
    const out = this.#batchBuffer(size);
    let off = 0;
    for (const p of control) {
      out.set(p, off);
      off += p.byteLength;
    }
    for (let i = 0; i < data.length; i += 3) {
      const bytes = data[i + 2] as Uint8Array;
      writeHeader(
        out,
        off,
        FrameType.DATA,
        data[i + 1] as number,
        data[i] as number,
        bytes.byteLength,
      );
      out.set(bytes, off + HEADER_SIZE);
      off += HEADER_SIZE + bytes.byteLength;
    }
    data.length = 0;
    return out;
  }

  /**
   * A buffer for a batch of `size` bytes: a new one, or a view of the reused
   * one. The pump awaits each write, so the previous batch is done with.
   */
  #batchBuffer(size: number): Uint8Array {
    if (!this.#o.reuseWriteBuffer) return new Uint8Array(size);
    if (this.#scratch.byteLength < size) {
      // A batch stops at the first frame that reaches maxWriteBatch, after the control frames.
      this.#scratch = new Uint8Array(
        Math.max(size, this.#o.maxWriteBatch + this.#o.sendFramePayload + 1024),
      );
    }
    return this.#scratch.subarray(0, size);
  }
}
