import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  checkPreface,
  decodePreface,
  encodePreface,
  type Preface,
  PREFACE_FIXED_SIZE,
  PREFACE_MAGIC,
  PROTOCOL_VERSION,
} from "./preface.ts";
import { HandshakeError } from "../errors.ts";

const names = { local: "the Linux daemon", peer: "the Windows agent" };
const local: Preface = {
  protocol: PROTOCOL_VERSION,
  role: "client",
  capabilities: 0,
  streamWindow: 16384,
  sessionWindow: 64 << 20,
  maxFramePayload: 65536,
  version: "1.0.0",
};
const peer: Preface = { ...local, role: "server", version: "1.0.1" };

function rejects(p: Partial<Preface>, code: string, pattern: RegExp): void {
  assert.throws(
    () => checkPreface(local, { ...peer, ...p }, names, "hint"),
    (e: unknown) => e instanceof HandshakeError && e.code === code && pattern.test(e.message),
  );
}

describe("preface", () => {
  test("preface - the wire layout is pinned: protocol 2, 29 fixed bytes, frame payload at 24", () => {
    assert.equal(PROTOCOL_VERSION, 2);
    assert.equal(PREFACE_FIXED_SIZE, 29);
    const b = encodePreface({ ...local, capabilities: 0x01020304, version: "v" });
    assert.deepEqual([...b.subarray(0, 8)], [...PREFACE_MAGIC]);
    assert.deepEqual(
      [...b.subarray(8)],
      [2, 1, 0, 0, 1, 2, 3, 4, 0, 0, 0x40, 0, 4, 0, 0, 0, 0, 1, 0, 0, 1, 0x76],
    );
    const d = decodePreface(b, names)!;
    assert.equal(d.size, b.byteLength);
    assert.deepEqual(d.preface, { ...local, capabilities: 0x01020304, version: "v" });
  });

  test("preface - a protocol 1 peer is decoded far enough to report the version mismatch", () => {
    const v1 = new Uint8Array(25 + 5);
    v1.set(PREFACE_MAGIC);
    v1[8] = 1;
    v1[9] = 2;
    new DataView(v1.buffer).setUint32(16, 262144);
    new DataView(v1.buffer).setUint32(20, 64 << 20);
    v1[24] = 5;
    v1.set(new TextEncoder().encode("0.1.0"), 25);
    const d = decodePreface(v1, names)!;
    assert.equal(d.size, 30);
    assert.equal(d.preface.version, "0.1.0");
    assert.throws(
      () => checkPreface(local, d.preface, names, "Run `wsl2proxy restart`."),
      (e: unknown) =>
        e instanceof HandshakeError && e.code === "VERSION_MISMATCH" &&
        /the Windows agent is wsl2proxy 0\.1\.0 \(protocol 1\); the Windows agent is older/.test(
          e.message,
        ),
    );
  });

  test("preface - windows outside the wire range fail with BAD_WINDOW", () => {
    rejects({ streamWindow: 512 }, "BAD_WINDOW", /stream 512, must be 1024\.\.2147483647/);
    rejects({ streamWindow: 2 ** 31 }, "BAD_WINDOW", /stream 2147483648/);
    rejects({ sessionWindow: 8192 }, "BAD_WINDOW", /session 8192, must be at least/);
  });

  test("preface - a frame payload below 1 KiB fails with BAD_FRAME_SIZE", () => {
    rejects({ maxFramePayload: 100 }, "BAD_FRAME_SIZE", /maximum frame payload of 100 bytes/);
  });

  test("preface - the same role on both sides still fails with BAD_ROLE", () => {
    rejects({ role: "client" }, "BAD_ROLE", /both sides announced role "client"/);
  });
});
