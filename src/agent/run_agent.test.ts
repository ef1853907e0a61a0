import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { StreamResetError } from "../errors.ts";
import { Logger } from "../log/logger.ts";
import { ResetCode } from "../mux/mod.ts";
import { encodePreface, PROTOCOL_VERSION } from "../mux/preface.ts";
import { getRuntime } from "../runtime/mod.ts";
import { memoryPair } from "../../tests/helpers/pipes.ts";
import { pattern, readAll, within, writeAll } from "../../tests/helpers/mux.ts";
import {
  closedTcpPort,
  logLines,
  POSIX_ONLY,
  skipNote,
  startAgent,
  targetServer,
  tempDir,
} from "../../tests/helpers/agent.ts";
import { type AgentExit, AgentExitCode, runAgent } from "./run_agent.ts";

const rt = getRuntime();
const utf8 = new TextEncoder();

/** Feed `bytes` to a fresh agent's stdin instead of a client preface, and return how it exits. */
async function agentFedWith(bytes: Uint8Array): Promise<{ exit: AgentExit; lines: string[] }> {
  const pair = await memoryPair();
  const { lines, sink } = logLines();
  const exiting = runAgent({
    runtime: rt,
    log: new Logger({ sinks: [sink] }),
    version: "1.0.0",
    stdio: pair.b,
    sessionOptions: { keepaliveMs: 0, handshakeTimeoutMs: 5000 },
  });
  const drained = readAll(pair.a.readable).catch(() => new Uint8Array()); // the agent's preface
  const w = pair.a.writable.getWriter();
  await w.write(bytes);
  const exit = await within(10_000, exiting, "agent exit");
  await w.close().catch(() => {});
  await drained;
  await pair.dispose();
  return { exit, lines };
}

describe("runAgent", () => {
  test("runAgent - echoes 4 MiB byte-exact through tcp:// and unix:/// targets at once", async () => {
    const transports = POSIX_ONLY ? ["tcp"] as const : ["tcp", "unix"] as const;
    const servers = await Promise.all(transports.map((t) => targetServer(rt, t)));
    const agent = await startAgent(rt);
    try {
      await Promise.all(servers.map(async (server, i) => {
        const s = await agent.client.open(server.url);
        const data = pattern(4 << 20, 11 + i);
        const [, got] = await Promise.all([
          writeAll(s.writable, data, 64 * 1024),
          readAll(s.readable),
        ]);
        assert.equal(got.byteLength, data.byteLength);
        assert.deepEqual(got, data);
        await s.closed;
      }));
    } finally {
      await agent.dispose();
      await Promise.all(servers.map((s) => s.dispose()));
    }
  });

  test("runAgent - half-close: the client's FIN reaches the target, which replies after EOF", async () => {
    const server = await targetServer(rt, "tcp", "reply-after-eof");
    const agent = await startAgent(rt);
    try {
      const s = await agent.client.open(server.url);
      await writeAll(s.writable, utf8.encode("hello")); // ends with FIN
      assert.equal(new TextDecoder().decode(await readAll(s.readable)), "got:hello");
      await within(5000, s.closed, "stream closed after FIN both ways");
    } finally {
      await agent.dispose();
      await server.dispose();
    }
  });

  test(
    `runAgent - a missing unix target rejects open() with the dial reason${skipNote(POSIX_ONLY)}`,
    { skip: POSIX_ONLY },
    async () => {
      const dir = await tempDir();
      const agent = await startAgent(rt);
      try {
        const path = join(dir.path, "missing.sock");
        await assert.rejects(agent.client.open(`unix://${path}`), (e: unknown) => {
          assert.ok(e instanceof StreamResetError);
          assert.equal(e.resetCode, ResetCode.NOT_FOUND);
          assert.equal(e.message, `socket not found: ${path}`);
          assert.ok(e.remote);
          return true;
        });
        assert.ok(
          agent.lines.some((l) => l.includes("WARN") && l.includes(`socket not found: ${path}`)),
        );
      } finally {
        await agent.dispose();
        await dir.dispose();
      }
    },
  );

  test("runAgent - a refused tcp target rejects open() with the dial reason", async () => {
    const port = await closedTcpPort(rt);
    const agent = await startAgent(rt);
    try {
      await assert.rejects(agent.client.open(`tcp://127.0.0.1:${port}`), (e: unknown) => {
        assert.ok(e instanceof StreamResetError);
        assert.equal(e.resetCode, ResetCode.CONNECTION_REFUSED);
        assert.equal(e.message, `connection refused: 127.0.0.1:${port}`);
        return true;
      });
      assert.equal(agent.client.stats().openStreams, 0);
    } finally {
      await agent.dispose();
    }
  });

  test("runAgent - a garbage target is refused with BAD_TARGET and the parse problem", async () => {
    const agent = await startAgent(rt);
    try {
      await assert.rejects(agent.client.open("nonsense"), (e: unknown) => {
        assert.ok(e instanceof StreamResetError);
        assert.equal(e.resetCode, ResetCode.BAD_TARGET);
        assert.equal(
          e.message,
          'bad target: "nonsense" has no scheme; expected pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://',
        );
        return true;
      });
      await assert.rejects(
        agent.client.open("udp://localhost:53"),
        (e: unknown) => e instanceof StreamResetError && e.resetCode === ResetCode.BAD_TARGET,
      );
    } finally {
      await agent.dispose();
    }
  });

  test("runAgent - closes the connection of a stream its opener abandoned while it was dialled", async () => {
    const server = await targetServer(rt, "tcp", "hold");
    const agent = await startAgent(rt);
    try {
      const ac = new AbortController();
      const opening = agent.client.open(server.url, { signal: ac.signal });
      ac.abort(); // SYN and RST leave together; the dial is still under way when the RST lands
      await assert.rejects(opening);
      const target = await server.nextAccepted();
      await within(5000, readAll(target.readable).catch(() => null), "target sees EOF or a reset");
      await agent.client.close();
      await agent.exit;
      assert.ok(agent.lines.some((l) => l.includes("stream gone before the target answered")));
    } finally {
      await agent.dispose();
      await server.dispose();
    }
  });

  test("runAgent - returns code 0 when its stdin ends, and closes the target connections", async () => {
    const server = await targetServer(rt, "tcp", "hold");
    const agent = await startAgent(rt);
    try {
      const s = await agent.client.open(server.url);
      const target = await server.nextAccepted();
      agent.cutStdin();
      const exit = await within(10_000, agent.exit, "agent exit");
      assert.equal(exit.code, AgentExitCode.OK);
      assert.equal(exit.reason, "the Linux daemon closed the pipe");
      // No orphaned connection to the target: its server sees the agent's end go away.
      await within(5000, readAll(target.readable).catch(() => null), "target sees EOF or a reset");
      await within(5000, s.closed, "stream ended");
      await within(5000, agent.client.closed, "client session ended at the agent's EOF");
    } finally {
      await agent.dispose();
      await server.dispose();
    }
  });

  test("runAgent - a GO_AWAY from the daemon is a normal end", async () => {
    const agent = await startAgent(rt);
    try {
      await agent.client.close("daemon stopping");
      const exit = await within(10_000, agent.exit, "agent exit");
      assert.equal(exit.code, AgentExitCode.OK);
      assert.match(exit.reason, /daemon stopping/);
    } finally {
      await agent.dispose();
    }
  });

  test("runAgent - stray bytes instead of a preface end with HANDSHAKE_FAILED", async () => {
    const { exit, lines } = await agentFedWith(utf8.encode("Welcome to Ubuntu!\r\n"));
    assert.equal(exit.code, AgentExitCode.HANDSHAKE_FAILED);
    assert.ok(
      lines.some((l) =>
        l.includes("ERROR") && l.includes("handshake with the Linux daemon failed")
      ),
    );
  });

  test("runAgent - a newer protocol ends with HANDSHAKE_FAILED and says to run wsl2proxy restart", async () => {
    const preface = encodePreface({
      protocol: PROTOCOL_VERSION + 1,
      role: "client",
      capabilities: 0,
      streamWindow: 256 * 1024,
      sessionWindow: 64 << 20,
      maxFramePayload: 64 * 1024,
      version: "9.0.0",
    });
    const { exit } = await agentFedWith(preface);
    assert.equal(exit.code, AgentExitCode.HANDSHAKE_FAILED);
    assert.match(exit.reason, /the Windows agent is wsl2proxy 1\.0\.0/);
    assert.match(exit.reason, /the Linux daemon is wsl2proxy 9\.0\.0/);
    assert.match(exit.reason, /Run `wsl2proxy restart`, which reinstalls the matching agent/);
  });

  test("runAgent - logs each stream's open and close with byte counts, never payload bytes", async () => {
    const server = await targetServer(rt, "tcp");
    const agent = await startAgent(rt);
    try {
      const secret = "PAYLOAD-MUST-NOT-BE-LOGGED";
      const s = await agent.client.open(server.url);
      const [, got] = await Promise.all([
        writeAll(s.writable, utf8.encode(secret)),
        readAll(s.readable),
      ]);
      assert.equal(new TextDecoder().decode(got), secret);
      await s.closed;
      await agent.client.close();
      await agent.exit;
      const opened = agent.lines.find((l) => l.includes("DEBUG") && l.includes("stream opened"));
      const closed = agent.lines.find((l) => l.includes("DEBUG") && l.includes("stream closed"));
      assert.ok(opened && opened.includes(`target=${server.url}`), opened);
      assert.ok(
        closed && closed.includes(`to_target=${secret.length} from_target=${secret.length}`),
        closed,
      );
      assert.match(closed!, / ms=\d+/);
      assert.ok(!agent.lines.some((l) => l.includes(secret)), "payload bytes reached the log");
    } finally {
      await agent.dispose();
      await server.dispose();
    }
  });
});
