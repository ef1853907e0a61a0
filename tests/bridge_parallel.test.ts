/**
 * 200 parallel connections through the real daemon and agent processes, each
 * with a random size and a half-close, all byte-exact. The target is a Unix
 * echo server that replies after the client's FIN.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { pattern, readAll, within, writeAll } from "./helpers/mux.ts";
import { startEchoServer } from "./helpers/echo_server.ts";

describe("bridge under parallel load", () => {
  test("200 parallel connections with random sizes and half-closes are all byte-exact", async () => {
    const rt = getRuntime();
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    try {
      box.writeBridgeConfig([{
        env: "ECHO_SOCK",
        linux: "{runtime_dir}/echo.sock",
        windows: `unix://${echo.path}`,
      }]);
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const sock = parseShExports(text(started)).ECHO_SOCK;
      let seed = 12345;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
      const sizes = Array.from({ length: 200 }, () => rand(3) === 0 ? rand(100) : rand(512 * 1024));
      await within(
        120_000,
        Promise.all(sizes.map(async (size, i) => {
          const conn = await rt.connectUnix(sock);
          const data = pattern(size, i + 1);
          const [, got] = await Promise.all([
            writeAll(conn.writable, data, 32 * 1024),
            readAll(conn.readable),
          ]);
          conn.close();
          assert.equal(got.byteLength, size, `connection ${i}: length`);
          assert.deepEqual(got, data, `connection ${i}: bytes`);
        })),
        "200 connections",
      );
      const status = JSON.parse(text(await box.cli(["status", "--json"])));
      assert.equal(status.sockets[0].totalConnections, 200);
      assert.equal(status.sockets[0].failedConnections, 0);
      assert.equal(status.sockets[0].bytesOut, sizes.reduce((a, b) => a + b, 0));
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });
});
