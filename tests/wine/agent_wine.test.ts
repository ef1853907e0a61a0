/**
 * The compiled Windows agent under Wine, started by the real daemon: the
 * sandbox's `wsl2proxy start` (from source, or `WSL2PROXY_TEST_BIN`) runs
 * `wine dist/wsl2proxy-windows-x64.exe agent` through `agent.command`; the
 * agent dials a named pipe served by another Windows program under Wine
 * (smoke.exe's `pipe-server` mode), and a Linux client gets its bytes back
 * through the bridge's Unix socket.
 *
 * The Windows binary comes from scripts/build.ts (cached by source hash).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import { getRuntime } from "../../src/runtime/mod.ts";
import { VERSION } from "../../src/version.ts";
import { parseShExports, Sandbox, text } from "../helpers/cli.ts";
import { within } from "../helpers/mux.ts";
import { startProcess } from "../helpers/process.ts";
import { SETUP_TIMEOUT, SKIP_WINE, wine } from "./_wine_env.ts";

/** The Windows build: Bun's (deno.exe does not run under Wine). */
async function windowsAgent(): Promise<string> {
  return await publish(await new Builder().binary("bun", "windows-x64"));
}

/** Send `data` through the Unix socket at `path`; resolves with the reply once as long. */
async function roundTrip(path: string, data: Uint8Array): Promise<Uint8Array> {
  const conn = await getRuntime().connectUnix(path);
  try {
    const reader = conn.readable.getReader();
    const writer = conn.writable.getWriter();
    const sent = writer.write(data);
    const got = new Uint8Array(data.length);
    let n = 0;
    while (n < data.length) {
      const { value, done } = await reader.read();
      if (done) break;
      if (n + value.length > data.length) throw new Error("more bytes back than were sent");
      got.set(value, n);
      n += value.length;
    }
    await sent;
    if (n < data.length) throw new Error(`the connection ended after ${n} of ${data.length} bytes`);
    return got;
  } finally {
    conn.close();
  }
}

/** Index of the first byte where `a` and `b` differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

describe("the Windows agent under Wine", () => {
  test(
    "wine agent - the daemon starts wsl2proxy-windows-x64.exe under Wine and a Unix client reaches a named pipe byte-exact",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT },
    async () => {
      const [{ exe: smoke, env: wineEnv, vars }, agentExe] = await Promise.all([
        wine(),
        windowsAgent(),
      ]);
      const pipe = `wsl2proxy-agent-wine-${process.pid}-${Date.now()}`;
      const server = startProcess(["wine", smoke, "pipe-server", pipe], {
        env: wineEnv,
        timeoutMs: SETUP_TIMEOUT,
      });
      const box = new Sandbox("w2p-wine-");
      Object.assign(box.env, vars);
      try {
        await server.waitForStdout("ready\n".length);
        box.writeConfig(
          `log_level: debug\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
            `agent:\n  command: ${JSON.stringify(["wine", agentExe, "agent"])}\n` +
            `sockets:\n  - env_name: WINE_PIPE\n    linux_addr: "{runtime_dir}/pipe.sock"\n` +
            `    windows_addr: "pipe://./pipe/${pipe}"\n`,
        );
        const started = await box.cli(["start"], { timeoutMs: 120_000 });
        assert.equal(started.code, 0, started.stderr + box.log());
        const sock = parseShExports(text(started)).WINE_PIPE;
        assert.ok(sock, text(started));

        // The agent's preface names its runtime's version: this is the Windows build talking.
        const status = await box.waitAgent(undefined, 90_000);
        assert.deepEqual(status.agent.command, ["wine", agentExe, "agent"]);
        assert.equal(status.agent.version, VERSION);
        const data = new Uint8Array(randomBytes(256 * 1024));
        const got = await within(60_000, roundTrip(sock, data), "echo through the named pipe");
        assert.equal(firstDifference(got, data), -1, "first byte that differs");
        const after = await box.control({ op: "status" });
        assert.equal(after?.sockets[0].totalConnections, 1);
        assert.equal(after?.sockets[0].failedConnections, 0);
      } finally {
        await box.cleanup();
        server.closeStdin(); // pipe-server's stop signal
        await within(30_000, server.exited, "pipe-server exit").catch(() => server.kill());
      }
    },
  );
});
