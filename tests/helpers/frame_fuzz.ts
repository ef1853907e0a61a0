/**
 * Generators and an oracle for fuzzing the frame layer: valid frame
 * sequences of every type and flag combination, byte- and header-level
 * mutations of them, random chunkings, and a reference decoder written from
 * the tables in docs/PROTOCOL.md (independently of `src/mux/frame_decoder.ts`)
 * that says which frames a byte stream holds and where the first violation is.
 *
 * @module
 */
import fc from "fast-check";
import {
  Flag,
  FrameType,
  HEADER_SIZE,
  MAX_REASON_BYTES,
  MAX_TARGET_BYTES,
  writeHeader,
} from "../../src/mux/frame.ts";

/** One frame as the generators describe it; `payload` is null for WINDOW_UPDATE and PING. */
export interface FrameSpec {
  type: number;
  flags: number;
  streamId: number;
  /** Payload size, or the value for WINDOW_UPDATE / PING. */
  length: number;
  payload: Uint8Array | null;
}

/** Frames encoded back to back, with where each header starts. */
export interface Encoded {
  bytes: Uint8Array;
  offsets: number[];
}

/** Deterministic filler bytes (xorshift32), cheap enough for 64 KiB payloads. */
export function filler(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A small deterministic PRNG for choices made inside a property (chunk sizes). */
export function rng(seed: number): (n: number) => number {
  let x = (seed >>> 0) || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const u32 = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1 << 20 }) },
  fc.constantFrom(0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
  fc.integer({ min: 0, max: 0xffff_ffff }),
);
const nonZeroId = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 16 }) },
  fc.integer({ min: 1, max: 0xffff_ffff }),
);
/** Mostly small sizes, sometimes anything up to `max`, sometimes exactly `max`. */
const sizeUpTo = (min: number, max: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min, max: Math.min(max, min + 64) }) },
    fc.integer({ min, max }),
    fc.constant(max),
  );
const payloadOf = (min: number, max: number) =>
  fc.tuple(sizeUpTo(min, max), fc.nat()).map(([n, seed]) => filler(n, seed));
/** A reason payload: a 4-byte code, then up to 1024 bytes of text. */
const reasonPayload = fc.tuple(u32, payloadOf(0, MAX_REASON_BYTES)).map(([code, text]) => {
  const p = new Uint8Array(4 + text.byteLength);
  new DataView(p.buffer).setUint32(0, code);
  p.set(text, 4);
  return p;
});

/** Every valid frame shape: DATA (plain, FIN, SYN, RST), WINDOW_UPDATE (±ACK, session/stream), PING (SYN/ACK), GO_AWAY. */
export function validFrameArbitrary(maxPayload: number): fc.Arbitrary<FrameSpec> {
  const data = (flags: number, payload: fc.Arbitrary<Uint8Array>) =>
    fc.tuple(nonZeroId, payload).map(([streamId, p]): FrameSpec => ({
      type: FrameType.DATA,
      flags,
      streamId,
      length: p.byteLength,
      payload: p,
    }));
  return fc.oneof(
    { weight: 4, arbitrary: data(0, payloadOf(0, maxPayload)) },
    { weight: 2, arbitrary: data(Flag.FIN, payloadOf(0, maxPayload)) },
    { weight: 2, arbitrary: data(Flag.SYN, payloadOf(1, MAX_TARGET_BYTES)) },
    { weight: 2, arbitrary: data(Flag.RST, reasonPayload) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.oneof(fc.constant(0), nonZeroId), fc.boolean(), u32).map((
        [id, ack, n],
      ): FrameSpec => ({
        type: FrameType.WINDOW_UPDATE,
        flags: ack && id !== 0 ? Flag.ACK : 0,
        streamId: id,
        length: n,
        payload: null,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.boolean(), u32).map(([syn, v]): FrameSpec => ({
        type: FrameType.PING,
        flags: syn ? Flag.SYN : Flag.ACK,
        streamId: 0,
        length: v,
        payload: null,
      })),
    },
    {
      weight: 1,
      arbitrary: reasonPayload.map((p): FrameSpec => ({
        type: FrameType.GO_AWAY,
        flags: 0,
        streamId: 0,
        length: p.byteLength,
        payload: p,
      })),
    },
  );
}

/** Encode frames back to back. */
export function encodeFrames(frames: readonly FrameSpec[]): Encoded {
  let size = 0;
  for (const f of frames) size += HEADER_SIZE + (f.payload?.byteLength ?? 0);
  const bytes = new Uint8Array(size);
  const offsets: number[] = [];
  let o = 0;
  for (const f of frames) {
    offsets.push(o);
    writeHeader(bytes, o, f.type as FrameType, f.flags, f.streamId, f.length);
    o += HEADER_SIZE;
    if (f.payload) {
      bytes.set(f.payload, o);
      o += f.payload.byteLength;
    }
  }
  return { bytes, offsets };
}

/** A change to an encoded frame stream. Positions are taken modulo the current length. */
export type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "splice"; at: number; from: number; count: number; replace: boolean }
  | {
    kind: "header";
    frame: number;
    field: "version" | "type" | "flags" | "id" | "length";
    value: number;
  };

/** Byte-level mutations (bit flips, truncation, insertion, deletion, splices) and header-field rewrites. */
export function mutationArbitrary(maxPayload: number): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  const headerValue = {
    version: fc.oneof(fc.constantFrom(0, 2, 0x70, 0xff), fc.integer({ min: 0, max: 255 })),
    type: fc.oneof(fc.constantFrom(4, 7, 0xff), fc.integer({ min: 0, max: 255 })),
    flags: fc.oneof(
      fc.constantFrom(0x10, 0x8000, 0xffff, Flag.SYN | Flag.FIN, Flag.ACK, Flag.RST | Flag.FIN, 0),
      fc.integer({ min: 0, max: 0xffff }),
    ),
    id: fc.oneof(
      fc.constantFrom(0, 1, 2, 3, 0x7fff_ffff, 0xffff_ffff),
      fc.integer({ min: 0, max: 0xffff_ffff }),
    ),
    length: fc.oneof(
      fc.constantFrom(
        0,
        3,
        4,
        MAX_TARGET_BYTES + 1,
        4 + MAX_REASON_BYTES + 1,
        maxPayload,
        maxPayload + 1,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
      ),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.integer({ min: 0, max: maxPayload * 2 }),
    ),
  };
  const fields = ["version", "type", "flags", "id", "length"] as const;
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("flip" as const),
        at,
        bit: fc.integer({ min: 0, max: 7 }),
      }),
    },
    fc.record({ kind: fc.constant("set" as const), at, value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at }),
    fc.record({
      kind: fc.constant("insert" as const),
      at,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({ kind: fc.constant("delete" as const), at, count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({
      kind: fc.constant("splice" as const),
      at,
      from: fc.nat(),
      count: fc.integer({ min: 1, max: 64 }),
      replace: fc.boolean(),
    }),
    {
      weight: 4,
      arbitrary: fc.constantFrom(...fields).chain((field) =>
        fc.record({
          kind: fc.constant("header" as const),
          frame: fc.nat(),
          field: fc.constant(field),
          value: headerValue[field],
        })
      ),
    },
  );
}

/**
 * Apply mutations in order. Header rewrites address frames by the offsets of
 * the original encoding, so they go first; `donor` supplies spliced bytes.
 */
export function applyMutations(
  enc: Encoded,
  mutations: readonly Mutation[],
  donor: Uint8Array,
): Uint8Array {
  let b: Uint8Array = enc.bytes.slice();
  for (const m of mutations) {
    if (m.kind !== "header" || enc.offsets.length === 0) continue;
    const o = enc.offsets[m.frame % enc.offsets.length];
    const v = m.value;
    const view = new DataView(b.buffer);
    if (m.field === "version") b[o] = v;
    else if (m.field === "type") b[o + 1] = v;
    else if (m.field === "flags") view.setUint16(o + 2, v);
    else if (m.field === "id") view.setUint32(o + 4, v);
    else view.setUint32(o + 8, v);
  }
  for (const m of mutations) {
    const pos = (n: number) => (b.byteLength === 0 ? 0 : n % (b.byteLength + 1));
    switch (m.kind) {
      case "flip":
        if (b.byteLength) b[m.at % b.byteLength] ^= 1 << m.bit;
        break;
      case "set":
        if (b.byteLength) b[m.at % b.byteLength] = m.value;
        break;
      case "truncate":
        b = b.subarray(0, pos(m.at));
        break;
      case "insert": {
        const p = pos(m.at);
        b = join(b.subarray(0, p), m.bytes, b.subarray(p));
        break;
      }
      case "delete": {
        const p = pos(m.at);
        b = join(b.subarray(0, p), b.subarray(p + m.count));
        break;
      }
      case "splice": {
        const p = pos(m.at);
        const from = donor.byteLength ? m.from % donor.byteLength : 0;
        const piece = donor.subarray(from, from + m.count);
        b = join(b.subarray(0, p), piece, b.subarray(m.replace ? p + piece.byteLength : p));
        break;
      }
    }
  }
  return b;
}

function join(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** What the reference decoder found in a byte stream. */
export interface Reference {
  frames: FrameSpec[];
  /** Offset of the header that breaks the rules, or null. */
  errorAt: number | null;
  /** Bytes after the last whole frame (when there is no error). */
  rest: number;
  /** Whether those bytes start with a whole, valid header (whose payload is still short). */
  headerPending: boolean;
}

/** Which flag sets each type may carry (docs/PROTOCOL.md §3), as a table. */
const ALLOWED_FLAGS: Record<number, readonly number[]> = {
  [FrameType.DATA]: [0, Flag.FIN, Flag.SYN, Flag.RST],
  [FrameType.WINDOW_UPDATE]: [0, Flag.ACK],
  [FrameType.PING]: [Flag.SYN, Flag.ACK],
  [FrameType.GO_AWAY]: Array.from({ length: 16 }, (_, i) => i), // flags carry no meaning on GO_AWAY
};

/** Why a header is invalid per docs/PROTOCOL.md, or null when it is valid. */
export function referenceCheck(
  type: number,
  flags: number,
  id: number,
  length: number,
  maxPayload: number,
  version = 1,
): string | null {
  if (version !== 1) return "version";
  if (!(type in ALLOWED_FLAGS)) return "type";
  if (flags > 0xf) return "flags";
  if (!ALLOWED_FLAGS[type].includes(flags)) return "flag combination";
  const sessionScoped = type === FrameType.PING || type === FrameType.GO_AWAY;
  if (sessionScoped !== (id === 0) && type !== FrameType.WINDOW_UPDATE) return "stream id";
  if (type === FrameType.WINDOW_UPDATE && id === 0 && flags === Flag.ACK) return "ACK on stream 0";
  const [min, max] = type === FrameType.GO_AWAY
    ? [4, 4 + MAX_REASON_BYTES]
    : type !== FrameType.DATA
    ? [0, 0xffff_ffff]
    : flags === Flag.SYN
    ? [1, MAX_TARGET_BYTES]
    : flags === Flag.RST
    ? [4, 4 + MAX_REASON_BYTES]
    : [0, maxPayload];
  if (length < min || length > max) return "length";
  return null;
}

/** Decode a whole byte stream by the spec: frames until the first violation or the end. */
export function referenceDecode(b: Uint8Array, maxPayload: number): Reference {
  const frames: FrameSpec[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  while (b.byteLength - o >= HEADER_SIZE) {
    const type = b[o + 1];
    const flags = view.getUint16(o + 2);
    const streamId = view.getUint32(o + 4);
    const length = view.getUint32(o + 8);
    if (referenceCheck(type, flags, streamId, length, maxPayload, b[o]) !== null) {
      return { frames, errorAt: o, rest: 0, headerPending: false };
    }
    const size = type === FrameType.DATA || type === FrameType.GO_AWAY ? length : 0;
    if (b.byteLength - o - HEADER_SIZE < size) {
      return { frames, errorAt: null, rest: b.byteLength - o, headerPending: true };
    }
    frames.push({
      type,
      flags,
      streamId,
      length,
      payload: b.subarray(o + HEADER_SIZE, o + HEADER_SIZE + size),
    });
    o += HEADER_SIZE + size;
  }
  return { frames, errorAt: null, rest: b.byteLength - o, headerPending: false };
}

/** Random headers (any version, type, flags, id, length) with up to 256 payload bytes: frames no encoder would write. */
export function wildFrameArbitrary(): fc.Arbitrary<FrameSpec> {
  return fc.record({
    type: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) },
      fc.integer({ min: 0, max: 255 }),
    ),
    flags: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xf }) },
      fc.integer({ min: 0, max: 0xffff }),
    ),
    streamId: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff_ffff })),
    length: u32,
    seed: fc.nat(),
  }).map(({ seed, ...h }) => ({ ...h, payload: filler(Math.min(h.length, 256), seed) }));
}

/**
 * Split `b` at up to 16 random points, and cut a random window of up to 64 bytes
 * into single bytes (so headers split at every offset get their turn) while
 * keeping the number of pieces, and so the cost of a case, small.
 */
export function chunkRandomly(b: Uint8Array, seed: number): Uint8Array[] {
  const r = rng(seed);
  const n = b.byteLength;
  const cuts = new Set<number>();
  for (let k = r(17); k > 0; k--) cuts.add(1 + r(n + 1));
  const from = r(n + 1);
  for (let i = from, end = Math.min(n, from + r(65)); i < end; i++) cuts.add(i);
  const points = [...cuts].filter((x) => x > 0 && x < n).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let o = 0;
  for (const x of points) {
    out.push(b.subarray(o, x));
    o = x;
  }
  if (o < n) out.push(b.subarray(o));
  return out;
}
