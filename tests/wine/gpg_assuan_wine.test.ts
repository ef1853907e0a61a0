/**
 * `assuan://` through the compiled Windows agent under Wine: the agent reads
 * the port+nonce socket file by its Windows path (`Z:\…`, Wine's view of
 * the Linux root), connects to 127.0.0.1:PORT and sends the nonce, as it
 * does to gpg4win's gpg-agent. Behind the port is the nonce-checking fixture
 * in front of a real gpg-agent (tests/helpers/gpg_env.ts); the WSL side is
 * real gpg with only the public key.
 *
 * `gpg://agent` runs gpgconf.exe through the Windows PATH: here a mingw
 * stand-in (tests/fixtures/win_gpgconf.c, on WINEPATH) that answers
 * `--list-dirs agent-socket` from GNUPGHOME as GnuPG for Windows does, with
 * forward slashes. gpg-agent's ssh socket, a Cygwin-form file, is served by
 * the same fixture's `--cygwin` mode in front of a real ssh-agent.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Sandbox } from "../helpers/cli.ts";
import { runProcess, startProcess } from "../helpers/process.ts";
import { GpgPeers, removeDir, SKIP_GPG } from "../helpers/gpg_env.ts";
import { SETUP_TIMEOUT, SKIP_WINE, stopWineServer, wine } from "./_wine_env.ts";
import { buildWinFixture } from "./_win_fixtures.ts";

const CASE_TIMEOUT = 120_000;

interface Setup {
  box: Sandbox;
  g: GpgPeers;
  /** The key's fingerprint in the ssh-agent behind the Cygwin-form fixture. */
  sshFingerprint: string;
}

const FIXTURE = fileURLToPath(new URL("../fixtures/assuan_nonce_relay.py", import.meta.url));

let setup: Promise<Setup> | undefined;
let teardown: (() => Promise<void>) | undefined;

/** Wine's name for a Linux path: drive Z: is the root. */
function winePath(linuxPath: string): string {
  return `Z:${linuxPath}`;
}

/** The same with backslashes, as Windows programs see it in the environment. */
function wineBackslashPath(linuxPath: string): string {
  return `Z:${linuxPath.replaceAll("/", "\\")}`;
}

function theSetup(): Promise<Setup> {
  setup ??= (async () => {
    const [{ vars }, agentExe, gpgconfExe] = await Promise.all([
      wine(),
      publish(await new Builder().binary("bun", "windows-x64")),
      buildWinFixture("win_gpgconf"),
    ]);
    const box = new Sandbox("w2p-wine-gpg-");
    teardown = () => box.cleanup();
    const g = await GpgPeers.start(box.dir);
    // gpg-agent's ssh socket (Cygwin form) in front of a real ssh-agent.
    const sshSock = join(box.dir, "ssh-agent.sock");
    const sshEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", SSH_AUTH_SOCK: sshSock };
    const sshAgent = startProcess(["ssh-agent", "-D", "-a", sshSock], {
      env: sshEnv,
      timeoutMs: 30 * 60_000,
    });
    const sshFile = join(g.winHome, "S.gpg-agent.ssh");
    const cygwin = startProcess(["python3", FIXTURE, "--cygwin", sshFile, sshSock], {
      env: sshEnv,
      timeoutMs: 30 * 60_000,
    });
    teardown = async () => {
      await box.cleanup(); // the daemon first, then what it reaches
      await g.stop();
      for (const p of [cygwin, sshAgent]) {
        p.kill();
        await p.exited.catch(() => {});
      }
      removeDir(box.dir);
    };
    await Promise.all([sshAgent.waitForStdout(1), cygwin.waitForStdout("ready ".length)]);
    const key = join(box.dir, "id_ed25519");
    const keygen = await runProcess(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], {
      env: sshEnv,
    });
    assert.equal(keygen.code, 0, keygen.stderr);
    assert.equal((await runProcess(["ssh-add", key], { env: sshEnv })).code, 0);
    const listed = await runProcess(["ssh-keygen", "-lf", `${key}.pub`], { env: sshEnv });
    const sshFingerprint = new TextDecoder().decode(listed.stdout).split(" ")[1];
    const bin = join(box.dir, "bin");
    mkdirSync(bin);
    copyFileSync(gpgconfExe, join(bin, "gpgconf.exe"));
    Object.assign(box.env, vars, {
      WINEPATH: wineBackslashPath(bin),
      GNUPGHOME: wineBackslashPath(g.winHome), // the "Windows" user's home, for gpgconf.exe
    });
    box.writeConfig(
      `log_level: debug\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
        `agent:\n  command: ${JSON.stringify(["wine", agentExe, "agent"])}\n` +
        `sockets:\n` +
        `  - env_name: GPG_AGENT_SOCK\n    linux_addr: ${JSON.stringify(g.wslSock)}\n` +
        `    windows_addr: ${JSON.stringify(`assuan://${winePath(g.winFile)}`)}\n` +
        `  - env_name: GPG_GPGCONF_SOCK\n    linux_addr: "{runtime_dir}/gpgconf.sock"\n` +
        `    windows_addr: gpg://agent\n` +
        `  - env_name: GPG_SSH_AUTH_SOCK\n    linux_addr: "{runtime_dir}/gpg-ssh.sock"\n` +
        `    windows_addr: ${JSON.stringify(`assuan://${winePath(sshFile)}`)}\n` +
        `  - env_name: GPG_MISSING_SOCK\n    linux_addr: "{runtime_dir}/missing.sock"\n` +
        `    windows_addr: ${JSON.stringify(`assuan://${winePath(box.dir)}/none/S.gpg-agent`)}\n`,
    );
    const started = await box.cli(["start"], { timeoutMs: 120_000 });
    assert.equal(started.code, 0, started.stderr + box.log());
    await box.waitAgent(undefined, 90_000);
    return { box, g, sshFingerprint };
  })();
  return setup;
}

describe("assuan:// through the Windows agent under Wine, to a real gpg-agent", () => {
  after(async () => {
    await teardown?.();
    await stopWineServer();
  });

  test(
    "wine gpg - sign, verify and decrypt through the Windows agent; a gpg-agent restart needs nothing",
    { skip: SKIP_WINE || SKIP_GPG, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const { g, box } = await theSetup();
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) ms.push(await g.sign(g.wslHome, `wine-${i}`));
      if (process.env.W2P_GPG_BENCH) {
        appendFileSync(
          process.env.W2P_GPG_BENCH,
          `${new Date().toISOString()} ${
            "Deno" in globalThis ? "deno" : "bun"
          }: one gpg --detach-sign ` +
            `through the Windows agent under Wine, median of 5: ${
              [...ms].sort((a, b) => a - b)[2].toFixed(1)
            } ms\n`,
        );
      }
      await g.decrypt("wine");
      const before = g.socketFile();
      await g.stopFixture();
      await g.startFixture();
      assert.notEqual(g.socketFile().port, before.port);
      await g.sign(g.wslHome, "wine-after-restart");
      assert.match(g.fixture.stderr(), /accepted/);
      assert.doesNotMatch(box.log(), /wrong nonce/);
    },
  );

  test(
    "wine gpg - gpg://agent: gpgconf.exe on the Windows PATH names the file, and the real agent answers",
    { skip: SKIP_WINE || SKIP_GPG, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const { g, box } = await theSetup();
      const colons = await g.ok(
        ["gpg", "--list-keys", "--with-keygrip", "--with-colons", g.fpr],
        g.wslHome,
      );
      const grip = colons.match(/^grp:+([0-9A-F]{40}):/m)![1];
      const sock = join(box.runtimeDir, "gpgconf.sock");
      for (let i = 0; i < 2; i++) {
        const out = await g.ok(
          ["gpg-connect-agent", "-S", sock, `HAVEKEY ${grip}`, "/bye"],
          g.wslHome,
        );
        assert.match(out, /^OK/m, box.log().slice(-2000));
      }
    },
  );

  test(
    "wine gpg - the Cygwin-form ssh socket file (S.gpg-agent.ssh): ssh-add -l lists the key",
    { skip: SKIP_WINE || SKIP_GPG, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const { box, sshFingerprint } = await theSetup();
      const r = await runProcess(["ssh-add", "-l"], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          SSH_AUTH_SOCK: join(box.runtimeDir, "gpg-ssh.sock"),
        },
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, r.stderr + box.log().slice(-2000));
      assert.ok(new TextDecoder().decode(r.stdout).includes(sshFingerprint));
    },
  );

  test(
    "wine gpg - a missing socket file is reset with the reason that says to launch gpg-agent",
    { skip: SKIP_WINE || SKIP_GPG, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const { g, box } = await theSetup();
      const sock = `${box.runtimeDir}/missing.sock`;
      const r = await g.run(
        ["gpg-connect-agent", "-S", sock, "GETINFO version", "/bye"],
        g.wslHome,
      );
      assert.doesNotMatch(new TextDecoder().decode(r.stdout), /^D /m);
      assert.match(
        box.log(),
        /gpg-agent is not running on Windows \(no socket file Z:\\.*\\none\\S\.gpg-agent\): run `gpgconf --launch gpg-agent` on Windows/,
      );
    },
  );
});
