/**
 * Half-close through the compiled Windows agent to a named pipe, under Wine.
 *
 * A named pipe has no half-close: when a Linux client writes a request and
 * calls shutdown(SHUT_WR), the agent must write everything it received, keep
 * the pipe open, and relay the pipe server's reply until the server closes
 * the pipe or the Linux side goes away (issue 10). The pipe servers here are a
 * separate Windows program (`tests/fixtures/win_pipe_echo.c`) in two modes:
 *
 * - `length`: the client sends a u32 big-endian length first; the server
 *   echoes exactly that many bytes and closes (a request/response end, as an
 *   agent's). The client reads to EOF.
 * - `echo`: echoes until its client disconnects; the client reads its N bytes
 *   back and then closes.
 *
 * Every case ends by waiting for the server to report no open pipe client,
 * so a pipe connection that the agent leaks fails the case that leaked it.
 * One daemon (from source, or `WSL2PROXY_TEST_BIN`) runs one agent
 * (`dist/.../wsl2proxy-windows-x64.exe` under Wine) for the whole file.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import { getRuntime } from "../../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "../helpers/cli.ts";
import { runProcess } from "../helpers/process.ts";
import {
  assertAllExact,
  ECHO_MODES,
  HALF_CLOSE_PARALLEL,
  HALF_CLOSE_SIZES,
  halfCloseRoundTrips,
  payloadFor,
  sizeName,
} from "../helpers/half_close.ts";
import { SETUP_TIMEOUT, SKIP_WINE, stopWineServer, wine } from "./_wine_env.ts";
import { buildWinFixture, WinPipeServer } from "./_win_fixtures.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** How long a pipe connection may stay open at the server after its client is done. */
const IDLE_MS = 30_000;
const CASE_TIMEOUT = 180_000;
/**
 * The round trips wait for the agent to keep a pipe open after the client's
 * half-close (issue 10, the connection-core change). Until it lands they lose
 * data (e.g. 0 of 100 B, 979,136 of 1 MiB back); set
 * WSL2PROXY_TEST_PIPE_HALF_CLOSE=1 to run them anyway.
 */
const PENDING_FIX: string | false = process.env.WSL2PROXY_TEST_PIPE_HALF_CLOSE === "1"
  ? false
  : "the agent loses data after a half-close on a named pipe until issue 10's connection-core fix lands " +
    "(WSL2PROXY_TEST_PIPE_HALF_CLOSE=1 runs it)";

interface Bridge {
  box: Sandbox;
  /** The fixture's exe and the environment to run it under Wine. */
  echoExe: string;
  wineEnv: Record<string, string | undefined>;
  length: WinPipeServer;
  echo: WinPipeServer;
  /** Bridge socket paths by env name. */
  socks: Record<string, string>;
}

let bridge: Promise<Bridge> | undefined;
let stopBridge: (() => Promise<void>) | undefined;

/** Start both pipe servers, the daemon and the Windows agent once for the file. */
function theBridge(): Promise<Bridge> {
  bridge ??= (async () => {
    const [{ env: wineEnv, vars }, agentExe, echoExe] = await Promise.all([
      wine(),
      publish(await new Builder().binary("bun", "windows-x64")),
      buildWinFixture("win_pipe_echo"),
    ]);
    const tag = `${process.pid}-${Date.now()}`;
    const [length, echo] = await Promise.all([
      WinPipeServer.start(echoExe, `w2p-hc-length-${tag}`, ["length"], wineEnv),
      WinPipeServer.start(echoExe, `w2p-hc-echo-${tag}`, ["echo"], wineEnv),
    ]);
    const box = new Sandbox("w2p-wine-hc-");
    stopBridge = async () => {
      await box.cleanup();
      await Promise.all([length.stop(), echo.stop()]);
    };
    Object.assign(box.env, vars);
    box.writeConfig(
      `log_level: debug\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
        `agent:\n  command: ${JSON.stringify(["wine", agentExe, "agent"])}\n` +
        `sockets:\n` +
        `  - env_name: LENGTH_PIPE\n    linux_addr: "{runtime_dir}/length.sock"\n` +
        `    windows_addr: "${length.url}"\n` +
        `  - env_name: ECHO_PIPE\n    linux_addr: "{runtime_dir}/echo.sock"\n` +
        `    windows_addr: "${echo.url}"\n`,
    );
    const started = await box.cli(["start"], { timeoutMs: 120_000 });
    assert.equal(started.code, 0, started.stderr + box.log());
    const socks = parseShExports(text(started));
    await box.waitAgent(undefined, 90_000);
    return { box, echoExe, wineEnv, length, echo, socks };
  })();
  return bridge;
}

describe("half-close through the Windows agent to a named pipe, under Wine", () => {
  after(async () => {
    await stopBridge?.();
    await stopWineServer();
  });

  test(
    "wine half-close - the length pipe server, read directly by 16 Windows clients, delivers every byte of 1 MiB before it ends (the fixture is faithful)",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const b = await theBridge();
      const name = b.length.url.slice("pipe://./pipe/".length);
      const leakedBefore = b.length.open();
      const r = await runProcess(["wine", b.echoExe, name, "client", String(MiB), "16"], {
        env: b.wineEnv,
        timeoutMs: CASE_TIMEOUT,
      });
      // The server flushes, then disconnects: its clients read everything, then
      // ERROR_PIPE_NOT_CONNECTED (233), which libuv reports as EPIPE, not EOF.
      assert.equal(r.code, 0, `${text(r)}\n${r.stderr}`);
      assert.equal(
        text(r).match(new RegExp(`^client \\d+ got ${MiB} error \\d+$`, "gm"))?.length,
        16,
      );
      await b.length.waitIdle(IDLE_MS, leakedBefore);
    },
  );

  for (const { mode, lengthPrefix, what } of ECHO_MODES) {
    for (const parallel of [1, HALF_CLOSE_PARALLEL]) {
      for (const size of HALF_CLOSE_SIZES) {
        const how = parallel === 1 ? "sequential" : `${parallel} in parallel`;
        const name = `${mode} pipe (${what}), ${sizeName(size)}, ${how}`;
        test(
          `wine half-close - ${name}: byte-exact, no pipe left open`,
          { skip: SKIP_WINE || PENDING_FIX, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
          async () => {
            const b = await theBridge();
            const server = mode === "length" ? b.length : b.echo;
            const sock = mode === "length" ? b.socks.LENGTH_PIPE : b.socks.ECHO_PIPE;
            const connect = () => getRuntime().connectUnix(sock);
            const leakedBefore = server.open();
            const outcomes = await halfCloseRoundTrips(connect, size, parallel, lengthPrefix);
            assertAllExact(outcomes, lengthPrefix, b.box.log());
            await server.waitIdle(IDLE_MS, leakedBefore);
          },
        );
      }
    }
  }

  for (const { mode, lengthPrefix } of ECHO_MODES) {
    test(
      `wine half-close - a client that writes 64 KiB to the ${mode} pipe, half-closes and vanishes leaves no pipe open`,
      { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
      async () => {
        const b = await theBridge();
        const server = mode === "length" ? b.length : b.echo;
        const sock = mode === "length" ? b.socks.LENGTH_PIPE : b.socks.ECHO_PIPE;
        const before = server.lines().length;
        const leakedBefore = server.open();
        const conn = await getRuntime().connectUnix(sock);
        try {
          const writer = conn.writable.getWriter();
          // 64 KiB fits in the socket buffers, so the half-close happens whether or not anyone
          // reads. The length pipe is promised 1 MiB: it waits for the rest and never ends the
          // connection itself, so only the agent noticing that the client is gone frees it.
          if (lengthPrefix) await writer.write(new Uint8Array([0, 0x10, 0, 0]));
          await writer.write(payloadFor(0, 64 * KiB));
          await writer.close();
          await server.waitLine((l) => l.startsWith("connect"), IDLE_MS, "the connection", before);
        } finally {
          conn.close(); // gone, without reading a byte of the echo
        }
        await server.waitIdle(IDLE_MS, leakedBefore);
      },
    );
  }
});
