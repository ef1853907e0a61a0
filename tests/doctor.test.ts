/**
 * `wsl2proxy doctor` against real programs: a real ssh-agent squatting on a
 * socket path (named from /proc), a real one-off agent (the Linux build of
 * wsl2proxy, as the tests run it) dialling a live and a missing target, and
 * the CLI's text, JSON and exit status on a stand-in WSL (a fake root for
 * the system files; see src/cli/doctor/_fake_root.ts).
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import { FakeRoot, healthyWsl } from "../src/cli/doctor/_fake_root.ts";
import type { CheckResult } from "../src/cli/doctor/check.ts";
import { checkEnvVar, checkLinuxAddr } from "../src/cli/doctor/socket_checks.ts";
import { probeAgent } from "../src/cli/doctor/agent_probe.ts";
import { loadConfig } from "../src/config/load_config.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { Sandbox, text, wsl2proxyArgv } from "./helpers/cli.ts";

const rt = getRuntime();
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function sandbox(): Sandbox {
  const box = new Sandbox("w2p-doctor-");
  cleanups.push(() => box.cleanup());
  return box;
}

/** A stand-in WSL for the CLI: a healthy fake root and a live WSL_INTEROP socket. */
async function standInWsl(box: Sandbox): Promise<{ env: Record<string, string>; root: FakeRoot }> {
  const root = healthyWsl(new FakeRoot());
  cleanups.push(() => root.dispose());
  const interop = join(box.dir, "1_interop");
  const listener = await rt.listenUnix(interop);
  cleanups.push(() => listener.close());
  const env = {
    WSL2PROXY_DOCTOR_ROOT: root.dir,
    WSL_INTEROP: interop,
    WSL_DISTRO_NAME: "Stand-in",
  };
  return { env, root };
}

/** An executable script at `path` that runs wsl2proxy as the tests do, with its arguments. */
function agentScript(path: string): string {
  writeFileSync(path, `#!/bin/sh\nexec ${wsl2proxyArgv().map((a) => `'${a}'`).join(" ")} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** An ssh-agent socket config at `path` (its Windows side is never dialled here). */
function sshSocket(path: string) {
  return {
    envName: "SSH_AUTH_SOCK",
    linuxAddr: { kind: "unix", path },
    windowsAddr: {
      kind: "pipe",
      path: "\\\\.\\pipe\\openssh-ssh-agent",
      url: "pipe://./pipe/openssh-ssh-agent",
    },
    allowRemote: false,
    protocol: "ssh-agent",
  } as const;
}

function byName(checks: CheckResult[], name: string): CheckResult {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `no check named ${name} in ${JSON.stringify(checks.map((x) => x.name))}`);
  return c;
}

describe("doctor: who holds a linux_addr", () => {
  test("doctor linux_addr - a path held by a local ssh-agent fails and names it; once it is gone the path is free", async () => {
    const box = sandbox();
    const path = join(box.dir, "agent.sock");
    const socket = sshSocket(path);
    const seam = { root: "/", env: () => undefined, runtime: rt };
    const agent = startProcess(["ssh-agent", "-D", "-a", path], { timeoutMs: 60_000 });
    try {
      await agent.waitForStdout(1); // it prints its exports once it listens
      const held = await checkLinuxAddr(seam, socket, null);
      assert.equal(held.status, "fail");
      assert.equal(held.evidence, `${path} is held by ssh-agent (pid ${agent.child.pid})`);
      assert.match(held.fix, /eval \$\(ssh-agent\)/);
    } finally {
      agent.child.kill("SIGTERM");
      await agent.exited.catch(() => {});
    }
    const free = await checkLinuxAddr(seam, socket, null);
    assert.equal(free.status, "ok", free.evidence);
  });

  test("doctor linux_addr - gpg-agent's ssh socket is named, with how to turn its ssh support off", async () => {
    const box = sandbox();
    const home = join(box.dir, "gnupg");
    mkdirSync(home, { mode: 0o700 });
    const started = await runProcess(
      ["gpg-agent", "--homedir", home, "--daemon", "--enable-ssh-support"],
      { env: box.env, timeoutMs: 30_000 },
    );
    assert.equal(started.code, 0, started.stderr);
    try {
      // gpg-agent --daemon returns once it listens, printing SSH_AUTH_SOCK=<its socket>.
      const path = /SSH_AUTH_SOCK=([^;]+);/.exec(text(started))![1];
      const seam = { root: "/", env: () => undefined, runtime: rt };
      const held = await checkLinuxAddr(seam, sshSocket(path), null);
      assert.equal(held.status, "fail");
      assert.match(held.evidence, new RegExp(`^${path} is held by gpg-agent \\(pid \\d+\\)$`));
      assert.match(held.fix, /drop enable-ssh-support from ~\/\.gnupg\/gpg-agent\.conf/);
    } finally {
      await runProcess(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], { env: box.env });
    }
  });
  test("doctor linux_addr - a stale socket file is ok (start replaces it); a file that is no socket fails", async () => {
    const box = sandbox();
    const seam = { root: "/", env: () => undefined, runtime: rt };
    const path = join(box.dir, "stale.sock");
    // Bound and never listened, by a process that is gone: what a crash leaves.
    const py = await runProcess([
      "python3",
      "-c",
      "import socket,sys;socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
      path,
    ]);
    assert.equal(py.code, 0, py.stderr);
    const stale = await checkLinuxAddr(seam, sshSocket(path), null);
    assert.deepEqual([stale.status, stale.evidence], [
      "ok",
      `${path} is a stale socket file nobody listens on; start replaces it`,
    ]);
    const plain = join(box.dir, "plain");
    writeFileSync(plain, "");
    const file = await checkLinuxAddr(seam, sshSocket(plain), null);
    assert.deepEqual([file.status, file.evidence], ["fail", `${plain} exists and is not a socket`]);
  });

  test("doctor env - unset warns with the eval line; ours is ok", () => {
    const socket = sshSocket("/run/user/1000/wsl2proxy/ssh.sock");
    const seam = (value?: string) => ({
      root: "/",
      env: (n: string) => (n === "SSH_AUTH_SOCK" ? value : undefined),
      runtime: rt,
    });
    const unset = checkEnvVar(seam(), socket);
    assert.equal(unset.status, "warn");
    assert.match(unset.fix, /eval "\$\(wsl2proxy start\)"/);
    assert.equal(checkEnvVar(seam("/run/user/1000/wsl2proxy/ssh.sock"), socket).status, "ok");
  });
});

describe("doctor: the one-off agent", () => {
  test("doctor agent - agent.path on the Windows drive handshakes; a live target dials, a missing one fails with the far side's reason", async () => {
    const box = sandbox();
    const root = healthyWsl(new FakeRoot()).file(
      "/etc/wsl.conf",
      `[automount]\nroot = ${box.dir}/mnt\n`,
    );
    cleanups.push(() => root.dispose());
    // An "agent.exe" on the stand-in C: drive that runs the Linux build of the agent.
    const drive = join(box.dir, "mnt", "c");
    mkdirSync(drive, { recursive: true });
    const onDrive = join(drive, "agent.exe");
    agentScript(onDrive);
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    cleanups.push(() => echo.close());
    box.writeConfig(
      `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nagent:\n  path: ${
        JSON.stringify(onDrive)
      }\nsockets:\n` +
        `  - {env_name: LIVE_SOCK, linux_addr: "{runtime_dir}/live.sock", windows_addr: "unix://${echo.path}"}\n` +
        `  - {env_name: GONE_SOCK, linux_addr: "{runtime_dir}/gone.sock", windows_addr: "unix://${box.dir}/gone.sock"}\n`,
    );
    const config = await loadConfig(box.configPath, true, (n) => box.env[n], rt.uid());
    const seam = root.seam({ WSL_DISTRO_NAME: "Stand-in" });

    const probe = await probeAgent(seam, config);
    assert.equal(probe.agent.status, "ok", probe.agent.evidence);
    assert.match(
      probe.agent.evidence,
      /agent\.exe \(0\.0 MB\), wsl2proxy \S+, started and handshaked in \d+ ms$/,
    );
    assert.deepEqual([probe.cwd.status, probe.cwd.evidence], ["ok", drive]);
    assert.equal(probe.dials[0].status, "ok", probe.dials[0].evidence);
    assert.match(probe.dials[0].evidence, /answered in \d+ ms/);
    assert.equal(echo.accepted(), 1);
    assert.equal(probe.dials[1].status, "fail");
    assert.match(
      probe.dials[1].evidence,
      /gone\.sock: the Windows side says: .*(not found|ENOENT|No such file)/i,
    );

    // The same agent off the Windows drive: it works, slowly on real WSL, so it warns.
    const offDrive = await probeAgent(seam, config, {
      agentFlag: join(box.dir, "nowhere", "agent.exe"),
    });
    assert.equal(offDrive.agent.status, "fail");
    assert.match(offDrive.agent.evidence, /nowhere\/agent\.exe: .*no such file/i);
    assert.equal(offDrive.dials[0].status, "fail");
    assert.match(offDrive.dials[0].evidence, /not dialled, no agent/);
  });
  test("doctor agent - with WSL interop broken, a Windows agent is not started (it would only hang)", async () => {
    const box = sandbox();
    box.writeConfig(
      `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nagent:\n  path: /mnt/c/tools/agent.exe\n` +
        `sockets:\n  - {env_name: A_SOCK, linux_addr: "{runtime_dir}/a.sock", windows_addr: "pipe://./pipe/a"}\n`,
    );
    const config = await loadConfig(box.configPath, true, (n) => box.env[n], rt.uid());
    const root = healthyWsl(new FakeRoot());
    cleanups.push(() => root.dispose());
    const probe = await probeAgent(root.seam({ WSL_DISTRO_NAME: "Stand-in" }), config, {
      interopBroken: "WSL interop cannot start a .exe (binfmt WSLInterop failed)",
    });
    assert.deepEqual(
      [probe.agent.status, probe.agent.evidence],
      ["fail", "not started: WSL interop cannot start a .exe (binfmt WSLInterop failed)"],
    );
    assert.match(probe.dials[0].evidence, /not dialled, no agent/);
  });
  test("doctor agent - an agent off the Windows drive warns but runs; a missing drive directory stops it", async () => {
    const box = sandbox();
    const mnt = join(box.dir, "mnt");
    const root = healthyWsl(new FakeRoot()).file("/etc/wsl.conf", `[automount]\nroot = ${mnt}\n`);
    cleanups.push(() => root.dispose());
    const offDrive = agentScript(join(box.dir, "agent.exe"));
    box.writeConfig(
      `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nsockets:\n` +
        `  - {env_name: A_SOCK, linux_addr: "{runtime_dir}/a.sock", windows_addr: "pipe://./pipe/a"}\n`,
    );
    const config = await loadConfig(box.configPath, true, (n) => box.env[n], rt.uid());
    const seam = root.seam({ WSL_DISTRO_NAME: "Stand-in" });

    // No <root>/c yet: the agent would start in a directory that is not there.
    const noDrive = await probeAgent(seam, config, { agentFlag: offDrive });
    assert.equal(noDrive.cwd.status, "fail");
    assert.equal(noDrive.cwd.evidence, `${mnt}/c does not exist, so the agent cannot start there`);
    assert.match(noDrive.agent.evidence, /^not started: /);

    mkdirSync(join(mnt, "c"), { recursive: true });
    const slow = await probeAgent(seam, config, { agentFlag: offDrive });
    assert.equal(slow.agent.status, "warn", slow.agent.evidence);
    assert.match(
      slow.agent.evidence,
      /agent\.exe \(0\.0 MB\) is not on a Windows drive .*15-30 s to start it, wsl2proxy /,
    );
    assert.match(slow.agent.fix, /copy it to a Windows drive/);
    assert.equal(slow.cwd.status, "ok");
  });
});

describe("doctor: the command", () => {
  test("doctor cli - on a healthy stand-in WSL every check is ok and it exits 0; a missing target fails it with exit 1", async () => {
    const box = sandbox();
    const { env: wsl, root } = await standInWsl(box);
    const echo = await startEchoServer(join(box.dir, "echo.sock"));
    cleanups.push(() => echo.close());
    // On a stand-in WSL a program named .exe (Bun's npm binary is bun.exe) would be started
    // from the Windows drive, which is not there: run the agent through a script.
    const script = agentScript(join(box.dir, "agent.sh"));
    const config = (windows: string) =>
      box.writeConfig(
        `runtime_dir: ${JSON.stringify(box.runtimeDir)}\nagent:\n  command: [${
          JSON.stringify(script)
        }, agent]\n` +
          `sockets:\n  - {env_name: X_SOCK, linux_addr: "{runtime_dir}/x.sock", windows_addr: "${windows}"}\n`,
      );
    config(`unix://${echo.path}`);
    const xPath = join(box.runtimeDir, "x.sock");
    const env = { ...wsl, X_SOCK: xPath };

    const ok = await box.cli(["doctor", "--json"], { env });
    const checks = (JSON.parse(text(ok)) as { checks: CheckResult[] }).checks;
    assert.equal(ok.code, 0, text(ok) + ok.stderr);
    assert.deepEqual(checks.map((c) => c.name), [
      "inside WSL 2",
      "binfmt WSLInterop",
      "WSL_INTEROP",
      "Windows drive mount",
      "systemd-binfmt",
      "config",
      "agent",
      "agent working directory",
      "linux_addr X_SOCK",
      "dial X_SOCK",
      "env X_SOCK",
    ]);
    for (const c of checks) {
      assert.equal(c.status, "ok", JSON.stringify(c));
      assert.deepEqual(Object.keys(c), ["name", "status", "evidence", "fix"]);
    }

    // The daemon running: its socket is ours, and the shell's variable elsewhere only warns.
    const started = await box.cli(["start"]);
    assert.equal(started.code, 0, started.stderr);
    const pid = (await box.control({ op: "status" }))!.pid;
    // The stand-in's /proc shows the real socket table and the daemon's fds, nothing else.
    root.link("/proc/net", "/proc/net").link(`/proc/${pid}`, `/proc/${pid}`);
    const running = await box.cli(["doctor", "--json"], {
      env: { ...env, X_SOCK: "/tmp/elsewhere.sock" },
    });
    assert.equal(running.code, 0, text(running));
    const after = (JSON.parse(text(running)) as { checks: CheckResult[] }).checks;
    assert.deepEqual(byName(after, "linux_addr X_SOCK"), {
      name: "linux_addr X_SOCK",
      status: "ok",
      evidence: `${xPath}: ours (the daemon, pid ${pid})`,
      fix: "nothing to do",
    });
    assert.equal(byName(after, "env X_SOCK").status, "warn");
    assert.match(byName(after, "env X_SOCK").evidence, /X_SOCK=\/tmp\/elsewhere\.sock, not ours/);

    // A target nobody serves: the dial fails, in text, and the exit status is 1.
    config(`unix://${box.dir}/nobody.sock`);
    const failed = await box.cli(["doctor"], { env });
    assert.equal(failed.code, 1, text(failed));
    assert.match(
      text(failed),
      /^fail {2}dial X_SOCK\n {6}unix:\/\/.*nobody\.sock: the Windows side says: .*\n {6}fix: /m,
    );
    assert.match(text(failed), /\n\n10 ok, 0 warn, 1 fail\n$/);
  });

  test("doctor cli - a broken config fails the config check, the WSL checks still run", async () => {
    const box = sandbox();
    box.writeConfig("sockets:\n  - env_name: X\n    linux_addr: relative/path\n");
    const r = await box.cli(["doctor", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const checks = (JSON.parse(text(r)) as { checks: CheckResult[] }).checks;
    assert.equal(checks.at(-1)!.name, "config");
    assert.equal(checks.at(-1)!.status, "fail");
    assert.match(checks.at(-1)!.evidence, /config\.yaml:\d+:\d+/);
    assert.ok(checks.some((c) => c.name === "binfmt WSLInterop"));
  });

  test("doctor cli - --help describes it, and the program's help lists it", async () => {
    const box = sandbox();
    const help = await box.cli(["doctor", "--help"]);
    assert.equal(help.code, 0);
    assert.match(text(help), /Usage: wsl2proxy doctor \[--json\]/);
    const main = await box.cli(["--help"]);
    assert.match(text(main), /^ {2}doctor {4}check /m);
  });
});
