/**
 * Security of what listens: TCP listeners stay on loopback unless
 * `allow_remote` says otherwise (also across a reload), a TCP peer of another
 * uid is turned away, and the agent never listens anywhere.
 *
 * The tests run as root, so "another user" is uid 65534 reached with
 * `setpriv --reuid=65534 ... socat`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { getRuntime } from "../src/runtime/mod.ts";
import { Sandbox, text } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern } from "./helpers/mux.ts";
import { socketInodes } from "./helpers/process.ts";
import {
  asNobody,
  bridgeYaml,
  echoUnix,
  freePort,
  inetSockets,
  listeningUnixInodes,
  NOBODY,
  procAddr,
  roundTrip,
  startBridge,
  status,
  TCP_LISTEN,
} from "./helpers/security.ts";

describe("security: TCP listeners", () => {
  for (const host of ["0.0.0.0", "[::]", "10.1.2.3"]) {
    test(`start refuses tcp://${host}:PORT without allow_remote (exit 2, the config message) and binds nothing`, async () => {
      const box = new Sandbox();
      try {
        const port = await freePort();
        box.writeConfig(
          bridgeYaml(box, [{
            env: "TCP_ADDR",
            linux: `tcp://${host}:${port}`,
            windows: "tcp://127.0.0.1:80",
          }]),
        );
        const r = await box.cli(["start"]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(text(r), "");
        const bare = host.replace(/^\[|\]$/g, "");
        assert.equal(
          r.stderr.trim(),
          `wsl2proxy: ${box.configPath}:7:17: sockets[0].linux_addr: host "${bare}" is not loopback; ` +
            `expected 127.0.0.0/8, ::1 or localhost (or allow_remote: true on this socket)`,
        );
        assert.deepEqual(box.daemonPids(), []);
        assert.equal(existsSync(join(box.runtimeDir, "control.sock")), false);
        assert.ok(
          !inetSockets(process.pid).some((x) =>
            x.local.endsWith(`:${port.toString(16).toUpperCase().padStart(4, "0")}`) &&
            x.state === TCP_LISTEN
          ),
        );
      } finally {
        await box.cleanup();
      }
    });
  }

  test("a reload cannot bring in a non-loopback TCP listener without allow_remote either", async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    const a = {
      env: "ECHO_SOCK",
      linux: "{runtime_dir}/echo.sock",
      windows: `unix://${echo.path}`,
    };
    try {
      box.writeConfig(bridgeYaml(box, [a]));
      await startBridge(box);
      const port = await freePort();
      box.writeConfig(
        bridgeYaml(box, [a, {
          env: "TCP_ADDR",
          linux: `tcp://0.0.0.0:${port}`,
          windows: `unix://${echo.path}`,
        }]),
      );
      const r = await box.control<{ ok: boolean; error?: string }>({ op: "reload" });
      assert.equal(r?.ok, false);
      assert.match(r!.error!, /sockets\[1\]\.linux_addr: host "0\.0\.0\.0" is not loopback/);
      assert.deepEqual((await status(box)).sockets.map((k) => k.envName), ["ECHO_SOCK"]);
      assert.ok(
        !inetSockets(process.pid).some((x) => x.local === procAddr("0.0.0.0", port)),
        `nothing bound on port ${port}`,
      );
    } finally {
      box.writeConfig(bridgeYaml(box, [a])); // a valid config again, so `stop` can read it
      await box.cleanup();
      await echo.close();
    }
  });

  test("a TCP connection from another uid is closed before reaching the target (uid from /proc/net/tcp); root's goes through", async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    try {
      const port = await freePort();
      box.writeConfig(bridgeYaml(box, [
        { env: "TCP_ADDR", linux: `tcp://127.0.0.1:${port}`, windows: `unix://${echo.path}` },
      ]));
      await startBridge(box);
      const marker = `tcp-marker-${crypto.randomUUID()}`;
      const r = await asNobody(
        ["socat", "-t", "10", "-", `TCP:127.0.0.1:${port}`],
        new TextEncoder().encode(marker),
      );
      assert.equal(r.stdout.byteLength, 0, "nothing came back");
      const peer = (await status(box)).sockets.find((k) => k.envName === "TCP_ADDR")!;
      assert.equal(peer.rejectedPeers, 1);
      assert.equal(peer.bytesOut, 0, "no byte was forwarded");
      assert.equal(echo.accepted(), 0, "the target never saw a connection");
      assert.match(
        box.log(),
        new RegExp(`rejected a connection from another user env=TCP_ADDR peer_uid=${NOBODY}`),
      );
      const data = pattern(64 * 1024, 9);
      assert.deepEqual(
        await roundTrip(await getRuntime().connectTcp("127.0.0.1", port), data),
        data,
      );
      assert.equal(echo.accepted(), 1);
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("tcp://127.0.0.1:PORT binds loopback only and forwards end to end", async () => {
    await tcpListenerForwards({ host: "127.0.0.1", allowRemote: false, seed: 3 });
  });

  test("with allow_remote: true a tcp://0.0.0.0:PORT listener binds every interface and forwards", async () => {
    await tcpListenerForwards({ host: "0.0.0.0", allowRemote: true, seed: 4 });
  });
});

/**
 * Start a bridge whose linux_addr is tcp://HOST:PORT, check that exactly that
 * address is listening (in /proc/net/tcp), and echo 300 kB through it.
 */
async function tcpListenerForwards(o: { host: string; allowRemote: boolean; seed: number }) {
  const box = new Sandbox();
  const echo = await startEchoServer(join(box.dir, "echo.sock"));
  try {
    const port = await freePort();
    box.writeConfig(
      bridgeYaml(box, [{
        env: "TCP_ADDR",
        linux: `tcp://${o.host}:${port}`,
        windows: `unix://${echo.path}`,
        ...(o.allowRemote ? { allowRemote: true } : {}),
      }]),
    );
    const s = await startBridge(box);
    const listening = inetSockets(s.pid).filter((x) =>
      x.state === TCP_LISTEN && x.local.endsWith(procAddr("0.0.0.0", port).slice(8))
    );
    assert.deepEqual(listening.map((x) => `${x.table} ${x.local}`), [
      `tcp ${procAddr(o.host, port)}`,
    ]);
    const data = pattern(300_000, o.seed);
    const got = await roundTrip(await getRuntime().connectTcp("127.0.0.1", port), data);
    assert.deepEqual(got, data);
  } finally {
    await box.cleanup();
    await echo.close();
  }
}

describe("security: the agent listens nowhere", () => {
  test("after traffic, the agent holds no TCP/UDP/raw socket in any state and no listening Unix socket", async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    try {
      const port = await freePort();
      box.writeConfig(bridgeYaml(box, [
        { env: "ECHO_SOCK", linux: "{runtime_dir}/echo.sock", windows: `unix://${echo.path}` },
        { env: "TCP_ADDR", linux: `tcp://127.0.0.1:${port}`, windows: `unix://${echo.path}` },
      ]));
      await startBridge(box);
      const rt = getRuntime();
      await Promise.all([
        ...Array.from(
          { length: 5 },
          (_, i) => echoUnix(join(box.runtimeDir, "echo.sock"), pattern(50_000, i + 1)),
        ),
        ...Array.from({ length: 5 }, async (_, i) => {
          const data = pattern(50_000, i + 10);
          assert.deepEqual(await roundTrip(await rt.connectTcp("127.0.0.1", port), data), data);
        }),
      ]);
      const s = await status(box);
      assert.equal(s.sockets.reduce((n, k) => n + k.totalConnections, 0), 10);
      const agentPid = s.agent.pid;
      assert.ok(typeof agentPid === "number" && agentPid > 0, `agent pid ${agentPid}`);

      const agentSockets = socketInodes(agentPid);
      const inet = inetSockets(agentPid).filter((x) => agentSockets.has(x.inode));
      assert.deepEqual(inet, [], "the agent has no inet socket");
      const listeningUnix = [...listeningUnixInodes(agentPid)].filter((i) => agentSockets.has(i));
      assert.deepEqual(listeningUnix, [], "the agent has no listening Unix socket");

      // The same inspection does see the daemon's listeners, so the checks above are not vacuous.
      const daemonSockets = socketInodes(s.pid);
      const daemonTcp = inetSockets(s.pid).filter((x) =>
        daemonSockets.has(x.inode) && x.state === TCP_LISTEN
      );
      assert.deepEqual(daemonTcp.map((x) => x.local), [procAddr("127.0.0.1", port)]);
      const daemonUnix = [...listeningUnixInodes(s.pid)].filter((i) => daemonSockets.has(i));
      assert.equal(daemonUnix.length, 2, "control.sock and echo.sock");
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });
});
