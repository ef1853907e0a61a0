/**
 * Clients that never read, end to end: the real daemon and a Linux agent
 * (as the other end-to-end tests run them) bridge a Unix echo server; 400
 * clients write to it as fast as they can and never read what comes back.
 * Other clients must still get their round trips and a 64 MiB echo through.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern, percentile, readAll, timeRoundTrips, within, writeAll } from "./helpers/mux.ts";

const rt = getRuntime();
const STALLED = 400;
const BULK = 64 << 20;
const TRIPS = 200;
const WARMUP = 20;
const BUDGET = 64 << 20; // the daemon's and the agent's default session budget

/** Connect and write 64 KiB chunks until the connection is closed; never read. */
async function stalledClient(sock: string): Promise<{ conn: Conn; writing: Promise<void> }> {
  const conn = await rt.connectUnix(sock);
  const w = conn.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024).fill(3);
  const writing = (async () => {
    for (;;) await w.write(chunk);
  })().catch(() => {});
  return { conn, writing };
}

describe("clients that never read", () => {
  test(`stalled clients - ${STALLED} clients that never read leave round trips and a 64 MiB echo moving through the daemon and agent`, async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    box.writeBridgeConfig([{
      env: "ECHO",
      linux: "{runtime_dir}/echo.sock",
      windows: `unix://${echo.path}`,
    }]);
    const stalled: { conn: Conn; writing: Promise<void> }[] = [];
    try {
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const sock = parseShExports(text(started)).ECHO;
      await box.waitAgent();
      for (let i = 0; i < STALLED; i += 50) {
        stalled.push(...await Promise.all(Array.from({ length: 50 }, () => stalledClient(sock))));
      }
      // Every stalled client has its stream open at the agent (its echo connection accepted).
      await within(
        60_000,
        (async () => {
          while (echo.accepted() < STALLED) await new Promise((r) => setTimeout(r, 50));
        })(),
        `${STALLED} echo connections`,
      );

      const conn = await rt.connectUnix(sock);
      const reader = conn.readable.getReader();
      const writer = conn.writable.getWriter();
      const data = pattern(BULK, 5);
      const bulk = async () => {
        const c = await rt.connectUnix(sock);
        try {
          const [, got] = await Promise.all([
            writeAll(c.writable, data, 64 * 1024),
            readAll(c.readable),
          ]);
          return got;
        } finally {
          c.close();
        }
      };
      // The first trips run while the stalled clients' data still spreads through the buffers.
      const times = await timeRoundTrips(writer, reader, {
        warmup: WARMUP,
        trips: TRIPS,
        what: `beside ${STALLED} stalled clients`,
      });
      // The bulk echo after the round trips: on this shared 2-core machine its copying, in
      // this process, the daemon and the agent, would time the CPU rather than the mux.
      const got = await within(120_000, bulk(), "the 64 MiB echo");
      assert.equal(got.byteLength, BULK);
      assert.ok(Buffer.compare(got, data) === 0, "the echo came back intact");
      const p99 = percentile(times, 0.99);
      assert.ok(p99 <= 50, `p99 round trip ${p99.toFixed(1)} ms (limit 50 ms)`);
      const status = await box.control({ op: "status" });
      const held = status!.agent.session!.bufferedIn;
      assert.ok(held <= BUDGET, `the daemon holds ${held} unread bytes, budget ${BUDGET}`);
      conn.close();
    } finally {
      for (const s of stalled) s.conn.close();
      await Promise.all(stalled.map((s) => s.writing));
      await box.cleanup();
      await echo.close();
    }
  });
});
