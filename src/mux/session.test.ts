import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ResetCode } from "./mod.ts";
import { SessionClosedError, StreamResetError } from "../errors.ts";
import { PIPE_KINDS } from "../../tests/helpers/pipes.ts";
import {
  acceptQueue,
  concat,
  echoHandler,
  pattern,
  readAll,
  sessionPair,
  within,
  writeAll,
} from "../../tests/helpers/mux.ts";

for (const kind of PIPE_KINDS) {
  describe(`mux session over ${kind.name}`, () => {
    test("echo - a stream round-trips 1 MiB byte-exact", async () => {
      const p = await sessionPair(kind, { onStream: echoHandler });
      try {
        const s = await p.client.open("tcp://localhost:1");
        assert.equal(s.id % 2, 1, "the client opens odd ids");
        const data = pattern(1 << 20);
        const [, got] = await Promise.all([writeAll(s.writable, data), readAll(s.readable)]);
        assert.deepEqual(got, data);
        await s.closed;
      } finally {
        await p.dispose();
      }
    });

    test("byte transparency - all 256 byte values pass both ways, on streams opened by either side", async () => {
      const p = await sessionPair(kind, { onStream: echoHandler }, { onStream: echoHandler });
      try {
        const all = new Uint8Array(256 * 64).map((_, i) => i & 0xff);
        for (const opener of [p.client, p.server]) {
          const s = await opener.open("pipe://./pipe/x");
          assert.equal(s.id % 2, opener === p.client ? 1 : 0);
          const [, got] = await Promise.all([writeAll(s.writable, all, 1000), readAll(s.readable)]);
          assert.deepEqual(got, all);
        }
      } finally {
        await p.dispose();
      }
    });

    test("incoming stream - carries the opener's target", async () => {
      const targets: string[] = [];
      const p = await sessionPair(kind, {
        onStream: (i) => {
          targets.push(i.target);
          echoHandler(i);
        },
      });
      try {
        const s = await p.client.open("unix://C:/Users/me/ü.sock");
        await s.writable.close();
        await readAll(s.readable);
        assert.deepEqual(targets, ["unix://C:/Users/me/ü.sock"]);
      } finally {
        await p.dispose();
      }
    });

    test("half-close - reading goes on after our FIN and the peer replies after seeing EOF", async () => {
      const p = await sessionPair(kind, {
        onStream: async (i) => {
          const s = i.accept();
          const req = await readAll(s.readable); // ends at the client's FIN
          await writeAll(s.writable, concat([new TextEncoder().encode("got:"), req]));
        },
      });
      try {
        const s = await p.client.open("x");
        await writeAll(s.writable, new TextEncoder().encode("hello")); // FIN
        const reply = await readAll(s.readable);
        assert.equal(new TextDecoder().decode(reply), "got:hello");
        await within(2000, s.closed, "stream closed after FIN both ways");
        assert.equal(p.client.stats().openStreams, 0);
      } finally {
        await p.dispose();
      }
    });

    test("reject - open() fails with the far side's code and reason", async () => {
      const p = await sessionPair(kind, {
        onStream: (i) => i.reject(ResetCode.NOT_FOUND, "pipe not found"),
      });
      try {
        await assert.rejects(
          p.client.open("pipe://./pipe/nope"),
          (e: unknown) =>
            e instanceof StreamResetError && e.resetCode === ResetCode.NOT_FOUND &&
            e.message === "pipe not found" &&
            e.remote,
        );
        assert.equal(p.client.stats().openStreams, 0);
      } finally {
        await p.dispose();
      }
    });

    test("no handler - every stream is refused", async () => {
      const p = await sessionPair(kind);
      try {
        await assert.rejects(
          p.client.open("x"),
          (e: unknown) => e instanceof StreamResetError && e.resetCode === ResetCode.REFUSED,
        );
      } finally {
        await p.dispose();
      }
    });

    test("reset - the peer's reads fail with StreamResetError carrying code and reason", async () => {
      const p = await sessionPair(kind, {
        onStream: (i) => i.accept().reset(ResetCode.INTERNAL, "boom"),
      });
      try {
        const s = await p.client.open("x");
        await assert.rejects(
          readAll(s.readable),
          (e: unknown) =>
            e instanceof StreamResetError && e.resetCode === ResetCode.INTERNAL &&
            e.message === "boom",
        );
        await assert.rejects(writeAll(s.writable, new Uint8Array(10)), StreamResetError);
      } finally {
        await p.dispose();
      }
    });

    test("reset - a close() whose FIN is not yet sent fails instead of hanging", async () => {
      const p = await sessionPair(kind, { onStream: echoHandler });
      try {
        const s = await p.client.open("x");
        const closing = s.writable.close(); // FIN queued for the writer pump...
        s.reset(ResetCode.INTERNAL, "gone"); // ...and reset in the same tick, before the pump runs
        await assert.rejects(within(5000, closing, "close fails"), StreamResetError);
      } finally {
        await p.dispose();
      }
    });

    test("readable.cancel - sends RST so the peer's pending writes fail fast", async () => {
      const q = acceptQueue();
      const p = await sessionPair(kind, { onStream: q.onStream });
      try {
        const s = await p.client.open("x");
        const server = await q.next();
        const serverWrite = writeAll(server.writable, new Uint8Array(4 << 20)); // far more than a window
        const r = s.readable.getReader();
        await r.read();
        await r.cancel();
        await assert.rejects(within(5000, serverWrite, "server write fails"), StreamResetError);
      } finally {
        await p.dispose();
      }
    });

    test("deadlock - both sides writing past a window stall only that stream; others keep flowing", async () => {
      const q = acceptQueue();
      const p = await sessionPair(kind, { onStream: q.onStream });
      try {
        const a = await p.client.open("stall");
        const stalled = await q.next();
        const big = pattern(1 << 20, 7);
        // Both ends write 1 MiB (4 windows) before anyone reads: both writes block.
        const w1 = writeAll(a.writable, big);
        const w2 = writeAll(stalled.writable, big);
        // Meanwhile another stream moves 4 MiB.
        const b = await p.client.open("echo");
        const data = pattern(4 << 20, 3);
        const [, got] = await within(
          30000,
          Promise.all([writeAll(b.writable, data), readAll(b.readable)]),
          "other stream",
        );
        assert.deepEqual(got, data);
        // Now read the stalled stream from both ends; everything completes.
        const [ra, rb] = await within(
          30000,
          Promise.all([readAll(a.readable), readAll(stalled.readable), w1, w2]),
          "unstall",
        );
        assert.deepEqual(ra, big);
        assert.deepEqual(rb, big);
      } finally {
        await p.dispose();
      }
    });

    test("bidirectional bulk - symmetric 8 MiB transfers with pings in flight complete", async () => {
      let serverDone!: Promise<Uint8Array>;
      const p = await sessionPair(kind, {
        onStream: (i) => {
          const s = i.accept();
          serverDone = Promise.all([
            readAll(s.readable),
            writeAll(s.writable, pattern(8 << 20, 11)),
          ]).then(([r]) => r);
        },
      });
      try {
        const s = await p.client.open("x");
        const pings = Promise.all(Array.from({ length: 10 }, () => p.client.ping()));
        const serverPings = Promise.all(Array.from({ length: 10 }, () => p.server.ping()));
        const [, got, rtts, rtts2] = await within(
          60000,
          Promise.all([
            writeAll(s.writable, pattern(8 << 20, 5)),
            readAll(s.readable),
            pings,
            serverPings,
          ]),
          "bidirectional transfer",
        );
        assert.deepEqual(got, pattern(8 << 20, 11));
        assert.deepEqual(await within(10000, serverDone, "server side"), pattern(8 << 20, 5));
        for (const ms of [...rtts, ...rtts2]) assert.ok(ms >= 0 && ms < 30000);
        assert.ok(p.client.stats().rttMs !== null);
      } finally {
        await p.dispose();
      }
    });

    test("slow consumer - an unread stream holds at most its window and others keep going", async () => {
      const window = 256 * 1024;
      const q = acceptQueue();
      const p = await sessionPair(kind, { onStream: q.onStream });
      try {
        const s = await p.client.open("unread");
        const unread = await q.next();
        let written = 0;
        const w = s.writable.getWriter();
        const writer = (async () => {
          for (let i = 0; i < 64; i++) {
            await w.write(new Uint8Array(32 * 1024));
            written += 32 * 1024;
          }
        })();
        const b = await p.client.open("echo");
        const data = pattern(4 << 20, 9);
        const [, got] = await within(
          30000,
          Promise.all([writeAll(b.writable, data), readAll(b.readable)]),
          "echo",
        );
        assert.deepEqual(got, data);
        assert.ok(
          unread.buffered <= window,
          `unread stream buffers ${unread.buffered} > ${window}`,
        );
        assert.ok(
          p.server.stats().bufferedIn <= window,
          `session buffers ${p.server.stats().bufferedIn}`,
        );
        assert.ok(written <= window + 64 * 1024, `writer got ahead by ${written} bytes`);
        // Draining the slow stream releases the writer.
        const drained = readAll(unread.readable);
        await writer;
        await w.close();
        assert.equal((await drained).byteLength, 64 * 32 * 1024);
      } finally {
        await p.dispose();
      }
    });

    test("session end - EOF on the pipe resets open streams so nothing hangs", async () => {
      const p = await sessionPair(kind, { onStream: (i) => void i.accept() });
      try {
        const s = await p.client.open("x");
        const read = readAll(s.readable);
        await p.server.close("agent exiting");
        await assert.rejects(within(5000, read, "read fails"), SessionClosedError);
        const info = await within(5000, p.client.closed, "client session closed");
        assert.equal(info.remote, true);
        assert.match(info.reason, /GO_AWAY code 0\): agent exiting/);
        await assert.rejects(p.client.open("y"), SessionClosedError);
      } finally {
        await p.dispose();
      }
    });

    test("session end - data already complete before the end stays readable", async () => {
      const q = acceptQueue();
      const p = await sessionPair(kind, { onStream: q.onStream });
      try {
        const s = await p.client.open("x");
        const server = await q.next();
        await writeAll(server.writable, pattern(1000, 2)); // data + FIN handed to the pump
        await p.server.ping(); // frames are ordered: once the pong is back, the client has the FIN
        await p.server.close("done");
        await within(5000, p.client.closed, "client sees the end");
        assert.deepEqual(await readAll(s.readable), pattern(1000, 2));
      } finally {
        await p.dispose();
      }
    });

    test("churn - 100,000 streams opened and closed leave every table and timer empty", async () => {
      const p = await sessionPair(kind, { onStream: echoHandler, keepaliveMs: 60000 }, {
        keepaliveMs: 60000,
      });
      try {
        const one = new Uint8Array([42]);
        const batch = 200;
        for (let i = 0; i < 100000; i += batch) {
          await Promise.all(Array.from({ length: batch }, async () => {
            const s = await p.client.open("x");
            await writeAll(s.writable, one);
            const got = await readAll(s.readable);
            assert.equal(got.byteLength, 1);
            await s.closed;
          }));
        }
        await p.client.ping(); // a round trip flushes the last FINs
        await p.server.ping();
        for (const side of [p.client, p.server]) {
          const t = side._internals();
          assert.deepEqual({ ...t, keepaliveTimers: 0 }, {
            streams: 0,
            opening: 0,
            pings: 0,
            creditDue: 0,
            ready: 0,
            control: 0,
            keepaliveTimers: 0,
          });
        }
        assert.equal(p.client.stats().totalStreams, 100000);
        await p.client.close();
        assert.equal(p.client._internals().keepaliveTimers, 0, "keepalive timer cleared on close");
      } finally {
        await p.dispose();
      }
    });
  });
}
