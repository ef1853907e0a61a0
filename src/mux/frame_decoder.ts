/**
 * Incremental frame decoder: feed it chunks of any size, take whole frames out.
 * It checks everything that can be checked without session state (version,
 * type, flags, lengths, stream-0 rules) and throws {@linkcode ProtocolError}
 * with a reason otherwise. Payloads that sit inside one chunk are returned as
 * views without copying, so chunks pushed in must not be reused by the caller.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import {
  Flag,
  type Frame,
  FRAME_VERSION,
  FrameType,
  frameTypeName,
  HEADER_SIZE,
  KNOWN_FLAGS,
  MAX_REASON_BYTES,
  MAX_TARGET_BYTES,
} from "./frame.ts";

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest DATA payload accepted. */
  maxPayload: number;
}

const EMPTY = new Uint8Array(0);

/** Decodes a byte stream into frames. Not safe to share between sessions. */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #head = 0; // read offset into #chunks[0]
  #available = 0; // bytes buffered across #chunks from #head
  #consumed = 0; // bytes decoded so far, for error offsets
  #header = new Uint8Array(HEADER_SIZE);
  #pending: Frame | null = null; // header decoded, payload not yet complete
  readonly #maxPayload: number;

  constructor(options: FrameDecoderOptions) {
    this.#maxPayload = options.maxPayload;
  }

  /** Bytes buffered but not yet returned as frames. */
  get buffered(): number {
    return this.#available;
  }

  /** Add received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#available += chunk.byteLength;
  }

  /** The next complete frame, or `null` when more bytes are needed. Throws ProtocolError. */
  next(): Frame | null {
    let frame = this.#pending;
    if (frame === null) {
      if (this.#available < HEADER_SIZE) return null;
      frame = this.#readHeader();
    }
    const size = hasPayload(frame) ? frame.length : 0;
    if (this.#available < size) {
      this.#pending = frame;
      return null;
    }
    this.#pending = null;
    frame.payload = size === 0 ? EMPTY : this.#take(size);
    this.#consumed += HEADER_SIZE + size;
    return frame;
  }

  #readHeader(): Frame {
    const first = this.#chunks[0];
    let h: Uint8Array;
    let o: number;
    if (first.byteLength - this.#head >= HEADER_SIZE) {
      h = first;
      o = this.#head;
      this.#advance(HEADER_SIZE);
    } else {
      h = this.#header;
      o = 0;
      this.#copyInto(h, HEADER_SIZE);
    }
    const version = h[o];
    const type = h[o + 1];
    const flags = (h[o + 2] << 8) | h[o + 3];
    const streamId = ((h[o + 4] << 24) | (h[o + 5] << 16) | (h[o + 6] << 8) | h[o + 7]) >>> 0;
    const length = ((h[o + 8] << 24) | (h[o + 9] << 16) | (h[o + 10] << 8) | h[o + 11]) >>> 0;
    if (version !== FRAME_VERSION) {
      throw this.#error(
        `bad frame version ${hex(version)} (expected ${FRAME_VERSION}); header bytes ` +
          `${
            preview(h.subarray(o, o + HEADER_SIZE))
          }: something other than the multiplexer wrote to the pipe`,
      );
    }
    if (type > FrameType.GO_AWAY) throw this.#error(`unknown frame type ${type}`);
    if ((flags & ~KNOWN_FLAGS) !== 0) {
      throw this.#error(`unknown flags ${hex(flags)} on ${frameTypeName(type)}`);
    }
    const frame: Frame = { type: type as FrameType, flags, streamId, length, payload: EMPTY };
    this.#validate(frame);
    return frame;
  }

  #validate(f: Frame): void {
    const name = frameTypeName(f.type);
    if (f.type === FrameType.PING || f.type === FrameType.GO_AWAY) {
      if (f.streamId !== 0) throw this.#error(`${name} on stream ${f.streamId} (must be 0)`);
    } else if (f.type === FrameType.DATA && f.streamId === 0) {
      throw this.#error("DATA on stream 0");
    }
    if (f.type === FrameType.DATA) {
      const syn = (f.flags & Flag.SYN) !== 0;
      const rst = (f.flags & Flag.RST) !== 0;
      if (syn && f.flags !== Flag.SYN) {
        throw this.#error(`SYN combined with other flags (${hex(f.flags)})`);
      }
      if (rst && f.flags !== Flag.RST) {
        throw this.#error(`RST combined with other flags (${hex(f.flags)})`);
      }
      if ((f.flags & Flag.ACK) !== 0) throw this.#error("ACK on a DATA frame");
      const limit = syn ? MAX_TARGET_BYTES : rst ? 4 + MAX_REASON_BYTES : this.#maxPayload;
      if (f.length > limit) {
        throw this.#error(
          `oversized frame: ${name} of ${f.length} bytes on stream ${f.streamId} (limit ${limit})`,
        );
      }
      if (syn && f.length === 0) {
        throw this.#error(`SYN with an empty target on stream ${f.streamId}`);
      }
      if (rst && f.length < 4) {
        throw this.#error(
          `RST payload of ${f.length} bytes on stream ${f.streamId} (must be 4..${
            4 + MAX_REASON_BYTES
          })`,
        );
      }
    } else if (f.type === FrameType.GO_AWAY) {
      if (f.length > 4 + MAX_REASON_BYTES || f.length < 4) {
        throw this.#error(
          `GO_AWAY payload of ${f.length} bytes (must be 4..${4 + MAX_REASON_BYTES})`,
        );
      }
    } else if (f.type === FrameType.PING) {
      if (
        (f.flags & ~(Flag.SYN | Flag.ACK)) !== 0 ||
        (f.flags & (Flag.SYN | Flag.ACK)) === (Flag.SYN | Flag.ACK) || f.flags === 0
      ) {
        throw this.#error(`PING needs exactly one of SYN or ACK (flags ${hex(f.flags)})`);
      }
    } else if (f.type === FrameType.WINDOW_UPDATE) {
      if ((f.flags & ~Flag.ACK) !== 0) {
        throw this.#error(`WINDOW_UPDATE with flags ${hex(f.flags)}`);
      }
      if (f.streamId === 0 && f.flags !== 0) throw this.#error("ACK on the session window");
    }
  }

  #take(size: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.byteLength - this.#head >= size) {
      const view = first.subarray(this.#head, this.#head + size);
      this.#advance(size);
      return view;
    }
    const out = new Uint8Array(size);
    this.#copyInto(out, size);
    return out;
  }

  #copyInto(out: Uint8Array, size: number): void {
    let filled = 0;
    while (filled < size) {
      const chunk = this.#chunks[0];
      const n = Math.min(size - filled, chunk.byteLength - this.#head);
      out.set(chunk.subarray(this.#head, this.#head + n), filled);
      filled += n;
      this.#advance(n);
    }
  }

  #advance(n: number): void {
    this.#head += n;
    this.#available -= n;
    if (this.#head === this.#chunks[0].byteLength) {
      this.#chunks.shift();
      this.#head = 0;
    }
  }

  #error(reason: string): ProtocolError {
    return new ProtocolError(`${reason} (at byte ${this.#consumed} of the frame stream)`);
  }
}

function hasPayload(f: Frame): boolean {
  return f.type === FrameType.DATA || f.type === FrameType.GO_AWAY;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/** Hex plus printable text of some bytes, for messages about stray output. */
export function preview(bytes: Uint8Array): string {
  const hexes = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  const text = Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."))
    .join("");
  return `${hexes} ("${text}")`;
}
