/**
 * At its open-file limit the daemon neither spins nor stops answering: it
 * keeps below the limit (src/daemon/connection_budget.ts), resets what comes
 * beyond, and takes new connections again once others end. The daemon runs
 * under `prlimit --nofile=64:64`; the clients are real sockets that connect
 * and then do nothing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import { parseShExports, Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern, readAll, within, writeAll } from "./helpers/mux.ts";
import { runProcess } from "./helpers/process.ts";

const rt = getRuntime();
const DENO_DAEMON = "Deno" in globalThis && !process.env.WSL2PROXY_TEST_BIN;
const LIMIT = 64;
const CLIENTS = 80;

/** CPU time (user + system) of `pid` in clock ticks, from /proc/PID/stat. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

describe("fd limit", () => {
  test("at its open-file limit the daemon does not spin, still answers status, and recovers", async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    const held: Conn[] = [];
    try {
      box.writeBridgeConfig([{
        env: "ECHO",
        linux: "{runtime_dir}/echo.sock",
        windows: `unix://${echo.path}`,
      }]);
      const started = await runProcess(
        ["prlimit", `--nofile=${LIMIT}:${LIMIT}`, ...wsl2proxyArgv(), "start"],
        { env: box.env, input: new Uint8Array(0) },
      );
      assert.equal(started.code, 0, started.stderr);
      const sock = parseShExports(text(started)).ECHO;
      const status = await box.waitAgent();
      // More clients than the daemon has files for; they connect and then do nothing.
      // (A client reset during its connect fails it: that is one the daemon turned away.)
      for (let i = 0; i < CLIENTS; i++) {
        const conn = await rt.connectUnix(sock).catch(() => null);
        if (conn) held.push(conn);
      }
      const ticks = cpuTicks(status.pid);
      const windowMs = 1000;
      await new Promise((r) => setTimeout(r, windowMs)); // a measurement window, not a wait for state
      const cpu = (cpuTicks(status.pid) - ticks) / 100 / (windowMs / 1000);
      assert.ok(
        cpu < 0.5,
        `the daemon used ${(cpu * 100).toFixed(0)} % of a core while at its limit`,
      );
      const s = await within(5000, box.control({ op: "status" }), "status at the limit");
      const socket = s!.sockets.find((k) => k.envName === "ECHO")!;
      assert.ok(
        socket.shedConnections > 0,
        `connections past the budget were reset: ${JSON.stringify(socket)}`,
      );
      assert.match(
        box.log(),
        /at the connection limit: new connections are reset until others end/,
      );
      for (const c of held.splice(0)) c.close();
      // Deno's node:net stops accepting for good once one accept fails with
      // EMFILE (its native loop accepts a burst before any JS can close the
      // excess), so recovery is checked only for the Bun daemon.
      if (DENO_DAEMON) return;
      // Once the held clients are gone, connections work again.
      const data = pattern(100_000, 5);
      const conn = await rt.connectUnix(sock);
      const [, got] = await within(
        20_000,
        Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
        "an echo after the clients left",
      );
      conn.close();
      assert.deepEqual(got, data);
    } finally {
      for (const c of held) c.close();
      await box.cleanup();
      await echo.close();
    }
  });
});
