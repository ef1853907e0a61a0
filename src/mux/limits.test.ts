import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Session } from "./mod.ts";
import { decodeReason, encodeFrame, Flag, FrameType, GoAwayCode } from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { MAX_QUEUED_ANSWERS } from "./outbound.ts";
import { encodePreface, PREFACE_FIXED_SIZE, PROTOCOL_VERSION } from "./preface.ts";
import { PIPE_KINDS } from "../../tests/helpers/pipes.ts";
import {
  echoHandler,
  pattern,
  readAll,
  sessionPair,
  within,
  writeAll,
} from "../../tests/helpers/mux.ts";

const SYNS = 40_000;

for (const kind of PIPE_KINDS) {
  describe(`mux limits over ${kind.name}`, () => {
    test("frame size - sessions with different maxFramePayload talk, each sending at most the smaller", async () => {
      const p = await sessionPair(
        kind,
        { maxFramePayload: 16 * 1024, onStream: echoHandler },
        { maxFramePayload: 256 * 1024, maxWriteBatch: 512 * 1024 },
      );
      try {
        assert.equal(p.client.peer.maxFramePayload, 16 * 1024);
        assert.equal(p.server.peer.maxFramePayload, 256 * 1024);
        const s = await p.client.open("echo");
        const data = pattern(2 << 20, 3);
        const [, got] = await Promise.all([
          writeAll(s.writable, data, 200 * 1024),
          readAll(s.readable),
        ]);
        assert.deepEqual(got, data);
        assert.equal(p.client.isClosed || p.server.isClosed, false);
      } finally {
        await p.dispose();
      }
    });

    test("SYN flood - a peer that opens streams and never reads gets GO_AWAY once its answers pile up", async () => {
      const pipe = await kind.make();
      const writer = pipe.a.writable.getWriter();
      try {
        writer.write(encodePreface({
          protocol: PROTOCOL_VERSION,
          role: "client",
          capabilities: 0,
          streamWindow: 16384,
          sessionWindow: 64 << 20,
          maxFramePayload: 65536,
          version: "flood",
        })).catch(() => {});
        const session = await Session.connect(pipe.b.readable, pipe.b.writable, {
          role: "server",
          version: "1.0.0",
          keepaliveMs: 0,
          closeTimeoutMs: 30_000,
          onStream: (i) => i.reject(1, "no"),
        });
        const syns = new Uint8Array(SYNS * 13);
        for (let i = 0; i < SYNS; i++) {
          syns.set(
            encodeFrame(FrameType.DATA, Flag.SYN, 2 * i + 1, 1, new Uint8Array([0x78])),
            i * 13,
          );
        }
        writer.write(syns).catch(() => {});
        // Only now read what the session answered: the RSTs it could write, then GO_AWAY.
        const reader = pipe.a.readable.getReader();
        const decoder = new FrameDecoder({ maxPayload: 1 << 20 });
        let head: Uint8Array | null = new Uint8Array(0);
        let answers = 0;
        const goAway = await within(
          60_000,
          (async () => {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) throw new Error(`EOF after ${answers} answers and no GO_AWAY`);
              if (head !== null) {
                const joined: Uint8Array = new Uint8Array(head.byteLength + value.byteLength);
                joined.set(head);
                joined.set(value, head.byteLength);
                const fixed = PREFACE_FIXED_SIZE;
                if (joined.byteLength < fixed || joined.byteLength < fixed + joined[fixed - 1]) {
                  head = joined;
                  continue;
                }
                decoder.push(joined.subarray(fixed + joined[fixed - 1]));
                head = null;
              } else decoder.push(value);
              for (let f = decoder.next(); f; f = decoder.next()) {
                if (f.type === FrameType.GO_AWAY) return decodeReason(f.payload);
                if (f.flags === Flag.RST) answers++;
              }
            }
          })(),
          "GO_AWAY",
        );
        reader.releaseLock();
        assert.equal(goAway.code, GoAwayCode.OVERLOADED);
        assert.match(goAway.reason, /does not read its answers: \d+ ACK\/RST frames waiting/);
        assert.ok(answers < SYNS - MAX_QUEUED_ANSWERS, `${answers} answers were written`);
        const info = await within(30_000, session.closed, "the session to end");
        assert.match(info.reason, /does not read its answers/);
        assert.equal(info.remote, false);
      } finally {
        writer.releaseLock();
        await pipe.dispose();
      }
    });
  });
}
