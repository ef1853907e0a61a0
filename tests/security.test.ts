/**
 * Security properties of the real daemon and agent processes: the runtime
 * directory is ours alone, socket and log files are 0600, peers of another
 * uid are turned away (SO_PEERCRED), TCP listeners stay on loopback unless
 * `allow_remote` says otherwise, the agent never listens anywhere, and no
 * payload byte reaches the log.
 *
 * The tests run as root, so "another user" is uid 65534 reached with
 * `setpriv --reuid=65534 ... socat`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import type { DaemonStatus } from "../src/daemon/daemon.ts";
import { agentCommandYaml, Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { concat, pattern, readAll, within, writeAll } from "./helpers/mux.ts";
import { runProcess, socketInodes } from "./helpers/process.ts";

const NOBODY = 65534;

interface BridgeSocket {
  env: string;
  linux: string;
  windows: string;
  allowRemote?: boolean;
}

/** Config YAML for these sockets, with the agent run from this runtime. */
function bridgeYaml(box: Sandbox, sockets: BridgeSocket[], logLevel = "debug"): string {
  return `log_level: ${logLevel}\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
    `agent:\n  command: ${agentCommandYaml()}\n` +
    `sockets:\n` +
    sockets.map((s) =>
      `  - env_name: ${s.env}\n    linux_addr: ${JSON.stringify(s.linux)}\n    windows_addr: ${
        JSON.stringify(s.windows)
      }\n` +
      (s.allowRemote === undefined ? "" : `    allow_remote: ${s.allowRemote}\n`)
    ).join("");
}

/** Send `data` on `conn`, half-close, and return everything read back; closes the conn. */
async function roundTrip(conn: Conn, data: Uint8Array): Promise<Uint8Array> {
  try {
    const [, got] = await within(
      30_000,
      Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
      "round trip",
    );
    return got;
  } finally {
    conn.close();
  }
}

/** Echo `data` through the bridge's Unix socket at `path` and check it comes back byte-exact. */
async function echoUnix(path: string, data: Uint8Array): Promise<void> {
  const got = await roundTrip(await getRuntime().connectUnix(path), data);
  assert.deepEqual(got, data, `echo through ${path}`);
}

/** A TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const l = await getRuntime().listenTcp("127.0.0.1", 0);
  const port = Number(l.addr.slice(l.addr.lastIndexOf(":") + 1));
  await l.close();
  return port;
}

/** Run `argv` as uid/gid `uid` with no supplementary groups. */
function asUser(uid: number, argv: string[], input: Uint8Array, env?: Record<string, string>) {
  return runProcess(
    ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...argv],
    { input, env, timeoutMs: 60_000 },
  );
}

/** Run `argv` as uid/gid 65534 with no supplementary groups. */
function asNobody(argv: string[], input: Uint8Array) {
  return asUser(NOBODY, argv, input);
}

/** socat from stdin to the Unix socket `path`; waits up to 10 s for the reply after stdin's EOF. */
function socatTo(path: string): string[] {
  return ["socat", "-t", "10", "-", `UNIX-CONNECT:${path}`];
}

async function status(box: Sandbox): Promise<DaemonStatus> {
  const s = await box.control({ op: "status" });
  assert.ok(s, "the daemon answers status");
  return s;
}

/** Rows of /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6} as [table, local address, state, inode]. */
function inetSockets(
  pid: number,
): { table: string; local: string; state: string; inode: string }[] {
  const rows = [];
  for (const table of ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"]) {
    let lines: string[];
    try {
      lines = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    } catch {
      continue; // no IPv6 (or raw) in this kernel
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      rows.push({ table, local: f[1], state: f[3], inode: f[9] });
    }
  }
  return rows;
}

/** Inodes of listening Unix sockets (/proc/PID/net/unix flags __SO_ACCEPTCON = 00010000). */
function listeningUnixInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/net/unix`, "utf8").trim().split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "00010000") out.add(f[6]);
  }
  return out;
}

/** `127.0.0.1:port` as /proc/net/tcp spells it (little-endian hex address, big-endian hex port). */
function procAddr(ipv4: string, port: number): string {
  const hex = ipv4.split(".").map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase())
    .reverse().join("");
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
}

const TCP_LISTEN = "0A";

/** Start the bridge, expecting success, and wait for the agent. */
async function startBridge(box: Sandbox, env?: Record<string, string>): Promise<DaemonStatus> {
  const r = await box.cli(["start"], { env });
  assert.equal(r.code, 0, r.stderr);
  return await box.waitAgent();
}

describe("security: the runtime directory", () => {
  test("start creates the runtime dir 0700 and every file in it (sockets, control socket, log, pid) is 0600", async () => {
    const box = new Sandbox();
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    try {
      box.writeConfig(
        bridgeYaml(box, [{
          env: "ECHO_SOCK",
          linux: "{runtime_dir}/echo.sock",
          windows: `unix://${echo.path}`,
        }]),
      );
      assert.equal(existsSync(box.runtimeDir), false);
      await startBridge(box);
      await echoUnix(join(box.runtimeDir, "echo.sock"), pattern(1000, 1));
      const dir = lstatSync(box.runtimeDir);
      assert.ok(dir.isDirectory());
      assert.equal(dir.mode & 0o7777, 0o700, "runtime dir mode");
      const modes = Object.fromEntries(
        readdirSync(box.runtimeDir).map((
          name,
        ) => [name, lstatSync(join(box.runtimeDir, name)).mode & 0o7777]),
      );
      for (const name of ["echo.sock", "control.sock", "proxy.log"]) {
        assert.equal(modes[name], 0o600, `${name} is 0600`);
      }
      for (const [name, mode] of Object.entries(modes)) {
        assert.equal(mode & 0o077, 0, `${name} (0${mode.toString(8)}) has no group/other bits`);
      }
    } finally {
      await box.cleanup();
      await echo.close();
    }
  });

  test("a log file that already exists with mode 0644 is tightened to 0600 and appended to", async () => {
    const box = new Sandbox();
    try {
      box.writeConfig(
        bridgeYaml(box, [{
          env: "X_SOCK",
          linux: "{runtime_dir}/x.sock",
          windows: "pipe://./pipe/x",
        }]),
      );
      mkdirSync(box.runtimeDir, { mode: 0o700 });
      const log = join(box.runtimeDir, "proxy.log");
      writeFileSync(log, "earlier line\n", { mode: 0o644 });
      chmodSync(log, 0o644);
      await startBridge(box);
      assert.equal(statSync(log).mode & 0o7777, 0o600);
      assert.match(readFileSync(log, "utf8"), /^earlier line\n.*daemon started/s);
    } finally {
      await box.cleanup();
    }
  });

  const unsafe: {
    name: string;
    prepare: (box: Sandbox) => void;
    message: (box: Sandbox) => RegExp;
  }[] = [
    {
      name: "is owned by another user (uid 65534)",
      prepare: (box) => {
        mkdirSync(box.runtimeDir, { mode: 0o700 });
        chownSync(box.runtimeDir, NOBODY, NOBODY);
      },
      message: (box) =>
        new RegExp(
          `the runtime directory ${
            esc(box.runtimeDir)
          } is owned by uid ${NOBODY} \\(nobody\\), not by you \\(uid 0\\).*Set runtime_dir to a directory you own`,
        ),
    },
    {
      name: "is a symbolic link (to a safe directory of ours)",
      prepare: (box) => {
        mkdirSync(join(box.dir, "elsewhere"), { mode: 0o700 });
        symlinkSync(join(box.dir, "elsewhere"), box.runtimeDir);
      },
      message: (box) =>
        new RegExp(
          `the runtime directory ${
            esc(box.runtimeDir)
          } is a symbolic link.*Remove it, or set runtime_dir`,
        ),
    },
    ...[0o755, 0o770, 0o701].map((mode) => ({
      name: `has mode 0${mode.toString(8)}`,
      prepare: (box: Sandbox) => {
        mkdirSync(box.runtimeDir);
        chmodSync(box.runtimeDir, mode);
      },
      message: (box: Sandbox) =>
        new RegExp(
          `the runtime directory ${esc(box.runtimeDir)} has mode 0${
            mode.toString(8)
          }, which lets other users in; it must be 0700\\. Run: chmod 700 ${esc(box.runtimeDir)}$`,
        ),
    })),
  ];
  for (const c of unsafe) {
    test(`start and run refuse a runtime dir that ${c.name}, exit 1 naming the problem and the fix, and start nothing`, async () => {
      const box = new Sandbox();
      try {
        box.writeConfig(
          bridgeYaml(box, [{
            env: "X_SOCK",
            linux: "{runtime_dir}/x.sock",
            windows: "pipe://./pipe/x",
          }]),
        );
        c.prepare(box);
        const before = lstatSync(box.runtimeDir);
        for (const command of [["start"], ["run"]]) {
          const r = await box.cli(command, { timeoutMs: 30_000 });
          assert.equal(r.code, 1, `${command[0]}: ${r.stderr}`);
          assert.equal(text(r), "", `${command[0]} prints nothing on stdout`);
          const lines = r.stderr.trim().split("\n");
          assert.equal(lines.length, 1, r.stderr);
          assert.match(lines[0], /^wsl2proxy: /);
          assert.match(lines[0], c.message(box));
        }
        assert.deepEqual(box.daemonPids(), [], "no daemon");
        assert.deepEqual(readdirSync(box.runtimeDir), [], "nothing created in the runtime dir");
        const after = lstatSync(box.runtimeDir);
        assert.equal(after.mode, before.mode, "mode left as it was");
        assert.equal(after.uid, before.uid, "owner left as it was");
      } finally {
        await box.cleanup();
      }
    });
  }
});

describe("security: peer credentials", () => {
  test("a connection from another uid is closed before reaching the target and logged; root's connections go through", async () => {
    const box = new Sandbox();
    // Outside the (0700) runtime dir, in a dir uid 65534 can traverse, so only SO_PEERCRED stands in the way.
    const open = mkdtempSync(join(tmpdir(), "w2p-peer-"));
    chmodSync(open, 0o755);
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    try {
      const sock = join(open, "peer.sock");
      box.writeConfig(bridgeYaml(box, [
        { env: "PEER_SOCK", linux: sock, windows: `unix://${echo.path}` },
        { env: "INSIDE_SOCK", linux: "{runtime_dir}/inside.sock", windows: `unix://${echo.path}` },
      ]));
      await startBridge(box);
      const marker = `peer-marker-${crypto.randomUUID()}`;
      const input = new TextEncoder().encode(marker);

      // First the file-system layers, each on its own: a 0600 socket file in an open dir, and a
      // 0666 socket file in the 0700 runtime dir (the sandbox above it made traversable), keep uid 65534 out.
      chmodSync(box.dir, 0o711);
      const inside = join(box.runtimeDir, "inside.sock");
      chmodSync(inside, 0o666);
      for (const path of [sock, inside]) {
        const denied = await asNobody(socatTo(path), input);
        assert.notEqual(denied.code, 0, `connect to ${path} as uid ${NOBODY} fails`);
        assert.match(denied.stderr, /Permission denied/, path);
      }
      chmodSync(inside, 0o600);

      // Then open the socket file up, so the daemon's own check is what turns uid 65534 away.
      chmodSync(sock, 0o666);
      const r = await asNobody(socatTo(sock), input);
      assert.equal(r.stdout.byteLength, 0, "nothing came back");
      let s = await status(box);
      const peer = s.sockets.find((k) => k.envName === "PEER_SOCK")!;
      assert.equal(peer.rejectedPeers, 1);
      assert.equal(peer.totalConnections, 0);
      assert.equal(peer.bytesOut, 0, "no byte was forwarded");
      assert.equal(echo.accepted(), 0, "the target never saw a connection");
      assert.match(
        box.log(),
        new RegExp(
          `WARN  socket: rejected a connection from another user env=PEER_SOCK peer_uid=${NOBODY} uid=0`,
        ),
      );
      assert.ok(!box.log().includes(marker), "the payload is not logged");

      // Root (our own uid here) goes through on the same socket.
      const data = pattern(64 * 1024, 7);
      await echoUnix(sock, data);
      s = await status(box);
      const after = s.sockets.find((k) => k.envName === "PEER_SOCK")!;
      assert.equal(after.rejectedPeers, 1);
      assert.equal(after.totalConnections, 1);
      assert.equal(after.bytesOut, data.byteLength);
      assert.equal(echo.accepted(), 1);
    } finally {
      await box.cleanup();
      await echo.close();
      rmSync(open, { recursive: true, force: true });
    }
  });

  test("a daemon run by an ordinary user (uid 65534) serves that uid and root, and turns away a third uid (65533)", async () => {
    const box = new Sandbox();
    const other = NOBODY - 1;
    // The daemon's user owns the sandbox (HOME, runtime dir); the target and the bridge socket
    // live in an open dir so every uid in play can reach them through the file system.
    chownSync(box.dir, NOBODY, NOBODY);
    box.asUid = NOBODY; // root's client would (rightly) refuse a daemon of uid 65534
    const open = mkdtempSync(join(tmpdir(), "w2p-peer-"));
    chmodSync(open, 0o755);
    chownSync(open, NOBODY, NOBODY);
    const echo = await startEchoServer(join(open, "echo.sock"));
    chmodSync(echo.path, 0o666);
    try {
      const sock = join(open, "bridge.sock");
      box.writeConfig(
        bridgeYaml(box, [{ env: "BRIDGE_SOCK", linux: sock, windows: `unix://${echo.path}` }]),
      );
      const started = await asUser(
        NOBODY,
        [...wsl2proxyArgv(), "start"],
        new Uint8Array(0),
        box.env,
      );
      assert.equal(started.code, 0, started.stderr);
      const s = await box.waitAgent();
      assert.equal(statSync(`/proc/${s.pid}`).uid, NOBODY, "the daemon runs as uid 65534");
      assert.equal(lstatSync(sock).uid, NOBODY);
      chmodSync(sock, 0o666);

      await echoUnix(sock, pattern(10_000, 1)); // root
      const own = new TextEncoder().encode(`same-uid-${crypto.randomUUID()}`);
      const same = await asUser(NOBODY, socatTo(sock), own);
      assert.deepEqual(
        same.stdout,
        own,
        `uid ${NOBODY} echoes through its own daemon: ${same.stderr}`,
      );
      const third = await asUser(other, socatTo(sock), new TextEncoder().encode("third"));
      assert.equal(third.stdout.byteLength, 0, "nothing came back to the third uid");

      const k = (await status(box)).sockets[0];
      assert.equal(k.totalConnections, 2, "root and the same uid");
      assert.equal(k.rejectedPeers, 1, "the third uid");
      assert.equal(echo.accepted(), 2);
      assert.match(
        box.log(),
        new RegExp(
          `rejected a connection from another user env=BRIDGE_SOCK peer_uid=${other} uid=${NOBODY}`,
        ),
      );
    } finally {
      await box.cleanup();
      await echo.close();
      rmSync(open, { recursive: true, force: true });
    }
  });

  test("a control request from another uid is refused: `stop` from uid 65534 leaves the daemon running", async () => {
    const box = new Sandbox();
    try {
      box.writeConfig(
        bridgeYaml(box, [{
          env: "X_SOCK",
          linux: "{runtime_dir}/x.sock",
          windows: "pipe://./pipe/x",
        }]),
      );
      const s = await startBridge(box);
      // Loosen the runtime dir and the sandbox above it (0711: traversable, not listable) and the
      // control socket after start, which is the only way uid 65534 can reach it at all.
      const control = join(box.runtimeDir, "control.sock");
      chmodSync(box.dir, 0o711);
      chmodSync(box.runtimeDir, 0o711);
      chmodSync(control, 0o666);
      try {
        const r = await asNobody(socatTo(control), new TextEncoder().encode('{"op":"stop"}\n'));
        assert.equal(text(r), "", "no answer");
      } finally {
        chmodSync(box.runtimeDir, 0o700);
        chmodSync(box.dir, 0o700);
      }
      const again = await status(box);
      assert.equal(again.pid, s.pid, "the same daemon still answers");
      assert.deepEqual(box.daemonPids(), [s.pid]);
      assert.match(
        box.log(),
        new RegExp(
          `WARN  control: rejected a control connection from another user peer_uid=${NOBODY}`,
        ),
      );
    } finally {
      await box.cleanup();
    }
  });
});

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

describe("security: logs", () => {
  test("at log_level debug no payload byte reaches the log, in either direction or on a failed dial", async () => {
    const box = new Sandbox();
    const rt = getRuntime();
    const toWindows = `linux-to-windows-${crypto.randomUUID()}`;
    const toLinux = `windows-to-linux-${crypto.randomUUID()}`;
    const toNowhere = `to-a-missing-target-${crypto.randomUUID()}`;
    const enc = new TextEncoder();
    // A target that greets with its own marker, then echoes what the client sent.
    const target = await rt.listenUnix(join(box.dir, "target.sock"));
    const served: Promise<void>[] = [];
    const serving = (async () => {
      for await (const conn of target) {
        served.push(
          (async () => {
            const w = conn.writable.getWriter();
            await w.write(enc.encode(toLinux));
            w.releaseLock();
            await conn.readable.pipeTo(conn.writable);
          })().catch(() => {}).finally(() => conn.close()),
        );
      }
    })();
    try {
      box.writeConfig(bridgeYaml(box, [
        {
          env: "MARK_SOCK",
          linux: "{runtime_dir}/mark.sock",
          windows: `unix://${join(box.dir, "target.sock")}`,
        },
        {
          env: "GONE_SOCK",
          linux: "{runtime_dir}/gone.sock",
          windows: `unix://${join(box.dir, "missing.sock")}`,
        },
      ]));
      await startBridge(box, { WSL2PROXY_LOG_LEVEL: "debug" }); // the agent logs at debug too

      const sent = enc.encode(toWindows.repeat(100));
      const got = await roundTrip(await rt.connectUnix(join(box.runtimeDir, "mark.sock")), sent);
      assert.deepEqual(got, concat([enc.encode(toLinux), sent]));
      // The daemon closes this one unread once the dial fails, which may surface here as ECONNRESET.
      const gone = await roundTrip(
        await rt.connectUnix(join(box.runtimeDir, "gone.sock")),
        enc.encode(toNowhere),
      )
        .catch(() => new Uint8Array(0));
      assert.equal(gone.byteLength, 0);
      // Both connections are over once the daemon counts them closed; poll status (no event for this).
      for (let i = 0;; i++) {
        const s = await status(box);
        if (s.sockets.every((k) => k.openConnections === 0)) break;
        assert.ok(i < 200, "connections closed");
        await new Promise((r) => setTimeout(r, 25));
      }
      await box.cli(["stop"]);

      const log = box.log();
      // The log is at debug level and covered these connections, so its silence about payload means something.
      assert.match(log, /DEBUG socket: connection opened env=MARK_SOCK/);
      assert.match(
        log,
        new RegExp(
          `DEBUG socket: connection closed env=MARK_SOCK .*bytes_out=${sent.byteLength} bytes_in=${
            sent.byteLength + toLinux.length
          }`,
        ),
      );
      assert.match(log, /INFO {2}agent: .*stream opened/, "the agent's debug lines are in the log");
      assert.match(log, /dial failed on the Windows side env=GONE_SOCK/);
      for (const marker of [toWindows, toLinux, toNowhere]) {
        for (
          const form of [
            marker,
            Buffer.from(marker).toString("hex"),
            Buffer.from(marker).toString("base64").slice(0, 40),
          ]
        ) {
          assert.ok(!log.includes(form), `the log does not contain ${form}`);
        }
        assert.ok(!log.includes(marker.slice(-36)), "nor the marker's uuid");
      }
    } finally {
      await box.cleanup();
      await target.close();
      await serving;
      await Promise.all(served);
    }
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
