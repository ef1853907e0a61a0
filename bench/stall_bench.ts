/**
 * Stalled-reader benchmark: how many streams whose application never reads a
 * session tolerates before the streams that do read stop moving.
 *
 *   deno run -A bench/stall_bench.ts [--streams 100,300,1000] [--json FILE]
 *   bun bench/stall_bench.ts ...
 *
 * One process, two sessions over a real Unix socket pair (the runtime layer).
 * For each count N the client opens N "flood" streams and never reads them;
 * the server writes 64 KiB chunks to each as fast as the windows allow. Once
 * the floods are parked, on the same session:
 * - 64-byte round trips on an echo stream (p50/p99; a trip that takes over
 *   2 s counts as a freeze and ends that part),
 * - 64 MiB from the server on one more stream, read as it comes (MB/s),
 * both at once, and the client's `bufferedIn` (unread bytes held) at the end.
 * With `--read-first KiB` every flood stream is read that far before its
 * reader stops (a consumer that hangs after a while, rather than one that
 * never reads).
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { Session } from "../src/mux/mod.ts";
import type { MuxStream } from "../src/mux/mod.ts";
import { socketPair } from "../tests/helpers/pipes.ts";
import { percentile, runtimeLabel } from "./_util.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const counts = (flag("--streams") ?? "100,250,300,1000").split(",").map(Number);
const readFirst = Number(flag("--read-first") ?? 0) * 1024;
const ROUND_TRIPS = 300;
const BULK = 64 * 1024 * 1024;
const FREEZE_MS = 2000;

/** What one stalled-stream count measured. */
export interface StallResult {
  stalled: number;
  /** Round trips completed before a freeze (ROUND_TRIPS when none froze). */
  roundTrips: number;
  frozen: boolean;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Bulk MB/s while the round trips ran, or null when it did not complete. */
  bulkMBps: number | null;
  /** Unread bytes the client held at the end (the session budget bounds it). */
  bufferedMiB: number;
}

function timeout<T>(ms: number, p: Promise<T>): Promise<T | "timeout"> {
  let t: ReturnType<typeof setTimeout>;
  const to = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), ms)));
  return Promise.race([p, to]).finally(() => clearTimeout(t));
}

async function flood(s: MuxStream): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(7);
  const w = s.writable.getWriter();
  try {
    for (;;) await w.write(chunk);
  } catch { /* reset at the end */ }
}

async function sendBulk(s: MuxStream): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(9);
  const w = s.writable.getWriter();
  for (let n = 0; n < BULK; n += chunk.byteLength) await w.write(chunk);
  await w.close();
}

async function measure(stalled: number): Promise<StallResult> {
  const pipe = await socketPair();
  const [client, server] = await Promise.all([
    Session.connect(pipe.a.readable, pipe.a.writable, {
      role: "client",
      version: "bench",
      keepaliveMs: 0,
    }),
    Session.connect(pipe.b.readable, pipe.b.writable, {
      role: "server",
      version: "bench",
      keepaliveMs: 0,
      onStream: (i) => {
        const s = i.accept();
        if (i.target === "flood") flood(s);
        else if (i.target === "bulk") sendBulk(s).catch(() => {});
        else s.readable.pipeTo(s.writable).catch(() => {});
      },
    }),
  ]);
  const floods = await Promise.all(
    Array.from({ length: stalled }, () => client.open("flood")),
  );
  if (readFirst > 0) {
    await Promise.all(floods.map(async (f) => {
      const r = f.readable.getReader();
      for (let n = 0; n < readFirst;) n += (await r.read()).value!.byteLength;
      r.releaseLock();
    }));
  }
  // Let the floods fill whatever credit they get.
  for (let i = 0; i < 10; i++) await client.ping();
  const echo = await client.open("echo");
  const reader = echo.readable.getReader();
  const writer = echo.writable.getWriter();
  const bulkStream = await client.open("bulk");
  const bulkDone = (async () => {
    const t0 = performance.now();
    let n = 0;
    for await (const c of bulkStream.readable) n += c.byteLength;
    if (n !== BULK) throw new Error(`bulk got ${n}`);
    return BULK / ((performance.now() - t0) / 1000) / 1e6;
  })();
  const times: number[] = [];
  let frozen = false;
  const msg = new Uint8Array(64).fill(1);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = performance.now();
    const trip = (async () => {
      await writer.write(msg);
      let got = 0;
      while (got < 64) {
        const { value, done } = await reader.read();
        if (done) throw new Error("echo ended");
        got += value.byteLength;
      }
    })();
    if ((await timeout(FREEZE_MS, trip)) === "timeout") {
      frozen = true;
      trip.catch(() => {});
      break;
    }
    times.push(performance.now() - t0);
  }
  const bulk = await timeout(frozen ? 1 : 60_000, bulkDone);
  bulkDone.catch(() => {});
  const bufferedMiB = client.stats().bufferedIn / 2 ** 20;
  for (const f of floods) f.reset();
  await Promise.all([client.close(), server.close()]);
  await pipe.dispose();
  return {
    stalled,
    roundTrips: times.length,
    frozen,
    p50Ms: times.length ? percentile(times, 0.5) : null,
    p99Ms: times.length ? percentile(times, 0.99) : null,
    bulkMBps: bulk === "timeout" ? null : bulk,
    bufferedMiB,
  };
}

const results: StallResult[] = [];
for (const n of counts) {
  const r = await measure(n);
  results.push(r);
  const f = (x: number | null) => (x === null ? "-" : x.toFixed(2));
  console.error(
    `${runtimeLabel()} stalled ${n}${readFirst ? ` (after ${readFirst / 1024} KiB)` : ""}: ${
      r.frozen ? "FROZE" : "ok"
    } after ${r.roundTrips} trips, ` +
      `p50 ${f(r.p50Ms)} ms, p99 ${f(r.p99Ms)} ms, bulk ${f(r.bulkMBps)} MB/s, ` +
      `held ${r.bufferedMiB.toFixed(1)} MiB`,
  );
}
const out = flag("--json");
if (out) writeFileSync(out, JSON.stringify({ runtime: runtimeLabel(), results }, null, 2));
process.exit(0);
