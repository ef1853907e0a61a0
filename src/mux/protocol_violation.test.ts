import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Session } from "./mod.ts";
import {
  decodeReason,
  encodeFrame,
  encodeReason,
  Flag,
  FrameType,
  GoAwayCode,
  HEADER_SIZE,
} from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { encodePreface, PREFACE_FIXED_SIZE, PROTOCOL_VERSION } from "./preface.ts";
import { HandshakeError, ProtocolError } from "../errors.ts";
import { type Duplex, PIPE_KINDS } from "../../tests/helpers/pipes.ts";
import { echoHandler, within } from "../../tests/helpers/mux.ts";

const PEER = {
  protocol: PROTOCOL_VERSION,
  role: "client" as const,
  capabilities: 0,
  streamWindow: 256 * 1024,
  sessionWindow: 64 << 20,
  maxFramePayload: 64 * 1024,
  version: "1.0.0",
};

/** A hand-driven peer: writes raw bytes, and reads frames after skipping the session's preface. */
function rawPeer(end: Duplex) {
  const writer = end.writable.getWriter();
  const reader = end.readable.getReader();
  let buf = new Uint8Array(0);
  const decoder = new FrameDecoder({ maxPayload: 1 << 20 });
  let skipped = false;
  return {
    /** Queue bytes without waiting: the session may stop reading after a violation. */
    write: (b: Uint8Array) => void writer.write(b).catch(() => {}),
    /** Read frames until a GO_AWAY arrives (or EOF); return its code and reason. */
    async goAway(): Promise<{ code: number; reason: string } | null> {
      for (;;) {
        const fixed = PREFACE_FIXED_SIZE;
        if (!skipped && buf.byteLength >= fixed && buf.byteLength >= fixed + buf[fixed - 1]) {
          decoder.push(buf.subarray(fixed + buf[fixed - 1]));
          skipped = true;
        }
        if (skipped) {
          for (let f = decoder.next(); f; f = decoder.next()) {
            if (f.type === FrameType.GO_AWAY) return decodeReason(f.payload);
          }
        }
        const { value, done } = await reader.read();
        if (done) return null;
        if (skipped) decoder.push(value);
        else {
          const n = new Uint8Array(buf.byteLength + value.byteLength);
          n.set(buf);
          n.set(value, buf.byteLength);
          buf = n;
        }
      }
    },
    release() {
      writer.releaseLock();
      reader.releaseLock();
    },
  };
}

const SYN1 = () => encodeFrame(FrameType.DATA, Flag.SYN, 1, 1, new Uint8Array([0x78]));

const violations: [string, () => Uint8Array[], RegExp][] = [
  [
    "an oversized frame",
    () => [encodeFrame(FrameType.DATA, 0, 1, 70000)],
    /oversized frame: DATA of 70000 bytes/,
  ],
  ["an unknown frame type", () => [encodeFrame(7 as FrameType, 0, 1, 0)], /unknown frame type 7/],
  [
    "a stream id of the wrong parity",
    () => [encodeFrame(FrameType.DATA, Flag.SYN, 2, 1, new Uint8Array([0x78]))],
    /opened stream 2 of the wrong parity/,
  ],
  ["a reused stream id", () => [SYN1(), SYN1()], /stream id 1 reused/],
  [
    "DATA on a stream never opened",
    () => [encodeFrame(FrameType.DATA, 0, 9, 1, new Uint8Array(1))],
    /frame for stream 9, which was never opened/,
  ],
  ["stream window overflow", () => {
    // The session's initial stream window is 16 KiB; nobody reads stream "x".
    const chunk = new Uint8Array(16 * 1024);
    return [
      SYN1(),
      ...Array.from(
        { length: 2 },
        () => encodeFrame(FrameType.DATA, 0, 1, chunk.byteLength, chunk),
      ),
    ];
  }, /stream window overflow on stream 1: 16384 bytes sent with only 0 of credit/],
  [
    "a target that is not UTF-8",
    () => [encodeFrame(FrameType.DATA, Flag.SYN, 1, 2, new Uint8Array([0xff, 0xfe]))],
    /not UTF-8/,
  ],
  [
    "stray text after the handshake",
    () => [new TextEncoder().encode("panic: oh no\n")],
    /bad frame version 0x70.*"panic: oh no"/,
  ],
];

for (const kind of PIPE_KINDS) {
  describe(`mux protocol violations over ${kind.name}`, () => {
    for (const [what, frames, pattern] of violations) {
      test(`protocol violation - ${what} ends the session with GO_AWAY and a reason`, async () => {
        const pipe = await kind.make();
        const peer = rawPeer(pipe.a);
        try {
          peer.write(encodePreface(PEER));
          const session = await Session.connect(pipe.b.readable, pipe.b.writable, {
            role: "server",
            version: "1.0.0",
            keepaliveMs: 0,
            onStream: (i) => {
              if (i.target === "x") i.accept();
              else echoHandler(i);
            },
          });
          for (const f of frames()) peer.write(f);
          const goAway = await within(5000, peer.goAway(), "GO_AWAY");
          assert.ok(goAway, "a GO_AWAY frame arrived");
          assert.equal(goAway.code, GoAwayCode.PROTOCOL_ERROR);
          assert.match(goAway.reason, pattern);
          const info = await within(5000, session.closed, "session closed");
          assert.ok(info.error instanceof ProtocolError);
          assert.equal(info.remote, false);
          assert.match(info.reason, pattern);
        } finally {
          peer.release();
          await pipe.dispose();
        }
      });
    }

    test("handshake - stray bytes before the preface are reported, with what they were", async () => {
      const pipe = await kind.make();
      const w = pipe.a.writable.getWriter();
      try {
        w.write(new TextEncoder().encode("Warning: Not implemented: process.on SIGWINCH\n")).catch(
          () => {},
        );
        await assert.rejects(
          Session.connect(pipe.b.readable, pipe.b.writable, {
            role: "server",
            version: "1.0.0",
            keepaliveMs: 0,
            names: { local: "the Windows agent", peer: "the Linux daemon" },
          }),
          (e: unknown) =>
            e instanceof HandshakeError && e.code === "BAD_MAGIC" &&
            e.message.includes(
              "the Linux daemon sent unexpected bytes instead of the wsl2proxy handshake",
            ) &&
            e.message.includes('"Warning: Not implemented') &&
            e.message.includes("the pipe must carry only the multiplexer"),
        );
      } finally {
        w.releaseLock();
        await pipe.dispose();
      }
    });

    test("handshake - a protocol version mismatch names the older side and what to do", async () => {
      const pipe = await kind.make();
      const w = pipe.a.writable.getWriter();
      try {
        w.write(
          encodePreface({
            ...PEER,
            role: "server",
            protocol: PROTOCOL_VERSION + 1,
            version: "9.0.0",
          }),
        ).catch(() => {});
        await assert.rejects(
          Session.connect(pipe.b.readable, pipe.b.writable, {
            role: "client",
            version: "1.0.0",
            keepaliveMs: 0,
            names: { local: "the Linux daemon", peer: "the Windows agent" },
            mismatchHint: "Run `wsl2proxy restart` to install the matching agent.",
          }),
          (e: unknown) =>
            e instanceof HandshakeError && e.code === "VERSION_MISMATCH" &&
            e.message ===
              `version mismatch: the Linux daemon is wsl2proxy 1.0.0 (protocol ${PROTOCOL_VERSION}) but the Windows agent ` +
                `is wsl2proxy 9.0.0 (protocol ${
                  PROTOCOL_VERSION + 1
                }); the Linux daemon is older than the Windows agent. ` +
                "Run `wsl2proxy restart` to install the matching agent.",
        );
      } finally {
        w.releaseLock();
        await pipe.dispose();
      }
    });

    test("handshake - EOF before the preface says the peer closed the pipe", async () => {
      const pipe = await kind.make();
      try {
        pipe.a.writable.close().catch(() => {});
        await assert.rejects(
          Session.connect(pipe.b.readable, pipe.b.writable, {
            role: "server",
            version: "1.0.0",
            keepaliveMs: 0,
          }),
          (e: unknown) =>
            e instanceof HandshakeError && e.code === "HANDSHAKE_EOF" &&
            /closed the pipe before completing the handshake/.test(e.message),
        );
      } finally {
        await pipe.dispose();
      }
    });

    test("handshake - a silent peer times out with a clear error", async () => {
      const pipe = await kind.make();
      try {
        await assert.rejects(
          Session.connect(pipe.b.readable, pipe.b.writable, {
            role: "server",
            version: "1.0.0",
            keepaliveMs: 0,
            handshakeTimeoutMs: 100,
          }),
          (e: unknown) => e instanceof HandshakeError && e.code === "HANDSHAKE_TIMEOUT",
        );
      } finally {
        await pipe.dispose();
      }
    });

    test("GO_AWAY - a peer's GO_AWAY with an error code ends the session with that reason", async () => {
      const pipe = await kind.make();
      const peer = rawPeer(pipe.a);
      try {
        peer.write(encodePreface(PEER));
        const session = await Session.connect(pipe.b.readable, pipe.b.writable, {
          role: "server",
          version: "1.0.0",
          keepaliveMs: 0,
        });
        const bye = encodeReason(GoAwayCode.INTERNAL_ERROR, "out of memory");
        peer.write(encodeFrame(FrameType.GO_AWAY, 0, 0, bye.byteLength, bye));
        const info = await within(5000, session.closed, "closed");
        assert.equal(info.remote, true);
        assert.match(info.reason, /GO_AWAY code 2\): out of memory/);
        assert.equal(HEADER_SIZE, 12);
      } finally {
        peer.release();
        await pipe.dispose();
      }
    });
  });
}
