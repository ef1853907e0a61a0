/**
 * `assuan://` and `gpg://` end to end with real GnuPG on both sides.
 *
 * The "Windows" side: a real gpg-agent (its own GNUPGHOME, a key without a
 * passphrase) behind tests/fixtures/assuan_nonce_relay.py, which does what
 * libassuan does on Windows: it listens on a loopback port, writes the
 * port+nonce socket file, hangs up on a wrong nonce, and relays the rest to
 * the real agent. The "WSL" side: a second GNUPGHOME that holds only the
 * public key (and `no-autostart`), whose agent socket is the bridge's
 * linux_addr. gpg, gpg-connect-agent and git there reach the key only
 * through the bridge (daemon + agent on Linux, `assuan:///…` and `gpg://`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { Sandbox, text } from "./helpers/cli.ts";
import {
  type ProcessResult,
  runProcess,
  type StartedProcess,
  startProcess,
} from "./helpers/process.ts";
import { skipNote } from "./helpers/agent.ts";

function which(program: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, program)));
}

const SKIP: string | false = process.platform !== "linux"
  ? "Linux only"
  : !["gpg", "gpg-agent", "gpgconf", "gpg-connect-agent", "git", "python3"].every(which)
  ? "needs gnupg, git and python3 (scripts/install-deps.sh)"
  : false;

const FIXTURE = resolve(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "fixtures/assuan_nonce_relay.py",
);

let box: Sandbox;
let keyHome = ""; // the real agent's home: the secret key lives here
let winHome = ""; // the "Windows" GNUPGHOME: gpgconf names the fixture's socket file here
let wslHome = ""; // the "WSL" GNUPGHOME: public key only; its agent socket is the bridge
let heldHome = ""; // a home whose local gpg-agent holds a linux_addr
let winFile = ""; // the fixture's port+nonce file
let realSock = ""; // the real agent's Unix socket
let heldSock = "";
let gpgconfSock = ""; // bridge socket to gpg://agent
let fpr = "";
let fixture: StartedProcess | undefined;
let started: ProcessResult;

function gpgEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: box.dir, GNUPGHOME: home, LC_ALL: "C" };
}

async function run(argv: string[], home: string, input?: string): Promise<ProcessResult> {
  return await runProcess(argv, {
    env: gpgEnv(home),
    input: new TextEncoder().encode(input ?? ""),
    timeoutMs: 60_000,
  });
}

async function ok(argv: string[], home: string, input?: string): Promise<string> {
  const r = await run(argv, home, input);
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  return text(r);
}

async function gpgconf(home: string, name: string): Promise<string> {
  return (await ok(["gpgconf", "--list-dirs", name], home)).trim();
}

/** Start the fixture in front of the real agent: a new port and a new nonce each time. */
async function startFixture(): Promise<StartedProcess> {
  const p = startProcess(["python3", FIXTURE, winFile, realSock], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    timeoutMs: 30 * 60_000,
  });
  await p.waitForStdout("ready ".length);
  return p;
}

async function stopFixture(): Promise<void> {
  fixture?.kill();
  await fixture?.exited.catch(() => {});
  fixture = undefined;
}

/** The fixture's file: port and nonce. */
function socketFile(): { port: number; nonce: Uint8Array } {
  const bytes = readFileSync(winFile);
  const nl = bytes.indexOf(0x0a);
  return { port: Number(bytes.subarray(0, nl).toString()), nonce: bytes.subarray(nl + 1) };
}

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

/** A detached signature by the key, verified; resolves with the ms the signing alone took. */
async function sign(home: string, what: string): Promise<number> {
  const input = join(box.dir, `${what}.txt`);
  writeFileSync(input, `signed ${what}\n`);
  const t = performance.now();
  await ok([
    "gpg",
    "--batch",
    "--yes",
    "--local-user",
    fpr,
    "--detach-sign",
    "-o",
    `${input}.sig`,
    input,
  ], home);
  const ms = performance.now() - t;
  const v = await run(["gpg", "--batch", "--verify", `${input}.sig`, input], home);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /Good signature from "Test Signer <signer@example.org>"/);
  return ms;
}

describe("assuan:// and gpg:// with real GnuPG on both ends", () => {
  before(async () => {
    if (SKIP) return;
    box = new Sandbox("w2p-gpg-");
    keyHome = join(box.dir, "k");
    winHome = join(box.dir, "w");
    wslHome = join(box.dir, "l");
    heldHome = join(box.dir, "h");
    for (const d of [keyHome, winHome, wslHome, heldHome]) mkdirSync(d, { mode: 0o700 });
    // The WSL side must never start an agent of its own onto the bridge's path.
    writeFileSync(join(wslHome, "gpg.conf"), "no-autostart\n");

    const batch = ["--batch", "--pinentry-mode", "loopback", "--passphrase", ""];
    await ok([
      "gpg",
      ...batch,
      "--quick-gen-key",
      "Test Signer <signer@example.org>",
      "ed25519",
      "sign,cert",
      "never",
    ], keyHome);
    fpr = (await ok(["gpg", "--list-keys", "--with-colons"], keyHome)).match(
      /^fpr:+([0-9A-F]{40}):/m,
    )![1];
    await ok(["gpg", ...batch, "--quick-add-key", fpr, "cv25519", "encr", "never"], keyHome);
    const pub = await runProcess(["gpg", "--export", fpr], { env: gpgEnv(keyHome) });
    const imported = await runProcess(["gpg", "--batch", "--import"], {
      env: gpgEnv(wslHome),
      input: pub.stdout,
    });
    assert.equal(imported.code, 0, imported.stderr);
    await ok(["gpg", "--batch", "--import-ownertrust"], wslHome, `${fpr}:6:\n`);

    realSock = await gpgconf(keyHome, "agent-socket");
    winFile = await gpgconf(winHome, "agent-socket");
    mkdirSync(dirname(winFile), { recursive: true, mode: 0o700 });
    fixture = await startFixture();

    // A local gpg-agent already serving the path a socket is configured on.
    await ok(["gpgconf", "--launch", "gpg-agent"], heldHome);
    heldSock = await gpgconf(heldHome, "agent-socket");

    const wslSock = await gpgconf(wslHome, "agent-socket");
    mkdirSync(dirname(wslSock), { recursive: true, mode: 0o700 });
    box.writeBridgeConfig([
      { env: "GPG_AGENT_SOCK", linux: wslSock, windows: `assuan://${winFile}` },
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
      { env: "GPG_HELD_SOCK", linux: heldSock, windows: `assuan://${winFile}` },
    ]);
    writeFileSync(join(box.dir, "junk"), "this is not a socket file\n");
    // The agent runs gpgconf with this GNUPGHOME: it is the "Windows" user's.
    started = await box.cli(["start"], { env: { GNUPGHOME: winHome } });
    gpgconfSock = join(box.runtimeDir, "gpgconf.sock");
  });

  after(async () => {
    if (SKIP) return;
    await box?.cleanup();
    await stopFixture();
    for (const home of [keyHome, heldHome]) {
      await runProcess(["gpgconf", "--kill", "gpg-agent"], { env: gpgEnv(home) }).catch(() => {});
    }
  });

  test(
    "fixture - a wrong nonce is cut off without a word, the right one reaches the real agent, and gpg cannot use the file as a socket" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const { port, nonce } = socketFile();
      assert.equal(nonce.length, 16);
      assert.equal(await rawExchange(port, new Uint8Array(16)), "");
      await fixture!.waitForStderr(/wrong nonce/);
      assert.match(await rawExchange(port, nonce), /^OK Pleased to meet you/);
      const direct = await run(
        ["gpg-connect-agent", "-S", winFile, "GETINFO version", "/bye"],
        winHome,
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
          `GPG_HELD_SOCK is not exported: ${heldSock} is not listening: .*gpg-agent.*gpgconf --kill gpg-agent.*no-autostart`,
        ),
      );
      assert.match(text(started), /GPG_AGENT_SOCK=/);
      assert.doesNotMatch(text(started), /GPG_HELD_SOCK=/);
      // Never replaced: the local agent still answers on its socket.
      assert.match(await ok(["gpg-connect-agent", "GETINFO pid", "/bye"], heldHome), /^D \d+/m);
    },
  );

  test("gpg - signs and verifies through the bridge, 10 signatures in a row" + skipNote(SKIP), {
    skip: SKIP,
  }, async () => {
    assert.doesNotMatch(await ok(["gpg", "--list-secret-keys", "--with-colons"], keyHome), /^$/);
    const times: Record<string, number[]> = { bridge: [], direct: [] };
    for (let i = 0; i < 10; i++) {
      // Taken in turns, so that load on the machine hits both alike.
      for (const [name, home] of [["bridge", wslHome], ["direct", keyHome]] as const) {
        times[name].push(await sign(home, `${name}-${i}`));
      }
    }
    const bench = process.env.W2P_GPG_BENCH;
    if (bench) {
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      appendFileSync(
        bench,
        `${new Date().toISOString()} ${
          "Deno" in globalThis ? "deno" : "bun"
        }: one gpg --detach-sign, median of 10: ` +
          `bridge ${median(times.bridge).toFixed(1)} ms, direct ${
            median(times.direct).toFixed(1)
          } ms\n`,
      );
    }
  });

  test(
    "git - commit -S and verify-commit through the bridge" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const repo = join(box.dir, "repo");
      mkdirSync(repo);
      const git = (...args: string[]) => ok(["git", "-C", repo, ...args], wslHome);
      await git("init", "-q");
      await git("config", "user.name", "Test Signer");
      await git("config", "user.email", "signer@example.org");
      await git("config", "user.signingkey", fpr);
      await git("commit", "-q", "--allow-empty", "-S", "-m", "signed through wsl2proxy");
      const v = await run(["git", "-C", repo, "verify-commit", "-v", "HEAD"], wslHome);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stderr, /Good signature from "Test Signer <signer@example.org>"/);
    },
  );

  test("gpg - decrypts through the bridge what was encrypted to the key" + skipNote(SKIP), {
    skip: SKIP,
  }, async () => {
    const plain = join(box.dir, "secret.txt");
    writeFileSync(plain, "the secret\n");
    await ok(["gpg", "--batch", "--yes", "-e", "-r", fpr, "-o", `${plain}.gpg`, plain], wslHome);
    assert.equal(await ok(["gpg", "--batch", "-d", `${plain}.gpg`], wslHome), "the secret\n");
  });

  test(
    "gpg:// - gpgconf on the agent's side names the file, and the real agent answers" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const grip =
        (await ok(["gpg", "--list-keys", "--with-keygrip", "--with-colons", fpr], wslHome))
          .match(/^grp:+([0-9A-F]{40}):/m)![1];
      const out = await ok(
        ["gpg-connect-agent", "-S", gpgconfSock, `HAVEKEY ${grip}`, "/bye"],
        wslHome,
      );
      assert.match(out, /^OK/m);
    },
  );

  test(
    "restart - the fixture comes back on a new port with a new nonce, and signing keeps working; while it is down the reason says what to do" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const before = socketFile();
      await stopFixture();
      const down = await run([
        "gpg",
        "--batch",
        "--local-user",
        fpr,
        "--detach-sign",
        "-o",
        "/dev/null",
        join(box.dir, "secret.txt"),
      ], wslHome);
      assert.notEqual(down.code, 0, "no agent, no signature");
      assert.match(
        box.log(),
        new RegExp(
          `gpg-agent is not running on Windows \\(${
            escape(winFile)
          } names port ${before.port}, where nothing listens\\): run \`gpgconf --launch gpg-agent\` on Windows`,
        ),
      );
      fixture = await startFixture();
      const after = socketFile();
      assert.notEqual(after.port, before.port);
      assert.notDeepEqual(after.nonce, before.nonce);
      await sign(wslHome, "after-restart");
    },
  );

  test(
    "a missing or unparsable file gives the documented reason" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      for (const name of ["missing", "junk"]) {
        const r = await run([
          "gpg-connect-agent",
          "-S",
          join(box.runtimeDir, `${name}.sock`),
          "GETINFO version",
          "/bye",
        ], wslHome);
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

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
