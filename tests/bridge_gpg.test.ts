/**
 * `assuan://` and `gpg://` end to end with real GnuPG on both sides
 * (tests/helpers/gpg_env.ts): the "Windows" side is a real gpg-agent behind
 * tests/fixtures/assuan_nonce_relay.py, which does what libassuan does on
 * Windows (a port+nonce socket file; a wrong nonce is hung up on); the "WSL"
 * side is a GNUPGHOME with only the public key and `no-autostart`, whose
 * agent socket is the bridge's linux_addr. gpg, gpg-connect-agent and git
 * there reach the key only through the bridge (daemon + agent on Linux).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { Sandbox, text } from "./helpers/cli.ts";
import { type ProcessResult, runProcess } from "./helpers/process.ts";
import { skipNote } from "./helpers/agent.ts";
import { GpgPeers, removeDir, removeSocketDirs, SKIP_GPG as SKIP } from "./helpers/gpg_env.ts";

let box: Sandbox;
let g: GpgPeers;
let heldHome = ""; // a home whose local gpg-agent holds a linux_addr
let heldSock = "";
let unixHome = ""; // a third WSL-like home, bridged to the real agent over plain unix:// (for the timings)
let unixSock = "";
let started: ProcessResult;

/** Connect to the fixture's port, send `first`, and read until it closes (or 5 s). */
function rawExchange(port: number, first: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let got = "";
    const timer = setTimeout(() => sock.destroy(), 5000);
    sock.on("connect", () => sock.write(first));
    sock.on("data", (d) => {
      got += d.toString();
      if (got.includes("\n") && !sock.writableEnded) sock.end("BYE\n");
    });
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("assuan:// and gpg:// with real GnuPG on both ends", () => {
  before(async () => {
    if (SKIP) return;
    box = new Sandbox("w2p-gpg-");
    g = await GpgPeers.start(box.dir);
    // A local gpg-agent already serving the path a socket is configured on.
    heldHome = join(box.dir, "h");
    mkdirSync(heldHome, { mode: 0o700 });
    await g.ok(["gpgconf", "--launch", "gpg-agent"], heldHome);
    heldSock = await g.gpgconf(heldHome, "agent-socket");

    unixHome = join(box.dir, "u");
    mkdirSync(unixHome, { mode: 0o700 });
    writeFileSync(join(unixHome, "gpg.conf"), "no-autostart\n");
    for (const f of ["pubring.kbx", "trustdb.gpg"]) {
      copyFileSync(join(g.wslHome, f), join(unixHome, f));
    }
    unixSock = await g.gpgconf(unixHome, "agent-socket");
    mkdirSync(dirname(unixSock), { recursive: true, mode: 0o700 });

    writeFileSync(join(box.dir, "junk"), "this is not a socket file\n");
    box.writeBridgeConfig([
      { env: "GPG_AGENT_SOCK", linux: g.wslSock, windows: `assuan://${g.winFile}` },
      { env: "GPG_GPGCONF_SOCK", linux: "{runtime_dir}/gpgconf.sock", windows: "gpg://agent" },
      {
        env: "GPG_MISSING_SOCK",
        linux: "{runtime_dir}/missing.sock",
        windows: `assuan://${box.dir}/none/S.gpg-agent`,
      },
      {
        env: "GPG_JUNK_SOCK",
        linux: "{runtime_dir}/junk.sock",
        windows: `assuan://${box.dir}/junk`,
      },
      { env: "GPG_HELD_SOCK", linux: heldSock, windows: `assuan://${g.winFile}` },
      { env: "GPG_UNIX_SOCK", linux: unixSock, windows: `unix://${g.realSock}` },
    ]);
    // The agent runs gpgconf with this GNUPGHOME: it is the "Windows" user's.
    started = await box.cli(["start"], { env: { GNUPGHOME: g.winHome } });
  });

  after(async () => {
    if (SKIP) return;
    await box?.cleanup();
    await g?.stop();
    await runProcess(["gpgconf", "--kill", "gpg-agent"], { env: g.env(heldHome) }).catch(() => {});
    removeSocketDirs(box.dir, [heldSock, unixSock]);
    removeDir(box.dir);
  });

  test(
    "fixture - a wrong nonce is cut off without a word, the right one reaches the real agent, and gpg cannot use the file as a socket" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const { port, nonce } = g.socketFile();
      assert.equal(nonce.length, 16);
      assert.equal(await rawExchange(port, new Uint8Array(16)), "");
      await g.fixture.waitForStderr(/wrong nonce/);
      assert.match(await rawExchange(port, nonce), /^OK Pleased to meet you/);
      const direct = await g.run(
        ["gpg-connect-agent", "-S", g.winFile, "GETINFO version", "/bye"],
        g.winHome,
      );
      assert.notEqual(direct.code, 0);
      assert.match(direct.stderr, /can't connect to socket/);
    },
  );

  test(
    "start - the socket held by a live local gpg-agent fails with the gpg-agent hint, the others start, exit 5" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      assert.equal(started.code, 5, started.stderr);
      assert.match(
        started.stderr,
        new RegExp(
          `GPG_HELD_SOCK is not exported: ${
            escape(heldSock)
          } is not listening: .*a local gpg-agent is listening there: stop it with \`gpgconf --kill gpg-agent\`, add \`no-autostart\``,
        ),
      );
      assert.match(text(started), /GPG_AGENT_SOCK=/);
      assert.doesNotMatch(text(started), /GPG_HELD_SOCK=/);
      // Never replaced: the local agent still answers on its socket.
      assert.match(await g.ok(["gpg-connect-agent", "GETINFO pid", "/bye"], heldHome), /^D \d+/m);
    },
  );

  test(
    "gpg - signs and verifies through the bridge, 10 signatures in a row" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const times: Record<string, number[]> = { assuan: [], unix: [], direct: [] };
      for (let i = 0; i < 10; i++) {
        // Taken in turns, so that load on the machine hits all alike.
        times.assuan.push(await g.sign(g.wslHome, `assuan-${i}`));
        times.unix.push(await g.sign(unixHome, `unix-${i}`));
        times.direct.push(await g.sign(g.keyHome, `direct-${i}`));
      }
      const bench = process.env.W2P_GPG_BENCH;
      if (bench) {
        const median = (xs: number[]) =>
          [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1);
        appendFileSync(
          bench,
          `${new Date().toISOString()} ${"Deno" in globalThis ? "deno" : "bun"}: ` +
            `one gpg --detach-sign, median of 10: bridge to assuan:// (nonce fixture) ${
              median(times.assuan)
            } ms, bridge to unix:// ${median(times.unix)} ms, direct ${median(times.direct)} ms\n`,
        );
      }
    },
  );

  test(
    "git - commit -S and verify-commit through the bridge" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const repo = join(box.dir, "repo");
      mkdirSync(repo);
      const git = (...args: string[]) => g.ok(["git", "-C", repo, ...args], g.wslHome);
      await git("init", "-q");
      await git("config", "user.name", "Test Signer");
      await git("config", "user.email", "signer@example.org");
      await git("config", "user.signingkey", g.fpr);
      await git("commit", "-q", "--allow-empty", "-S", "-m", "signed through wsl2proxy");
      const v = await g.run(["git", "-C", repo, "verify-commit", "-v", "HEAD"], g.wslHome);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stderr, /Good signature from "Test Signer <signer@example.org>"/);
    },
  );

  test(
    "gpg - decrypts through the bridge what was encrypted to the key" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      await g.decrypt("decrypt");
    },
  );

  test(
    "gpg:// - gpgconf on the agent's side names the file, and the real agent answers" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const colons = await g.ok(
        ["gpg", "--list-keys", "--with-keygrip", "--with-colons", g.fpr],
        g.wslHome,
      );
      const grip = colons.match(/^grp:+([0-9A-F]{40}):/m)![1];
      const sock = join(box.runtimeDir, "gpgconf.sock");
      const out = await g.ok(
        ["gpg-connect-agent", "-S", sock, `HAVEKEY ${grip}`, "/bye"],
        g.wslHome,
      );
      assert.match(out, /^OK/m);
    },
  );

  test(
    "restart - the fixture comes back on a new port with a new nonce, and signing keeps working; while it is down the reason says what to do" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const before = g.socketFile();
      await g.stopFixture();
      const down = await g.run(
        ["gpg", "--batch", "--local-user", g.fpr, "--clearsign", "-o", "/dev/null"],
        g.wslHome,
        "text\n",
      );
      assert.notEqual(down.code, 0, "no agent, no signature");
      assert.match(
        box.log(),
        new RegExp(
          `gpg-agent is not running on Windows \\(${
            escape(g.winFile)
          } names port ${before.port}, ` +
            "where nothing listens\\): run `gpgconf --launch gpg-agent` on Windows",
        ),
      );
      await g.startFixture();
      const after = g.socketFile();
      assert.notEqual(after.port, before.port);
      assert.notDeepEqual(after.nonce, before.nonce);
      await g.sign(g.wslHome, "after-restart");
    },
  );

  test(
    "a missing or unparsable file gives the documented reason" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      for (const name of ["missing", "junk"]) {
        const sock = join(box.runtimeDir, `${name}.sock`);
        const r = await g.run(
          ["gpg-connect-agent", "-S", sock, "GETINFO version", "/bye"],
          g.wslHome,
        );
        assert.doesNotMatch(text(r), /^D /m);
      }
      const log = box.log();
      assert.match(
        log,
        new RegExp(
          `gpg-agent is not running on Windows \\(no socket file ${
            escape(box.dir)
          }/none/S\\.gpg-agent\\): run \`gpgconf --launch gpg-agent\` on Windows`,
        ),
      );
      assert.match(
        log,
        new RegExp(
          `${
            escape(box.dir)
          }/junk is not a gpg-agent socket file \\(expected a port, a newline and 16 nonce bytes; got 26 bytes\\)`,
        ),
      );
    },
  );
});
