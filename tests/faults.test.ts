/**
 * Faults, injected into the real daemon and agent processes: the agent
 * killed, crashing at start, frozen and resumed, writing junk; the target
 * missing; the daemon killed; a client that never reads.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import { agentCommandYaml, parseShExports, Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern, readAll, within, writeAll } from "./helpers/mux.ts";

const rt = getRuntime();

/** Read until EOF or error; resolves either way with what arrived and how it ended. */
async function drain(conn: Conn): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const c of conn.readable) bytes += c.byteLength;
    return { bytes, error: null };
  } catch (error) {
    return { bytes, error };
  }
}

/**
 * Wait until a process that is not our child has exited. There is no event
 * for that, so this polls /proc with a bound.
 */
async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (rt.isAlive(pid)) {
    if (performance.now() > deadline) {
      throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Poll `check` (bounded) where the daemon offers no event to wait on. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function echoBridge(
  box: Sandbox,
  extraSockets: { env: string; linux: string; windows: string }[] = [],
) {
  const echo = await startEchoServer(join(box.dir, "echo.sock"));
  box.writeBridgeConfig([{
    env: "ECHO",
    linux: "{runtime_dir}/echo.sock",
    windows: `unix://${echo.path}`,
  }, ...extraSockets]);
  const started = await box.cli(["start"]);
  assert.equal(started.code, 0, started.stderr);
  const sock = parseShExports(text(started)).ECHO;
  return { echo, sock };
}

async function echoOnce(sock: string, size: number, seed: number): Promise<void> {
  const conn = await rt.connectUnix(sock);
  try {
    const data = pattern(size, seed);
    const [, got] = await Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]);
    assert.deepEqual(got, data);
  } finally {
    conn.close();
  }
}

describe("faults", () => {
  test("agent killed mid-transfer - its streams close (no hang), the agent restarts, new connections work", async () => {
    const box = new Sandbox();
    const { echo, sock } = await echoBridge(box);
    try {
      const before = await box.waitAgent();
      const conn = await rt.connectUnix(sock);
      const w = conn.writable.getWriter();
      const writing = (async () => {
        for (let i = 0; i < 4096; i++) await w.write(new Uint8Array(64 * 1024));
      })().catch((e) => e);
      // Echoed bytes prove the stream is established end to end before the kill
      // (an open still in flight would be retried on the next agent instead).
      const reader = conn.readable.getReader();
      const first = await within(10_000, reader.read(), "first echoed bytes");
      assert.ok(first.value && first.value.byteLength > 0);
      const reading = (async () => {
        let bytes = first.value!.byteLength;
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) {
            bytes += r.value.byteLength;
          }
          return { bytes, error: null as unknown };
        } catch (error) {
          return { bytes, error };
        }
      })();
      process.kill(before.agent.pid!, "SIGKILL");
      const killedAt = performance.now();
      const ended = await within(10_000, reading, "the client sees a close");
      assert.ok(ended.bytes < 4096 * 64 * 1024, "the transfer was cut, not completed");
      await within(10_000, writing, "the client's writes end too");
      conn.close();
      // A connection made right away waits for the restarted agent and goes through.
      await within(10_000, echoOnce(sock, 100_000, 3), "echo after the restart");
      const recoveredMs = performance.now() - killedAt;
      const after = await box.waitAgent(before.agent.pid!);
      assert.notEqual(after.agent.pid, before.agent.pid);
      assert.equal(after.agent.restarts, 1);
      assert.ok(recoveredMs < 10_000, `recovered in ${recoveredMs.toFixed(0)} ms`);
      assert.match(box.log(), /agent ended; restarting in 100 ms/);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("agent dies while a connection's open is unanswered - the connection is carried over to the next agent", async () => {
    const box = new Sandbox();
    const { echo, sock } = await echoBridge(box);
    try {
      const before = await box.waitAgent();
      process.kill(before.agent.pid!, "SIGSTOP"); // the open below can be sent but not answered
      const conn = await rt.connectUnix(sock);
      const data = pattern(300_000, 17);
      const echoed = Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]);
      // The daemon has taken the connection once the status counts it.
      await waitFor(async () =>
        (await box.control({ op: "status" }))!.sockets[0].totalConnections === 1
      );
      process.kill(before.agent.pid!, "SIGKILL");
      const [, got] = await within(20_000, echoed, "echo through the next agent");
      conn.close();
      assert.deepEqual(got, data);
      const after = await box.waitAgent(before.agent.pid!);
      assert.equal(after.sockets[0].failedConnections, 0);
      assert.equal(after.agent.restarts, 1);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("agent exits at every start - the daemon stays up, backs off, and status and log say why", async () => {
    for (
      const [command, expected] of [
        [
          ["false"],
          /the agent exited with code 1\. If this repeats, run `wsl2proxy run` to watch it, check that false exists/,
        ],
        [
          ["/nonexistent/wsl2proxy.exe", "agent"],
          /cannot start the agent \(\/nonexistent\/wsl2proxy\.exe\): .*Check agent\.command/,
        ],
      ] as const
    ) {
      const box = new Sandbox();
      try {
        box.writeConfig(
          `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nagent:\n  command: ${
            JSON.stringify(command)
          }\n` +
            `sockets:\n  - env_name: X\n    linux_addr: "{runtime_dir}/x.sock"\n    windows_addr: pipe://./pipe/x\n`,
        );
        const started = await box.cli(["start"]);
        assert.equal(started.code, 0, started.stderr);
        // Give it about a second of failures: the wait ends at its timeout, by design.
        const waited = await box.control<
          { ok: boolean; status: { agent: { state: string; restarts: number; lastError: string } } }
        >(
          { op: "wait-agent", timeoutMs: 1200 },
        );
        assert.equal(waited?.ok, false);
        const agent = waited!.status.agent;
        assert.ok(["backoff", "starting"].includes(agent.state), agent.state);
        assert.ok(agent.restarts >= 2, `restarted ${agent.restarts} times`);
        assert.match(agent.lastError, expected);
        const human = text(await box.cli(["status"]));
        assert.match(human, /last error: /);
        const log = box.log();
        assert.ok(
          /restarting in 100 ms/.test(log) && /restarting in 200 ms/.test(log),
          "backoff doubles",
        );
        assert.ok(!/restarting in NaN ms/.test(log), "backoff is a number");
        assert.ok(
          log.split("\n").filter((l) => l.includes("agent started")).length <= 6,
          "backoff slows restarts down",
        );
        // The backoff is capped and the daemon still answers.
        assert.equal((await box.cli(["status", "--json"])).code, 0);
      } finally {
        await box.cleanup();
      }
    }
  });

  test("target missing - the client is closed promptly and one log line carries the Windows-side reason", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig([{
        env: "GONE",
        linux: "{runtime_dir}/gone.sock",
        windows: `unix://${join(box.dir, "nothing-here.sock")}`,
      }]);
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      await box.waitAgent();
      const conn = await rt.connectUnix(parseShExports(text(started)).GONE);
      const ended = await within(5000, drain(conn), "client closed");
      conn.close();
      assert.equal(ended.bytes, 0);
      const lines = box.log().split("\n").filter((l) =>
        l.includes("dial failed on the Windows side")
      );
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], /WARN/);
      assert.match(lines[0], /reason="[^"]*not found[^"]*nothing-here\.sock/i);
      const status = JSON.parse(text(await box.cli(["status", "--json"])));
      assert.equal(status.sockets[0].failedConnections, 1);
    } finally {
      await box.cleanup();
    }
  });

  test("daemon killed with SIGKILL - its agent exits, and the next start cleans up and starts cleanly", async () => {
    const box = new Sandbox();
    const { echo, sock } = await echoBridge(box);
    try {
      const s = await box.waitAgent();
      process.kill(s.pid, "SIGKILL");
      await waitGone(s.pid);
      await waitGone(s.agent.pid!); // stdin EOF ends the agent: no orphan
      assert.ok(existsSync(sock), "the dead daemon left its socket file behind");
      const again = await box.cli(["start"]);
      assert.equal(again.code, 0, again.stderr);
      const s2 = await box.waitAgent();
      assert.notEqual(s2.pid, s.pid);
      await echoOnce(sock, 50_000, 9);
      assert.equal(readFileSync(join(box.runtimeDir, "daemon.pid"), "utf8").trim(), String(s2.pid));
      assert.equal(existsSync(join(box.runtimeDir, "start.lock")), false);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("runtime dir removed - the daemon notices its control socket is gone and exits with its agent", async () => {
    const box = new Sandbox();
    const { echo } = await echoBridge(box);
    try {
      const s = await box.waitAgent();
      rmSync(box.runtimeDir, { recursive: true, force: true }); // as a logout cleaning /run/user would
      await waitGone(s.pid, 15_000);
      await waitGone(s.agent.pid!, 5000);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("agent frozen with SIGSTOP then resumed - nothing is lost and clients that gave up are cleaned up", async () => {
    const box = new Sandbox();
    const { echo, sock } = await echoBridge(box);
    try {
      const s = await box.waitAgent();
      const agentPid = s.agent.pid!;
      const conn = await rt.connectUnix(sock);
      const data = pattern(8 << 20, 21);
      const transfer = Promise.all([
        writeAll(conn.writable, data, 64 * 1024),
        readAll(conn.readable),
      ]);
      process.kill(agentPid, "SIGSTOP");
      try {
        // A client that gives up while the agent is frozen.
        const quitter = await rt.connectUnix(sock);
        await writeAll(quitter.writable, pattern(1000, 5), 1000, false);
        quitter.close();
        await quitter.closed;
        const frozen = JSON.parse(text(await box.cli(["status", "--json"])));
        assert.equal(frozen.agent.pid, agentPid, "no restart while merely frozen");
      } finally {
        process.kill(agentPid, "SIGCONT");
      }
      const [, got] = await within(60_000, transfer, "transfer resumes");
      conn.close();
      assert.deepEqual(got, data);
      const after = await box.waitAgent();
      assert.equal(after.agent.pid, agentPid, "the same agent carried on");
      // Cleanup of the quitter happens once the agent answers again; wait for its count to drop.
      const deadline = performance.now() + 10_000;
      let open = -1;
      while (performance.now() < deadline) {
        open = JSON.parse(text(await box.cli(["status", "--json"]))).sockets[0].openConnections;
        if (open === 0) break;
        await new Promise((r) => setTimeout(r, 50)); // no event for "the daemon closed a connection": bounded poll
      }
      assert.equal(open, 0);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("agent writes junk to stdout - the handshake names the cause, and the agent is restarted", async () => {
    const box = new Sandbox();
    try {
      const junky = [
        "sh",
        "-c",
        'printf "Warning: junk on stdout\\n"; exec "$@"',
        "sh",
        ...wsl2proxyArgv(),
        "agent",
      ];
      box.writeConfig(
        `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nagent:\n  command: ${
          JSON.stringify(junky)
        }\n` +
          `sockets:\n  - env_name: X\n    linux_addr: "{runtime_dir}/x.sock"\n    windows_addr: pipe://./pipe/x\n`,
      );
      assert.ok(agentCommandYaml().length > 0);
      assert.equal((await box.cli(["start"])).code, 0);
      const waited = await box.control<
        { ok: boolean; status: { agent: { restarts: number; lastError: string } } }
      >(
        { op: "wait-agent", timeoutMs: 2000 },
      );
      assert.equal(waited?.ok, false, "a junk-writing agent never connects");
      assert.ok(waited!.status.agent.restarts >= 1);
      assert.match(
        waited!.status.agent.lastError,
        /the Windows agent sent unexpected bytes instead of the wsl2proxy handshake: .*"Warning: junk on stdout.*the pipe must carry only the multiplexer/,
      );
      assert.match(box.log(), /agent handshake failed: the Windows agent sent unexpected bytes/);
    } finally {
      await box.cleanup();
    }
  });

  test("a client that never reads - its stream holds at most a window while other clients carry on", async () => {
    const box = new Sandbox();
    const { echo, sock } = await echoBridge(box);
    try {
      await box.waitAgent();
      const stuck = await rt.connectUnix(sock);
      const w = stuck.writable.getWriter();
      let written = 0;
      const writer = (async () => {
        for (let i = 0; i < 256; i++) {
          await w.write(new Uint8Array(64 * 1024));
          written += 64 * 1024;
        }
      })().catch(() => {});
      for (let i = 0; i < 4; i++) {
        await within(30_000, echoOnce(sock, 2 << 20, 100 + i), `other client ${i}`);
      }
      const s = JSON.parse(text(await box.cli(["status", "--json"])));
      assert.ok(
        s.agent.session.bufferedIn <= 256 * 1024,
        `daemon buffers ${s.agent.session.bufferedIn} bytes`,
      );
      assert.ok(
        written < 16 << 20,
        `the stuck client could only push ${written} bytes (socket buffers and one window each way)`,
      );
      stuck.close();
      await writer;
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });
});
