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
import { randomBytes } from "node:crypto";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import { getRuntime } from "../../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "../helpers/cli.ts";
import { SETUP_TIMEOUT, SKIP_WINE, stopWineServer, wine } from "./_wine_env.ts";
import { buildWinFixture, WinPipeServer } from "./_win_fixtures.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [1, 100, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB];
const PARALLEL = 16;
/** A round trip that makes no progress for this long has stalled (it is cut and reported). */
const STALL_MS = 20_000;
/** How long a pipe connection may stay open at the server after its client is done. */
const IDLE_MS = 30_000;
const CASE_TIMEOUT = 180_000;
/** Connection i sends SOURCE[i * STRIDE ...], so crossed streams cannot pass as echoes. */
const STRIDE = 4099;
const SOURCE = new Uint8Array(randomBytes(16 * MiB + PARALLEL * STRIDE));
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
    return { box, length, echo, socks };
  })();
  return bridge;
}

/** What one round trip got back. */
interface Outcome {
  sent: number;
  /** Bytes that came back, all equal to what was sent up to here. */
  got: number;
  /** Offset of the first byte back that differs from the one sent, or -1. */
  firstDiff: number;
  /** How the read side ended: "eof", "closed by us", "stalled" or the error's code. */
  end: string;
}

/**
 * Connect to `sock`, write `payload` (after its u32 BE length when
 * `lengthPrefix`), shut down the write side at once, and read the echo: to
 * EOF, or (`!lengthPrefix`) until `payload.length` bytes are back, then close.
 */
async function halfCloseRoundTrip(
  sock: string,
  payload: Uint8Array,
  lengthPrefix: boolean,
): Promise<Outcome> {
  const conn = await getRuntime().connectUnix(sock);
  const out: Outcome = { sent: payload.length, got: 0, firstDiff: -1, end: "" };
  const writing = (async () => {
    const writer = conn.writable.getWriter();
    if (lengthPrefix) {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, payload.length);
      await writer.write(len);
    }
    await writer.write(payload);
    await writer.close(); // shutdown(SHUT_WR): the request is complete
  })().catch((err) => err as Error);
  const reader = conn.readable.getReader();
  try {
    for (;;) {
      if (!lengthPrefix && out.got === payload.length) {
        out.end = "closed by us";
        break;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        timer = setTimeout(() => resolve("stalled"), STALL_MS);
      });
      const r = await Promise.race([reader.read(), stalled]).finally(() => clearTimeout(timer));
      if (r === "stalled") {
        out.end = "stalled";
        break;
      }
      if (r.done) {
        out.end = "eof";
        break;
      }
      const chunk = r.value;
      for (let i = 0; i < chunk.length && out.firstDiff < 0; i++) {
        if (out.got + i >= payload.length || chunk[i] !== payload[out.got + i]) {
          out.firstDiff = out.got + i;
        }
      }
      out.got += chunk.length;
    }
  } catch (err) {
    out.end = (err as { code?: string }).code ?? String(err);
  } finally {
    conn.close();
  }
  const wrote = await writing;
  if (wrote instanceof Error && out.end === "eof") out.end = `write failed: ${wrote.message}`;
  return out;
}

function payloadFor(i: number, size: number): Uint8Array {
  return SOURCE.subarray(i * STRIDE, i * STRIDE + size);
}

function describeOutcomes(outcomes: Outcome[]): string {
  return outcomes.map((o, i) =>
    `#${i}: ${o.got} of ${o.sent} bytes back, end ${o.end}` +
    (o.firstDiff >= 0 ? `, first difference at ${o.firstDiff}` : "")
  ).join("\n");
}

function assertAllExact(outcomes: Outcome[], lengthPrefix: boolean, log: string): void {
  const wantEnd = lengthPrefix ? "eof" : "closed by us";
  const bad = outcomes.filter((o) => o.got !== o.sent || o.firstDiff >= 0 || o.end !== wantEnd);
  if (bad.length === 0) return;
  const tail = log.split("\n").filter((l) => /warn|error/i.test(l)).slice(-10).join("\n");
  assert.fail(
    `${bad.length} of ${outcomes.length} round trips not byte-exact:\n` +
      `${describeOutcomes(outcomes)}\ndaemon warnings/errors (last 10):\n${tail}`,
  );
}

function sizeName(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;
}

const MODES = [
  { mode: "length", lengthPrefix: true, what: "the server ends the reply" },
  { mode: "echo", lengthPrefix: false, what: "the client reads N bytes and closes" },
] as const;

describe("half-close through the Windows agent to a named pipe, under Wine", () => {
  after(async () => {
    await stopBridge?.();
    await stopWineServer();
  });

  for (const { mode, lengthPrefix, what } of MODES) {
    for (const parallel of [1, PARALLEL]) {
      for (const size of SIZES) {
        const how = parallel === 1 ? "sequential" : `${parallel} in parallel`;
        test(
          `wine half-close - ${mode} pipe (${what}), ${
            sizeName(size)
          }, ${how}: byte-exact, no pipe left open`,
          { skip: SKIP_WINE || PENDING_FIX, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
          async () => {
            const b = await theBridge();
            const server = mode === "length" ? b.length : b.echo;
            const sock = mode === "length" ? b.socks.LENGTH_PIPE : b.socks.ECHO_PIPE;
            const outcomes = await Promise.all(
              Array.from(
                { length: parallel },
                (_, i) => halfCloseRoundTrip(sock, payloadFor(i, size), lengthPrefix),
              ),
            );
            assertAllExact(outcomes, lengthPrefix, b.box.log());
            await server.waitIdle(IDLE_MS);
          },
        );
      }
    }
  }

  for (const { mode, lengthPrefix } of MODES) {
    test(
      `wine half-close - a client that writes 64 KiB to the ${mode} pipe, half-closes and vanishes leaves no pipe open`,
      { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
      async () => {
        const b = await theBridge();
        const server = mode === "length" ? b.length : b.echo;
        const sock = mode === "length" ? b.socks.LENGTH_PIPE : b.socks.ECHO_PIPE;
        const before = server.lines().length;
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
        await server.waitIdle(IDLE_MS);
      },
    );
  }
});
