import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Session, WRITES_COMPLETE } from "./mod.ts";
import type { PipePair } from "../../tests/helpers/pipes.ts";
import { echoHandler, pattern, readAll, within, writeAll } from "../../tests/helpers/mux.ts";

/**
 * A pipe whose writable copies each chunk before its write resolves (as an OS
 * pipe does) and records the buffers it was handed; marked with
 * WRITES_COMPLETE when `marked`.
 */
function copyingPipe(marked: boolean): { pair: PipePair; seen: ArrayBufferLike[][] } {
  const seen: ArrayBufferLike[][] = [[], []];
  const half = (i: number) => {
    const t = new TransformStream<Uint8Array, Uint8Array>();
    const w = t.writable.getWriter();
    const writable = new WritableStream<Uint8Array>({
      async write(chunk) {
        seen[i].push(chunk.buffer);
        await w.write(chunk.slice());
      },
      close: () => w.close(),
      abort: (e) => w.abort(e),
    });
    if (marked) Object.defineProperty(writable, WRITES_COMPLETE, { value: true });
    return { readable: t.readable, writable };
  };
  const ab = half(0);
  const ba = half(1);
  return {
    seen,
    pair: {
      a: { readable: ba.readable, writable: ab.writable },
      b: { readable: ab.readable, writable: ba.writable },
      dispose: async () => {
        await Promise.allSettled([ab.writable.abort(), ba.writable.abort()]);
      },
    },
  };
}

async function echoOver(marked: boolean) {
  const { pair, seen } = copyingPipe(marked);
  const opts = { version: "1.0.0", keepaliveMs: 0 };
  const [client, server] = await Promise.all([
    Session.connect(pair.a.readable, pair.a.writable, { ...opts, role: "client" }),
    Session.connect(pair.b.readable, pair.b.writable, {
      ...opts,
      role: "server",
      onStream: echoHandler,
    }),
  ]);
  try {
    // Four streams at once, 1 MiB each: many batches, several streams per batch.
    await within(
      60_000,
      Promise.all([1, 2, 3, 4].map(async (seed) => {
        const s = await client.open("tcp://localhost:1");
        const data = pattern(1 << 20, seed);
        const [, got] = await Promise.all([
          writeAll(s.writable, data, 48 * 1024),
          readAll(s.readable),
        ]);
        assert.deepEqual(got, data, `stream ${seed}: bytes`);
      })),
      "echo",
    );
  } finally {
    await Promise.all([client.close(), server.close()]);
    await pair.dispose();
  }
  return seen;
}

describe("mux outbound batch buffer", () => {
  test("outbound - a writable marked WRITES_COMPLETE gets one reused buffer, and every byte arrives", async () => {
    const seen = await echoOver(true);
    for (const buffers of seen) {
      const large = buffers.filter((b) => b.byteLength >= 64 * 1024);
      assert.ok(large.length > 10, "many large batches were written");
      assert.equal(new Set(large).size, 1, "all large batches share one buffer");
    }
  });

  test("outbound - an unmarked writable gets a fresh buffer for every batch", async () => {
    const seen = await echoOver(false);
    for (const buffers of seen) {
      const large = buffers.filter((b) => b.byteLength >= 64 * 1024);
      assert.ok(large.length > 10, "many large batches were written");
      assert.equal(new Set(large).size, large.length, "no buffer is handed out twice");
    }
  });
});
