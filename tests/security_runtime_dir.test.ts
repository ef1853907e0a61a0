/**
 * Trust nothing in the runtime dir until the dir is proven ours (issue 12,
 * findings 1, 2, 6 and 8), with real processes of three uids: the tests run
 * as root, the victim is uid 65532 and the attacker uid 65534 (`setpriv`).
 * The attacker's programs are small C stand-ins built here with gcc: a fake
 * daemon that answers every control request with a line of our choosing, and
 * a renameat2(RENAME_EXCHANGE) swap loop.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { VERSION } from "../src/version.ts";
import { agentCommandYaml, Sandbox, text } from "./helpers/cli.ts";
import { type StartedProcess, startProcess } from "./helpers/process.ts";

const VICTIM = 65532;
const ATTACKER = 65534; // "nobody" in /etc/passwd
const FIXTURES = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures");

/** The C stand-ins, compiled once into a dir every uid can read. */
const bin = mkdtempSync(join(tmpdir(), "w2p-sec-bin-"));
chmodSync(bin, 0o755);
after(() => rmSync(bin, { recursive: true, force: true }));
function compiled(name: string): string {
  const out = join(bin, name);
  if (!existsSync(out)) {
    execFileSync("gcc", ["-O2", "-o", out, join(FIXTURES, `${name}.c`)]);
    chmodSync(out, 0o755);
  }
  return out;
}

const setpriv = (uid: number) => ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];

/** Start `argv` as `uid` and wait for its "ready" line. */
async function started(uid: number, argv: string[]): Promise<StartedProcess> {
  const p = startProcess([...setpriv(uid), ...argv], { timeoutMs: 300_000 });
  await p.waitForStdout("ready\n".length);
  return p;
}

let serial = 0;

/**
 * A sandbox whose HOME belongs to the victim, with CLI runs as the victim.
 * `USER` is unique so the default runtime dir `/tmp/wsl2proxy-$USER` is too;
 * `$XDG_RUNTIME_DIR` is unset unless `xdg` is given.
 */
function victimBox(xdg?: string): Sandbox & { tmpDefault: string } {
  const box = new Sandbox("w2p-victim-") as Sandbox & { tmpDefault: string };
  chownSync(box.dir, VICTIM, VICTIM);
  box.asUid = VICTIM;
  box.env.USER = `w2pvictim${process.pid}x${serial++}`;
  if (xdg === undefined) delete box.env.XDG_RUNTIME_DIR;
  else box.env.XDG_RUNTIME_DIR = xdg;
  box.tmpDefault = `/tmp/wsl2proxy-${box.env.USER}`;
  return box;
}

/** A config whose one socket lives in the runtime dir; `runtimeDir` unset means the default. */
function writeConfig(box: Sandbox, extra: { runtimeDir?: string; logPath?: string } = {}): void {
  box.writeConfig(
    (extra.runtimeDir ? `runtime_dir: ${JSON.stringify(extra.runtimeDir)}\n` : "") +
      (extra.logPath ? `log_path: ${JSON.stringify(extra.logPath)}\n` : "") +
      `agent:\n  command: ${agentCommandYaml()}\n` +
      `sockets:\n  - env_name: X_SOCK\n    linux_addr: "{runtime_dir}/x.sock"\n    windows_addr: pipe://./pipe/x\n`,
  );
}

/** A process of the victim's that has nothing to do with wsl2proxy. */
function bystander(): StartedProcess {
  return startProcess([...setpriv(VICTIM), "sleep", "300"], { timeoutMs: 300_000 });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !"ZX".includes(stat.slice(stat.lastIndexOf(")") + 2)[0]);
  } catch {
    return false;
  }
}

function noInternalError(r: { stderr: string }, what: string): void {
  assert.doesNotMatch(r.stderr, /internal error/, `${what}: ${r.stderr}`);
}

describe("security: a fake daemon is never trusted (finding 1)", () => {
  test("another user's /tmp/wsl2proxy-$USER with a fake control.sock: start, env, stop and status refuse it, name the owner, and signal nothing", async () => {
    const box = victimBox();
    const sleeper = bystander();
    let fake: StartedProcess | undefined;
    try {
      writeConfig(box);
      // The attacker got there first: its dir, mode 0755, with a control socket answering hello.
      mkdirSync(box.tmpDefault, { mode: 0o755 });
      chownSync(box.tmpDefault, ATTACKER, ATTACKER);
      const reply = JSON.stringify({ ok: true, pid: sleeper.child.pid, version: VERSION });
      fake = await started(ATTACKER, [
        compiled("fake_control"),
        join(box.tmpDefault, "control.sock"),
        reply,
      ]);
      const ownerAndFix = new RegExp(
        `${box.tmpDefault} is owned by uid ${ATTACKER} \\(nobody\\), not by you \\(uid ${VICTIM}\\).*Set runtime_dir`,
      );
      for (const command of ["start", "env"]) {
        const r = await box.cli([command]);
        assert.equal(r.code, 1, `${command}: ${r.stderr}`);
        assert.equal(text(r), "", `${command} exports nothing`);
        assert.match(r.stderr, ownerAndFix, command);
      }
      for (const command of ["stop", "status"]) {
        const r = await box.cli([command]);
        noInternalError(r, command);
        assert.notEqual(r.code, 0, `${command}: ${r.stderr}`);
        assert.match(r.stderr, ownerAndFix, command);
      }
      assert.ok(alive(sleeper.child.pid!), "the victim's unrelated process was not signalled");
      assert.deepEqual(box.daemonPids(), [], "no daemon of the victim");
    } finally {
      fake?.kill();
      sleeper.kill();
      rmSync(box.tmpDefault, { recursive: true, force: true });
      await box.cleanup();
    }
  });

  test("a control socket in the victim's own safe dir but served by another uid: refused by SO_PEERCRED, nothing signalled", async () => {
    const box = victimBox();
    const sleeper = bystander();
    const attackerDir = mkdtempSync(join(tmpdir(), "w2p-attacker-"));
    let fake: StartedProcess | undefined;
    try {
      chmodSync(attackerDir, 0o755);
      chownSync(attackerDir, ATTACKER, ATTACKER);
      writeConfig(box, { runtimeDir: box.runtimeDir });
      mkdirSync(box.runtimeDir, { mode: 0o700 });
      chownSync(box.runtimeDir, VICTIM, VICTIM);
      const reply = JSON.stringify({ ok: true, pid: sleeper.child.pid, version: VERSION });
      fake = await started(ATTACKER, [
        compiled("fake_control"),
        join(attackerDir, "control.sock"),
        reply,
      ]);
      // Only root can put it there; the listener stays the attacker's process.
      renameSync(join(attackerDir, "control.sock"), join(box.runtimeDir, "control.sock"));
      const stranger = new RegExp(
        `control\\.sock is served by uid ${ATTACKER} \\(nobody\\), pid ${fake.child.pid}, not by you \\(uid ${VICTIM}\\); refusing`,
      );
      for (const command of ["start", "stop", "status"]) {
        const r = await box.cli([command]);
        noInternalError(r, command);
        assert.equal(r.code, 1, `${command}: ${r.stderr}`);
        assert.equal(text(r), "", `${command} prints nothing on stdout`);
        assert.match(r.stderr, stranger, command);
      }
      assert.ok(alive(sleeper.child.pid!), "the victim's unrelated process was not signalled");
      assert.ok(alive(fake.child.pid!), "nor the fake");
    } finally {
      fake?.kill();
      sleeper.kill();
      rmSync(attackerDir, { recursive: true, force: true });
      await box.cleanup();
    }
  });

  test("status turns a malformed answer from a daemon of ours into a clear error", async () => {
    const box = new Sandbox();
    let fake: StartedProcess | undefined;
    try {
      writeConfig(box, { runtimeDir: box.runtimeDir });
      mkdirSync(box.runtimeDir, { mode: 0o700 });
      fake = await started(0, [
        compiled("fake_control"),
        join(box.runtimeDir, "control.sock"),
        `{"ok":true}`,
      ]);
      const r = await box.cli(["status"]);
      noInternalError(r, "status");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^wsl2proxy: the daemon's status answer is malformed$/m);
    } finally {
      fake?.kill();
      await box.cleanup();
    }
  });
});

describe("security: the runtime dir's parent (finding 2)", () => {
  test("a renameat2(RENAME_EXCHANGE) loop in an attacker-writable parent gets nothing of the victim's into the attacker's dir", async () => {
    const box = victimBox();
    // The attacker's dir (0777, like a shared runtime dir) holds the victim's runtime dir.
    const parent = mkdtempSync(join(tmpdir(), "w2p-parent-"));
    let swapper: StartedProcess | undefined;
    try {
      chmodSync(parent, 0o777);
      chownSync(parent, ATTACKER, ATTACKER);
      const run = join(parent, "run");
      mkdirSync(run, { mode: 0o700 });
      chownSync(run, VICTIM, VICTIM);
      // Where the swapped-in symlink leads: an open dir of the attacker's, whose proxy.log
      // points at a private file of the victim's.
      const target = join(parent, "target");
      mkdirSync(target, { mode: 0o777 });
      chmodSync(target, 0o777);
      chownSync(target, ATTACKER, ATTACKER);
      const secret = join(box.dir, "secret");
      writeFileSync(secret, "the victim's own file\n", { mode: 0o644 });
      chmodSync(secret, 0o644);
      chownSync(secret, VICTIM, VICTIM);
      symlinkSync(secret, join(target, "proxy.log"));
      symlinkSync(target, join(parent, "evil"));
      writeConfig(box, { runtimeDir: run });
      swapper = await started(ATTACKER, [compiled("rename_exchange"), run, join(parent, "evil")]);
      const results = [];
      for (let i = 0; i < 10; i++) {
        results.push(await box.cli(["start"], { timeoutMs: 60_000 }));
        // A start that got through left a daemon; the next one must race again.
        for (const pid of box.daemonPids()) process.kill(pid, "SIGKILL");
      }
      swapper.kill();
      await swapper.exited.catch(() => {});
      assert.deepEqual(
        readdirSync(target).sort(),
        ["proxy.log"],
        "nothing created in the attacker's dir",
      );
      assert.equal(
        readFileSync(secret, "utf8"),
        "the victim's own file\n",
        "the file behind proxy.log is untouched",
      );
      assert.equal(statSync(secret).mode & 0o7777, 0o644, "and not chmodded");
      for (const r of results) {
        noInternalError(r, "start");
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`is not safe: ${parent} is owned by uid ${ATTACKER} \\(nobody\\)`),
        );
      }
    } finally {
      swapper?.kill();
      for (const pid of box.daemonPids()) process.kill(pid, "SIGKILL");
      rmSync(parent, { recursive: true, force: true });
      await box.cleanup();
    }
  });

  test("an unsafe $XDG_RUNTIME_DIR (0777, another owner, as WSLg's) falls back to /tmp/wsl2proxy-$USER with one line saying why", async () => {
    const wslg = mkdtempSync(join(tmpdir(), "w2p-wslg-"));
    chmodSync(wslg, 0o777);
    chownSync(wslg, 1000, 1000); // WSLg's is often uid 1000's, whoever the user is
    const box = victimBox(wslg);
    try {
      writeConfig(box);
      const r = await box.cli(["start"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        new RegExp(
          `^wsl2proxy: warning: not using \\$XDG_RUNTIME_DIR \\(${wslg}\\) for the runtime dir: ` +
            `${wslg} is owned by uid 1000.*; using ${box.tmpDefault} instead$`,
        ),
      );
      assert.match(text(r), new RegExp(`X_SOCK="${box.tmpDefault}/x.sock"`));
      const dir = lstatSync(box.tmpDefault);
      assert.equal(dir.uid, VICTIM);
      assert.equal(dir.mode & 0o7777, 0o700);
      assert.deepEqual(readdirSync(wslg), [], "nothing in the unsafe dir");
      const status = await box.cli(["status"]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(text(status), new RegExp(`runtime: +${box.tmpDefault}`));
    } finally {
      await box.cleanup();
      rmSync(box.tmpDefault, { recursive: true, force: true });
      rmSync(wslg, { recursive: true, force: true });
    }
  });
});

describe("security: the start lock (finding 6)", () => {
  for (const [name, content] of [["empty", ""], ["naming pid 1", "1\n"]]) {
    test(`a leftover start.lock (${name}) does not block start`, async () => {
      const box = new Sandbox();
      try {
        writeConfig(box, { runtimeDir: box.runtimeDir });
        mkdirSync(box.runtimeDir, { mode: 0o700 });
        writeFileSync(join(box.runtimeDir, "start.lock"), content, { mode: 0o600 });
        const r = await box.cli(["start"], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(box.daemonPids().length, 1);
      } finally {
        await box.cleanup();
      }
    });
  }
});

describe("security: log_path is opened safely (finding 8)", () => {
  test("as root, a device node as log_path is refused and never chmodded", async () => {
    const box = new Sandbox();
    try {
      // A twin of /dev/null (char 1:3), so the real one is safe even on code that would chmod it.
      const dev = join(box.dir, "null");
      execFileSync("mknod", ["-m", "666", dev, "c", "1", "3"]);
      writeConfig(box, { runtimeDir: box.runtimeDir, logPath: dev });
      const r = await box.cli(["start"]);
      noInternalError(r, "start");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${dev} is not a regular file \\(a character device\\)`));
      assert.equal(statSync(dev).mode & 0o7777, 0o666, "the device keeps its mode");
      assert.deepEqual(box.daemonPids(), []);
    } finally {
      await box.cleanup();
    }
  });

  test("as a user, log_path: /dev/null is a clear error, not an internal one", async () => {
    const box = victimBox();
    try {
      writeConfig(box, { runtimeDir: box.runtimeDir, logPath: "/dev/null" });
      const r = await box.cli(["start"]);
      noInternalError(r, "start");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /\/dev\/null is not a regular file \(a character device\)/);
      assert.equal(statSync("/dev/null").mode & 0o7777, 0o666);
    } finally {
      await box.cleanup();
    }
  });
});
