import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { MuxStream } from "./mod.ts";
import { PIPE_KINDS, type PipeKind } from "../../tests/helpers/pipes.ts";
import { percentile, sessionPair, timeRoundTrips, within } from "../../tests/helpers/mux.ts";

const STALLED = 1000;
const BULK = 64 << 20;
const TRIPS = 200;
const WARMUP = 20;
const BUDGET = 64 << 20;

/** Write 64 KiB chunks until the stream is reset. */
async function flood(s: MuxStream): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(7);
  const w = s.writable.getWriter();
  try {
    for (;;) await w.write(chunk);
  } catch { /* reset when the test ends */ }
}

async function sendBulk(s: MuxStream, size: number): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(9);
  const w = s.writable.getWriter();
  for (let n = 0; n < size; n += chunk.byteLength) await w.write(chunk);
  await w.close();
}

/**
 * `stalledCount` streams fed as fast as their credit allows, each read for
 * `readFirst` bytes and then never again; then 64-byte round trips and a
 * bulk stream of `bulkSize` bytes on the same session.
 */
async function stalledScenario(
  kind: PipeKind,
  stalledCount: number,
  readFirst: number,
  bulkSize: number,
): Promise<void> {
  let floods = 0;
  const flooded: Promise<void>[] = [];
  const pair = await sessionPair(kind, {
    sessionWindow: BUDGET,
    onStream: (i) => {
      const s = i.accept();
      if (i.target === "flood") {
        floods++;
        flooded.push(flood(s));
      } else if (i.target === "bulk") sendBulk(s, bulkSize).catch(() => {});
      else s.readable.pipeTo(s.writable).catch(() => {});
    },
  }, { sessionWindow: BUDGET });
  const { client } = pair;
  const stalled: MuxStream[] = [];
  try {
    for (let i = 0; i < stalledCount; i += 100) {
      stalled.push(
        ...await Promise.all(
          Array.from({ length: Math.min(100, stalledCount - i) }, () => client.open("flood")),
        ),
      );
    }
    assert.equal(floods, stalledCount);
    // Read each for a while (its window grows), then never again: a consumer that hangs.
    if (readFirst > 0) {
      await Promise.all(stalled.map(async (s) => {
        const r = s.readable.getReader();
        for (let n = 0; n < readFirst;) n += (await r.read()).value!.byteLength;
        r.releaseLock();
      }));
    }
    // Round trips of pings behind the floods: they have sent what their credit allows.
    for (let i = 0; i < 5; i++) await client.ping();

    const echo = await client.open("echo");
    const reader = echo.readable.getReader();
    const writer = echo.writable.getWriter();
    // The first trips run while the floods' data still crosses the pipe: not counted.
    const times = await timeRoundTrips(writer, reader, {
      warmup: WARMUP,
      trips: TRIPS,
      what: `behind ${stalledCount} stalled streams`,
    });
    // The bulk stream after the round trips: run together, on this shared 2-core machine the
    // round trips would time the bulk copying and the collector rather than the stalled streams.
    const bulk = await client.open("bulk");
    const bulkRead = (async () => {
      let n = 0;
      for await (const c of bulk.readable) n += c.byteLength;
      return n;
    })();
    assert.equal(await within(120_000, bulkRead, "the bulk stream"), bulkSize);
    const p99 = percentile(times, 0.99);
    assert.ok(p99 <= 50, `p99 round trip ${p99.toFixed(1)} ms (limit 50 ms)`);
    const held = client.stats().bufferedIn;
    assert.ok(held <= BUDGET, `${held} bytes held unread, budget ${BUDGET}`);
    assert.ok(held > 0, "the stalled streams hold their initial windows");
    await writer.close();
  } finally {
    for (const s of stalled) s.reset();
    await Promise.all(flooded);
    await pair.dispose();
  }
}

for (const kind of PIPE_KINDS) {
  describe(`mux stalled readers over ${kind.name}`, () => {
    test("stalled readers - 1,000 streams that never read leave round trips and a 64 MiB bulk stream moving, within the budget", async () => {
      await stalledScenario(kind, STALLED, 0, BULK);
    });

    test("stalled readers - 300 streams that stop reading after 384 KiB leave round trips and a 16 MiB bulk stream moving", async () => {
      await stalledScenario(kind, 300, 384 * 1024, 16 << 20);
    });
  });
}
