/**
 * The CLI as users run it: a real process per command, in a sandboxed HOME.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseShExports, Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";
import { runProcess } from "./helpers/process.ts";
import { VERSION } from "../src/version.ts";

const SOCKETS = [
  {
    env: "SSH_AUTH_SOCK",
    linux: "{runtime_dir}/ssh.sock",
    windows: "pipe://./pipe/openssh-ssh-agent",
  },
  {
    env: "DOCKER_HOST_SOCK",
    linux: "{runtime_dir}/docker.sock",
    windows: "pipe://./pipe/docker_engine",
  },
];

/**
 * Runs argv (from the JSON in argv[1]) with stdout on a non-blocking pipe that
 * is already full, reads it only after a pause, then reports what arrived
 * after the filler; with "closed", runs it with the pipe's reader gone.
 */
const AWKWARD_STDOUT = `
import fcntl, json, os, subprocess, sys, time
argv, mode = json.loads(sys.argv[1]), sys.argv[2]
r, w = os.pipe()
if mode == "closed":
    os.close(r)
    p = subprocess.run(argv, stdout=w, stderr=subprocess.PIPE, env=json.loads(sys.argv[3]))
    print(json.dumps({"rc": p.returncode, "stderr": p.stderr.decode()}))
    sys.exit(0)
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
filled = 0
try:
    while True:
        filled += os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
p = subprocess.Popen(argv, stdout=w, stderr=subprocess.PIPE, env=json.loads(sys.argv[3]))
os.close(w)
time.sleep(0.3)
data = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
p.wait()
print(json.dumps({"rc": p.returncode, "filled": filled, "out": data[filled:].decode(), "stderr": p.stderr.read().decode()}))
`;

describe("cli", () => {
  test("output - nothing is lost on a full non-blocking stdout, and a closed one is no error", async () => {
    const box = new Sandbox();
    try {
      const normal = await box.cli(["--help"]);
      assert.equal(normal.code, 0);
      const argv = JSON.stringify([...wsl2proxyArgv(), "--help"]);
      const env = JSON.stringify(box.env);
      const full = await runProcess(["python3", "-c", AWKWARD_STDOUT, argv, "full", env]);
      const got = JSON.parse(text(full));
      assert.ok(got.filled >= 4096, `the pipe took ${got.filled} bytes of filler`);
      assert.equal(got.rc, 0, got.stderr);
      assert.equal(got.out, text(normal));

      const closed = await runProcess(["python3", "-c", AWKWARD_STDOUT, argv, "closed", env]);
      assert.deepEqual(JSON.parse(text(closed)), { rc: 0, stderr: "" });
    } finally {
      await box.cleanup();
    }
  });

  test("version - prints the version and exits 0", async () => {
    const box = new Sandbox();
    try {
      const r = await box.cli(["version"]);
      assert.equal(r.code, 0);
      assert.match(
        text(r),
        new RegExp(`^wsl2proxy ${VERSION.replaceAll(".", "\\.")} \\((deno|bun) `),
      );
    } finally {
      await box.cleanup();
    }
  });

  test("env - prints every format exactly, and starts nothing", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig(SOCKETS);
      const ssh = join(box.runtimeDir, "ssh.sock");
      const docker = join(box.runtimeDir, "docker.sock");
      const expected: Record<string, string> = {
        sh:
          `SSH_AUTH_SOCK="${ssh}"; export SSH_AUTH_SOCK;\nDOCKER_HOST_SOCK="${docker}"; export DOCKER_HOST_SOCK;\n`,
        fish: `set -gx SSH_AUTH_SOCK '${ssh}';\nset -gx DOCKER_HOST_SOCK '${docker}';\n`,
        csh: `setenv SSH_AUTH_SOCK '${ssh}';\nsetenv DOCKER_HOST_SOCK '${docker}';\n`,
        json: JSON.stringify({ SSH_AUTH_SOCK: ssh, DOCKER_HOST_SOCK: docker }) + "\n",
      };
      for (const [format, want] of Object.entries(expected)) {
        const r = await box.cli(["env", "--format", format, "--config", box.configPath]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(text(r), want, format);
      }
      assert.equal(existsSync(join(box.runtimeDir, "control.sock")), false, "env started nothing");
    } finally {
      await box.cleanup();
    }
  });

  test("start - is idempotent, prints the same exports, and status --json reports the daemon", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig(SOCKETS);
      const first = await box.cli(["start"]);
      assert.equal(first.code, 0, first.stderr);
      const second = await box.cli(["start"]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(text(second), text(first));
      assert.deepEqual(Object.keys(parseShExports(text(first))), [
        "SSH_AUTH_SOCK",
        "DOCKER_HOST_SOCK",
      ]);
      const status = await box.cli(["status", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(text(status));
      assert.equal(typeof s.pid, "number");
      assert.deepEqual(box.daemonPids(), [s.pid]);
      assert.equal(s.version, VERSION);
      assert.ok(["starting", "running", "backoff"].includes(s.agent.state));
      assert.ok("pid" in s.agent && "version" in s.agent);
      assert.deepEqual(s.sockets.map((k: { envName: string }) => k.envName), [
        "SSH_AUTH_SOCK",
        "DOCKER_HOST_SOCK",
      ]);
      for (const k of s.sockets) {
        for (
          const field of [
            "linuxAddr",
            "windowsAddr",
            "openConnections",
            "totalConnections",
            "bytesIn",
            "bytesOut",
          ]
        ) {
          assert.ok(field in k, `socket has ${field}`);
        }
      }
      const human = await box.cli(["status"]);
      assert.equal(human.code, 0);
      assert.match(text(human), new RegExp(`running \\(pid ${s.pid}, up `));
      assert.match(
        text(human),
        /SSH_AUTH_SOCK {2}.*ssh\.sock -> pipe:\/\/\.\/pipe\/openssh-ssh-agent/,
      );
      // Socket files are 0600 in a 0700 runtime dir.
      assert.equal(statSync(box.runtimeDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(box.runtimeDir, "ssh.sock")).mode & 0o777, 0o600);
    } finally {
      await box.cleanup();
    }
  });

  test("start - five concurrent starts leave exactly one daemon and print the same exports", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig(SOCKETS);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => box.cli(["start", "--config", box.configPath])),
      );
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const outputs = new Set(results.map(text));
      assert.equal(outputs.size, 1, "all print the same exports");
      assert.equal(box.daemonPids().length, 1, "exactly one daemon");
    } finally {
      await box.cleanup();
    }
  });

  test("stop - stops the daemon, removes its sockets, and status then exits 3", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig(SOCKETS);
      assert.equal((await box.cli(["start"])).code, 0);
      const pid = JSON.parse(text(await box.cli(["status", "--json"]))).pid;
      const stopped = await box.cli(["stop"]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.deepEqual(box.daemonPids(), [], `daemon ${pid} is gone`);
      assert.equal(existsSync(join(box.runtimeDir, "ssh.sock")), false);
      assert.equal(existsSync(join(box.runtimeDir, "control.sock")), false);
      const status = await box.cli(["status", "--json"]);
      assert.equal(status.code, 3);
      assert.equal(JSON.parse(text(status)).running, false);
      const again = await box.cli(["stop"]);
      assert.equal(again.code, 0);
      assert.match(again.stderr, /not running/);
    } finally {
      await box.cleanup();
    }
  });

  test("start - a bad config exits 2 with file:line:column and starts nothing", async () => {
    const box = new Sandbox();
    try {
      box.writeConfig(
        "sockets:\n  - env_name: SSH_AUTH_SOCK\n    linux_addr: /tmp/x.sock\n    windows_addr: pip://./pipe/x\n",
      );
      const r = await box.cli(["start"]);
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr.trim(),
        `wsl2proxy: ${box.configPath}:4:19: sockets[0].windows_addr: unknown scheme "pip://"; expected pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://`,
      );
      assert.equal(text(r), "", "nothing on stdout, so eval runs nothing");
      assert.deepEqual(box.daemonPids(), []);
    } finally {
      await box.cleanup();
    }
  });

  test("stop and status - still reach the daemon after the config file got a typo", async () => {
    const box = new Sandbox();
    try {
      box.writeBridgeConfig(SOCKETS);
      assert.equal((await box.cli(["start"])).code, 0);
      const pid = JSON.parse(text(await box.cli(["status", "--json"]))).pid;
      box.writeConfig(`runtime_dir: ${JSON.stringify(box.runtimeDir)}\nsockets: [oops\n`);
      const status = await box.cli(["status", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(text(status)).pid, pid);
      assert.match(status.stderr, /warning: the config file is invalid \(using runtime dir /);
      const stopped = await box.cli(["stop"]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.deepEqual(box.daemonPids(), []);
      assert.equal((await box.cli(["start"])).code, 2, "start still refuses the broken config");
    } finally {
      await box.cleanup();
    }
  });

  test("usage - an unknown command or option exits 2, and every command has --help", async () => {
    const box = new Sandbox();
    try {
      const bad = await box.cli(["frobnicate"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /unknown command "frobnicate"/);
      const badOpt = await box.cli(["status", "--nope"]);
      assert.equal(badOpt.code, 2);
      for (const cmd of ["start", "stop", "restart", "status", "run", "env", "agent", "version"]) {
        const h = await box.cli([cmd, "--help"]);
        assert.equal(h.code, 0, cmd);
        assert.match(text(h), new RegExp(`^Usage: wsl2proxy ${cmd}`), cmd);
      }
    } finally {
      await box.cleanup();
    }
  });
});
