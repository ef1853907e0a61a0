import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeReason,
  encodeFrame,
  encodeReason,
  Flag,
  FRAME_VERSION,
  FrameType,
  GoAwayCode,
  HEADER_SIZE,
  KNOWN_FLAGS,
  MAX_REASON_BYTES,
  MAX_TARGET_BYTES,
  ResetCode,
} from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { ProtocolError } from "../errors.ts";
import type { Frame } from "./frame.ts";

const MAX = 64 * 1024;

function decodeAll(bytes: Uint8Array[], maxPayload = MAX): Frame[] {
  const d = new FrameDecoder({ maxPayload });
  const out: Frame[] = [];
  for (const b of bytes) {
    d.push(b);
    for (let f = d.next(); f; f = d.next()) out.push({ ...f, payload: f.payload.slice() });
  }
  assert.equal(d.buffered, 0, "no bytes left over");
  return out;
}

function sample(): { bytes: Uint8Array; frames: Omit<Frame, "payload">[]; payloads: Uint8Array[] } {
  const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
  const target = new TextEncoder().encode("pipe://./pipe/openssh-ssh-agent");
  const rst = encodeReason(ResetCode.NOT_FOUND, "pipe not found");
  const bye = encodeReason(GoAwayCode.NORMAL, "bye");
  const list: [number, number, number, number, Uint8Array | undefined][] = [
    [FrameType.DATA, Flag.SYN, 1, target.byteLength, target],
    [FrameType.WINDOW_UPDATE, Flag.ACK, 1, 0, undefined],
    [FrameType.DATA, 0, 1, data.byteLength, data],
    [FrameType.DATA, Flag.FIN, 1, 0, new Uint8Array(0)],
    [FrameType.WINDOW_UPDATE, 0, 2, 131072, undefined],
    [FrameType.WINDOW_UPDATE, 0, 0, 33554432, undefined],
    [FrameType.DATA, Flag.RST, 3, rst.byteLength, rst],
    [FrameType.PING, Flag.SYN, 0, 0xdeadbeef, undefined],
    [FrameType.PING, Flag.ACK, 0, 0xdeadbeef, undefined],
    [FrameType.GO_AWAY, 0, 0, bye.byteLength, bye],
  ];
  const parts = list.map(([t, f, id, len, p]) => encodeFrame(t as FrameType, f, id, len, p));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.byteLength;
  }
  return {
    bytes,
    frames: list.map(([type, flags, streamId, length]) => ({
      type: type as FrameType,
      flags,
      streamId,
      length,
    })),
    payloads: list.map(([, , , , p]) => p ?? new Uint8Array(0)),
  };
}

function check(frames: Frame[]): void {
  const s = sample();
  assert.equal(frames.length, s.frames.length);
  frames.forEach((f, i) => {
    assert.deepEqual(
      { type: f.type, flags: f.flags, streamId: f.streamId, length: f.length },
      s.frames[i],
    );
    assert.deepEqual(f.payload, s.payloads[i]);
  });
}

describe("frame codec", () => {
  test("wire constants - are pinned", () => {
    assert.equal(FRAME_VERSION, 1);
    assert.equal(HEADER_SIZE, 12);
    assert.deepEqual(FrameType, { DATA: 0, WINDOW_UPDATE: 1, PING: 2, GO_AWAY: 3 });
    assert.deepEqual(Flag, { SYN: 1, ACK: 2, FIN: 4, RST: 8 });
    assert.equal(KNOWN_FLAGS, 0xf);
    assert.deepEqual(ResetCode, {
      CANCEL: 0,
      REFUSED: 1,
      NOT_FOUND: 2,
      CONNECTION_REFUSED: 3,
      TIMEOUT: 4,
      BAD_TARGET: 5,
      PERMISSION_DENIED: 6,
      INTERNAL: 7,
      SESSION_CLOSED: 8,
      CONNECTION_RESET: 9,
    });
    assert.deepEqual(GoAwayCode, {
      NORMAL: 0,
      PROTOCOL_ERROR: 1,
      INTERNAL_ERROR: 2,
      OVERLOADED: 3,
    });
    assert.equal(MAX_TARGET_BYTES, 4096);
    assert.equal(MAX_REASON_BYTES, 1024);
  });

  test("header - is big-endian version, type, flags, stream id, length", () => {
    const f = encodeFrame(FrameType.WINDOW_UPDATE, Flag.ACK | Flag.FIN, 0x01020304, 0x0a0b0c0d);
    assert.deepEqual([...f], [1, 1, 0, 6, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
  });

  test("every frame type - round-trips in one chunk", () => {
    check(decodeAll([sample().bytes]));
  });

  test("decoder - accepts frames fed one byte at a time", () => {
    const b = sample().bytes;
    check(decodeAll(Array.from(b, (_, i) => b.subarray(i, i + 1))));
  });

  test("decoder - accepts a split at every offset", () => {
    const b = sample().bytes;
    for (let i = 0; i <= b.byteLength; i++) check(decodeAll([b.subarray(0, i), b.subarray(i)]));
  });

  test("decoder - accepts 4 KiB pieces", () => {
    const b = sample().bytes;
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < b.byteLength; i += 4096) pieces.push(b.subarray(i, i + 4096));
    check(decodeAll(pieces));
  });

  test("reason payload - round-trips and truncates long reasons at a character boundary", () => {
    assert.deepEqual(decodeReason(encodeReason(3, "connection refused")), {
      code: 3,
      reason: "connection refused",
    });
    const long = decodeReason(encodeReason(7, "é".repeat(1000)));
    assert.equal(long.reason, "é".repeat(512));
  });
});

describe("frame decoder - rejects", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "a bad version",
      new Uint8Array([2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
      /^bad frame version 0x02 \(expected 1\); header bytes 02 00/,
    ],
    [
      "stray text",
      new TextEncoder().encode("Warning: something\n"),
      /bad frame version 0x57.*"Warning: som".*something other than the multiplexer/,
    ],
    ["an unknown type", encodeFrame(9 as FrameType, 0, 1, 0), /^unknown frame type 9 \(at byte 0/],
    ["unknown flags", encodeFrame(FrameType.DATA, 0x10, 1, 0), /^unknown flags 0x10 on DATA/],
    [
      "an oversized DATA frame",
      encodeFrame(FrameType.DATA, 0, 1, MAX + 1),
      /^oversized frame: DATA of 65537 bytes on stream 1 \(limit 65536\)/,
    ],
    [
      "an oversized SYN",
      encodeFrame(FrameType.DATA, Flag.SYN, 1, 5000),
      /^oversized frame: DATA of 5000 bytes on stream 1 \(limit 4096\)/,
    ],
    [
      "an empty SYN",
      encodeFrame(FrameType.DATA, Flag.SYN, 1, 0),
      /^SYN with an empty target on stream 1/,
    ],
    ["DATA on stream 0", encodeFrame(FrameType.DATA, 0, 0, 0), /^DATA on stream 0/],
    [
      "PING on a stream",
      encodeFrame(FrameType.PING, Flag.SYN, 5, 0),
      /^PING on stream 5 \(must be 0\)/,
    ],
    [
      "PING without SYN or ACK",
      encodeFrame(FrameType.PING, 0, 0, 0),
      /^PING needs exactly one of SYN or ACK/,
    ],
    ["GO_AWAY on a stream", encodeFrame(FrameType.GO_AWAY, 0, 3, 4), /^GO_AWAY on stream 3/],
    ["a short GO_AWAY", encodeFrame(FrameType.GO_AWAY, 0, 0, 2), /^GO_AWAY payload of 2 bytes/],
    [
      "SYN with FIN",
      encodeFrame(FrameType.DATA, Flag.SYN | Flag.FIN, 1, 1),
      /^SYN combined with other flags/,
    ],
    ["ACK on DATA", encodeFrame(FrameType.DATA, Flag.ACK, 1, 0), /^ACK on a DATA frame/],
    [
      "ACK on the session window",
      encodeFrame(FrameType.WINDOW_UPDATE, Flag.ACK, 0, 1),
      /^ACK on the session window/,
    ],
  ];
  for (const [what, bytes, pattern] of cases) {
    test(`frame decoder - rejects ${what} with a ProtocolError and a reason`, () => {
      const d = new FrameDecoder({ maxPayload: MAX });
      d.push(bytes);
      assert.throws(
        () => d.next(),
        (e: unknown) =>
          e instanceof ProtocolError && e.code === "PROTOCOL" && pattern.test(e.message),
      );
    });
  }
});
