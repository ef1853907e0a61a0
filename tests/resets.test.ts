/**
 * A reset is a reset, never a clean end: real daemon and agent processes,
 * with a separate program (tests/fixtures/reset_peers.py, plain sockets) as
 * the client and as the target.
 *
 * Linux can show a reset to a Unix-socket peer only while bytes it sent are
 * still unread on our side (af_unix.c, unix_release_sock); TCP shows it
 * always, with RST. So the cases that must end in ECONNRESET for a client
 * that only reads use a TCP `linux_addr`, and the Unix cases are ones where
 * the client still has bytes in flight. Deno closes TCP with a FIN even then
 * (it has no SO_LINGER), so under a Deno daemon the TCP cases are skipped.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { resolve } from "node:path";
import process from "node:process";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { runProcess, type StartedProcess, startProcess } from "./helpers/process.ts";
import { within } from "./helpers/mux.ts";

const PEERS = resolve(import.meta.dirname ?? ".", "fixtures/reset_peers.py");
const DENO_DAEMON = "Deno" in globalThis && !process.env.WSL2PROXY_TEST_BIN;
const TCP_RST = DENO_DAEMON ? "a Deno daemon closes TCP with FIN: it has no SO_LINGER" : false;
const MIB = 1024 * 1024;

/** Start a server mode of the fixture; resolves with it and its port. */
async function server(...args: string[]): Promise<{ proc: StartedProcess; port: number }> {
  const proc = startProcess(["python3", PEERS, ...args], { timeoutMs: 120_000 });
  const port = Number((await nextLines(proc, 1))[0]);
  return { proc, port };
}

/** Wait until `proc` has printed `count` complete lines; returns them all. */
async function nextLines(proc: StartedProcess, count: number): Promise<string[]> {
  for (;;) {
    const lines = new TextDecoder().decode(proc.stdout()).split("\n");
    lines.pop(); // the unfinished tail
    if (lines.length >= count) return lines;
    await proc.waitForStdout(proc.stdout().byteLength + 1);
  }
}

/** Run a client mode of the fixture; resolves with its one-line verdict. */
async function client(...args: string[]): Promise<string> {
  const r = await runProcess(["python3", PEERS, ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return new TextDecoder().decode(r.stdout).trim();
}

/** A TCP port that was free a moment ago, for a TCP `linux_addr`. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start a bridge with one socket per entry; returns the exported addresses. */
async function bridge(
  box: Sandbox,
  sockets: { env: string; linux: string; windows: string }[],
): Promise<Record<string, string>> {
  box.writeBridgeConfig(sockets);
  const started = await box.cli(["start"]);
  assert.equal(started.code, 0, started.stderr);
  await box.waitAgent();
  return parseShExports(text(started));
}

/** `host:port` of a `tcp://` export. */
function tcpAddr(exported: string): string {
  return exported.replace(/^tcp:\/\//, "");
}

describe("resets", () => {
  test(
    "a target that streams and then resets: the client sees ECONNRESET, directly and through the bridge",
    {
      skip: TCP_RST,
    },
    async () => {
      const box = new Sandbox();
      const target = await server("stream-reset", String(4 * MIB));
      try {
        // The fixture is faithful: a direct client sees the reset.
        assert.match(await client("read", `127.0.0.1:${target.port}`, "GET"), /^reset \d+$/);
        const port = await freePort();
        const env = await bridge(box, [{
          env: "T",
          linux: `tcp://127.0.0.1:${port}`,
          windows: `tcp://127.0.0.1:${target.port}`,
        }]);
        for (let i = 0; i < 5; i++) {
          const verdict = await client("read", tcpAddr(env.T), "GET");
          assert.match(verdict, /^reset \d+$/, `transfer ${i}: ${verdict}`);
        }
      } finally {
        target.proc.kill();
        await box.cleanup();
      }
    },
  );

  test("a failed dial after the client sent its request: the client sees a reset", {
    skip: TCP_RST,
  }, async () => {
    const box = new Sandbox();
    try {
      const closed = await freePort();
      const env = await bridge(box, [
        {
          env: "T",
          linux: `tcp://127.0.0.1:${await freePort()}`,
          windows: `tcp://127.0.0.1:${closed}`,
        },
        { env: "U", linux: "{runtime_dir}/u.sock", windows: `tcp://127.0.0.1:${closed}` },
      ]);
      for (let i = 0; i < 3; i++) {
        assert.match(await client("read", tcpAddr(env.T), "request"), /^reset 0$/);
        // Over a Unix socket Linux shows the reset only if the request is
        // still unread; either way no byte of a reply arrives.
        assert.match(await client("read", env.U, "request"), /^(reset|eof) 0$/);
      }
      assert.match(box.log(), /dial failed on the Windows side/);
    } finally {
      await box.cleanup();
    }
  });

  test("a client uploading when the target resets sees the reset, not a hang (Unix socket)", async () => {
    const box = new Sandbox();
    const target = await server("stream-reset", "1");
    try {
      const env = await bridge(box, [{
        env: "T",
        linux: "{runtime_dir}/t.sock",
        windows: `tcp://127.0.0.1:${target.port}`,
      }]);
      const verdict = await within(30_000, client("upload", env.T), "the upload ends");
      assert.match(verdict, /^reset \d+$/);
    } finally {
      target.proc.kill();
      await box.cleanup();
    }
  });

  test("a client that resets reaches the target as a reset", { skip: TCP_RST }, async () => {
    const box = new Sandbox();
    const target = await server("record", String(4 * MIB));
    try {
      const env = await bridge(box, [{
        env: "T",
        linux: "{runtime_dir}/t.sock",
        windows: `tcp://127.0.0.1:${target.port}`,
      }]);
      assert.equal(await client("vanish", env.T), "vanished");
      const [, verdict] = await within(30_000, nextLines(target.proc, 2), "the target's verdict");
      assert.match(verdict, /^reset \d+$/);
    } finally {
      target.proc.kill();
      await box.cleanup();
    }
  });

  test(
    "the agent killed during transfers: every cut transfer ends in ECONNRESET, none in a short EOF",
    {
      skip: TCP_RST,
    },
    async () => {
      const box = new Sandbox();
      const size = 8 * MIB;
      const target = await server("stream", String(size));
      try {
        const port = await freePort();
        const env = await bridge(box, [{
          env: "T",
          linux: `tcp://127.0.0.1:${port}`,
          windows: `tcp://127.0.0.1:${target.port}`,
        }]);
        const verdicts: string[] = [];
        for (let round = 0; round < 3; round++) {
          const status = await box.waitAgent(undefined);
          const transfers = Array.from(
            { length: 6 },
            () => startProcess(["python3", PEERS, "read", tcpAddr(env.T), "", "progress"]),
          );
          // Kill once every transfer has its first bytes (the target paces the rest).
          await within(30_000, Promise.all(transfers.map((t) => nextLines(t, 1))), "first bytes");
          process.kill(status.agent.pid!, "SIGKILL");
          const ended = await within(60_000, Promise.all(transfers.map((t) => t.exited)), "ends");
          verdicts.push(
            ...ended.map((r) => new TextDecoder().decode(r.stdout).trim().split("\n")[1]),
          );
          await box.waitAgent(status.agent.pid!);
        }
        const short = verdicts.filter((v) => v.startsWith("eof ") && v !== `eof ${size}`);
        const cut = verdicts.filter((v) => v.startsWith("reset "));
        assert.deepEqual(short, [], `transfers short with a clean end: ${short.join(", ")}`);
        assert.ok(cut.length > 0, `some transfers were cut: ${verdicts.join(", ")}`);
        for (const v of verdicts) assert.match(v, new RegExp(`^(eof ${size}|reset \\d+)$`));
      } finally {
        target.proc.kill();
        await box.cleanup();
      }
    },
  );
});
