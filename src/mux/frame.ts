/**
 * Wire constants and the frame header codec. docs/PROTOCOL.md is the
 * normative description; `frame.test.ts` pins every value here.
 *
 * Header (12 bytes, big-endian):
 *
 * ```
 * 0      1      2             4                   8                  12
 * +------+------+-------------+-------------------+------------------+
 * | ver  | type |    flags    |     stream id     |      length      |
 * +------+------+-------------+-------------------+------------------+
 * ```
 *
 * @module
 */

/** Frame format version carried in every header. */
export const FRAME_VERSION = 1;
/** Size of the fixed frame header in bytes. */
export const HEADER_SIZE = 12;

/** Frame types. */
export const FrameType = {
  /** Stream payload; with SYN the payload is the target, with RST a reset reason. */
  DATA: 0,
  /** Adds `length` bytes of credit; stream id 0 is the session window. ACK accepts a stream. */
  WINDOW_UPDATE: 1,
  /** Keepalive / RTT probe on stream 0; `length` is an opaque value echoed back. */
  PING: 2,
  /** Ends the session; payload is a code and a reason. */
  GO_AWAY: 3,
} as const;
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** Frame flags (a bit set). */
export const Flag = {
  SYN: 0x1,
  ACK: 0x2,
  FIN: 0x4,
  RST: 0x8,
} as const;
/** Every flag bit this version knows; others are a protocol error. */
export const KNOWN_FLAGS = 0xf;

/** Codes carried by RST frames and by the reject/reset APIs. */
export const ResetCode = {
  /** The local reader cancelled or the writer aborted. */
  CANCEL: 0,
  /** The peer refused the stream (no handler, going away, too many streams). */
  REFUSED: 1,
  /** The target does not exist (pipe not found, socket file missing). */
  NOT_FOUND: 2,
  /** The target exists but refused the connection. */
  CONNECTION_REFUSED: 3,
  /** Dialling the target timed out (e.g. all pipe instances stayed busy). */
  TIMEOUT: 4,
  /** The target address is malformed or its scheme is not supported here. */
  BAD_TARGET: 5,
  /** Access to the target was denied. */
  PERMISSION_DENIED: 6,
  /** Any other failure on the far side. */
  INTERNAL: 7,
  /** The session ended while the stream was open. */
  SESSION_CLOSED: 8,
  /** The connection on the far side was reset (the target, or the Linux client): reset ours too. */
  CONNECTION_RESET: 9,
} as const;
export type ResetCode = typeof ResetCode[keyof typeof ResetCode];

/** Codes carried by GO_AWAY frames. */
export const GoAwayCode = {
  NORMAL: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  /** The peer left too many answers unread (it opens streams but does not read). */
  OVERLOADED: 3,
} as const;
export type GoAwayCode = typeof GoAwayCode[keyof typeof GoAwayCode];

/** Largest target (SYN payload) in bytes. */
export const MAX_TARGET_BYTES = 4096;
/** Largest reason text in RST and GO_AWAY payloads, in bytes (after the 4-byte code). */
export const MAX_REASON_BYTES = 1024;
/** Largest window or window increment (2^31 - 1, as in HTTP/2). */
export const MAX_WINDOW = 0x7fff_ffff;

/** A decoded frame. `payload` is empty for WINDOW_UPDATE and PING. */
export interface Frame {
  type: FrameType;
  flags: number;
  streamId: number;
  /** Payload length for DATA and GO_AWAY; the value for WINDOW_UPDATE and PING. */
  length: number;
  payload: Uint8Array;
}

const encoder = new TextEncoder();

/** Write a header into `buf` at `offset`. */
export function writeHeader(
  buf: Uint8Array,
  offset: number,
  type: FrameType,
  flags: number,
  streamId: number,
  length: number,
): void {
  buf[offset] = FRAME_VERSION;
  buf[offset + 1] = type;
  buf[offset + 2] = flags >>> 8;
  buf[offset + 3] = flags & 0xff;
  buf[offset + 4] = streamId >>> 24;
  buf[offset + 5] = (streamId >>> 16) & 0xff;
  buf[offset + 6] = (streamId >>> 8) & 0xff;
  buf[offset + 7] = streamId & 0xff;
  buf[offset + 8] = length >>> 24;
  buf[offset + 9] = (length >>> 16) & 0xff;
  buf[offset + 10] = (length >>> 8) & 0xff;
  buf[offset + 11] = length & 0xff;
}

/** Encode a whole frame (header plus payload) into a new buffer. */
export function encodeFrame(
  type: FrameType,
  flags: number,
  streamId: number,
  lengthOrValue: number,
  payload?: Uint8Array,
): Uint8Array {
  const size = HEADER_SIZE + (payload?.byteLength ?? 0);
  const buf = new Uint8Array(size);
  writeHeader(buf, 0, type, flags, streamId, lengthOrValue);
  if (payload) buf.set(payload, HEADER_SIZE);
  return buf;
}

/** Encode a code plus a UTF-8 reason, truncated to {@linkcode MAX_REASON_BYTES}. */
export function encodeReason(code: number, reason: string): Uint8Array {
  let text: Uint8Array = encoder.encode(reason);
  if (text.byteLength > MAX_REASON_BYTES) text = truncateUtf8(text, MAX_REASON_BYTES);
  const buf = new Uint8Array(4 + text.byteLength);
  new DataView(buf.buffer).setUint32(0, code >>> 0);
  buf.set(text, 4);
  return buf;
}

/** A whole RST frame (DATA with the RST flag) for stream `id`. */
export function encodeRst(id: number, code: number, reason: string): Uint8Array {
  const payload = encodeReason(code, reason);
  return encodeFrame(FrameType.DATA, Flag.RST, id, payload.byteLength, payload);
}

/** Decode a code plus reason payload (as carried by RST and GO_AWAY). */
export function decodeReason(payload: Uint8Array): { code: number; reason: string } {
  if (payload.byteLength < 4) return { code: 0, reason: "" };
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    code: view.getUint32(0),
    reason: new TextDecoder("utf-8", { fatal: false }).decode(payload.subarray(4)),
  };
}

/** Cut UTF-8 at a character boundary at or below `max` bytes. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Human name of a frame type, for error messages. */
export function frameTypeName(type: number): string {
  switch (type) {
    case FrameType.DATA:
      return "DATA";
    case FrameType.WINDOW_UPDATE:
      return "WINDOW_UPDATE";
    case FrameType.PING:
      return "PING";
    case FrameType.GO_AWAY:
      return "GO_AWAY";
    default:
      return `unknown(${type})`;
  }
}
