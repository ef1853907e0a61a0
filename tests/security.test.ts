/**
 * Security properties of the real daemon and agent processes: the runtime
 * directory is ours alone, socket and log files are 0600, peers of another
 * uid are turned away (SO_PEERCRED). TCP listeners and the agent's sockets:
 * security_listeners.test.ts; the log: security_logs.test.ts.
 *
 * The tests run as root, so "another user" is uid 65534 reached with
 * `setpriv --reuid=65534 ... socat`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
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
import { Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern } from "./helpers/mux.ts";
import {
  asNobody,
  asUser,
  bridgeYaml,
  echoUnix,
  esc,
  NOBODY,
  socatTo,
  startBridge,
  status,
} from "./helpers/security.ts";

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
