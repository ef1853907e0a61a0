/**
 * Real GnuPG on both sides of the bridge, for the gpg tests:
 *
 * - the "Windows" side: a real gpg-agent (its own GNUPGHOME, a key without a
 *   passphrase) behind tests/fixtures/assuan_nonce_relay.py, which serves it
 *   the way libassuan does on Windows (a port+nonce socket file);
 * - the "WSL" side: a second GNUPGHOME with only the public key and
 *   `no-autostart`, whose agent socket is where the bridge must listen.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { text } from "./cli.ts";
import { type ProcessResult, runProcess, type StartedProcess, startProcess } from "./process.ts";

const FIXTURE = resolve(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "../fixtures/assuan_nonce_relay.py",
);

function which(program: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, program)));
}

/** Why the gpg tests cannot run here, or `false`. */
export const SKIP_GPG: string | false = process.platform !== "linux"
  ? "Linux only"
  : !["gpg", "gpg-agent", "gpgconf", "gpg-connect-agent", "git", "python3"].every(which)
  ? "needs gnupg, git and python3 (scripts/install-deps.sh)"
  : false;

/** Both GnuPG homes, the key, and the fixture in front of the real agent. */
export class GpgPeers {
  /** The real agent's home: the secret key lives only here. */
  readonly keyHome: string;
  /** The "Windows" GNUPGHOME: `gpgconf --list-dirs agent-socket` there names the fixture's file. */
  readonly winHome: string;
  /** The "WSL" GNUPGHOME: public key only, `no-autostart`. */
  readonly wslHome: string;
  /** The fixture's port+nonce file. */
  winFile = "";
  /** The real agent's Unix socket. */
  realSock = "";
  /** Where gpg in the WSL home looks for its agent: the bridge's linux_addr. */
  wslSock = "";
  /** The key's fingerprint. */
  fpr = "";
  #fixture: StartedProcess | undefined;

  private constructor(readonly dir: string) {
    this.keyHome = join(dir, "k");
    this.winHome = join(dir, "w");
    this.wslHome = join(dir, "l");
  }

  /** Make the key, both homes, and start the fixture. Paths stay short (AF_UNIX limit). */
  static async start(dir: string): Promise<GpgPeers> {
    const p = new GpgPeers(dir);
    for (const d of [p.keyHome, p.winHome, p.wslHome]) mkdirSync(d, { mode: 0o700 });
    // The WSL side must never start an agent of its own onto the bridge's path.
    writeFileSync(join(p.wslHome, "gpg.conf"), "no-autostart\n");
    const batch = ["--batch", "--pinentry-mode", "loopback", "--passphrase", ""];
    await p.ok(
      [
        "gpg",
        ...batch,
        "--quick-gen-key",
        "Test Signer <signer@example.org>",
        "ed25519",
        "sign,cert",
        "never",
      ],
      p.keyHome,
    );
    p.fpr = (await p.ok(["gpg", "--list-keys", "--with-colons"], p.keyHome))
      .match(/^fpr:+([0-9A-F]{40}):/m)![1];
    await p.ok(["gpg", ...batch, "--quick-add-key", p.fpr, "cv25519", "encr", "never"], p.keyHome);
    const pub = await runProcess(["gpg", "--export", p.fpr], { env: p.env(p.keyHome) });
    const imported = await runProcess(["gpg", "--batch", "--import"], {
      env: p.env(p.wslHome),
      input: pub.stdout,
    });
    assert.equal(imported.code, 0, imported.stderr);
    await p.ok(["gpg", "--batch", "--import-ownertrust"], p.wslHome, `${p.fpr}:6:\n`);

    p.realSock = await p.gpgconf(p.keyHome, "agent-socket");
    p.winFile = await p.gpgconf(p.winHome, "agent-socket");
    mkdirSync(dirname(p.winFile), { recursive: true, mode: 0o700 });
    p.wslSock = await p.gpgconf(p.wslHome, "agent-socket");
    mkdirSync(dirname(p.wslSock), { recursive: true, mode: 0o700 });
    await p.startFixture();
    return p;
  }

  /** The environment for GnuPG programs using `home`. */
  env(home: string): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: this.dir,
      GNUPGHOME: home,
      LC_ALL: "C",
    };
  }

  /** Run a program with `home` as GNUPGHOME. */
  run(argv: string[], home: string, input?: string): Promise<ProcessResult> {
    return runProcess(argv, {
      env: this.env(home),
      input: new TextEncoder().encode(input ?? ""),
      timeoutMs: 60_000,
    });
  }

  /** Run it, assert exit 0, and return its stdout. */
  async ok(argv: string[], home: string, input?: string): Promise<string> {
    const r = await this.run(argv, home, input);
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    return text(r);
  }

  /** `gpgconf --list-dirs NAME` in `home`. */
  async gpgconf(home: string, name: string): Promise<string> {
    return (await this.ok(["gpgconf", "--list-dirs", name], home)).trim();
  }

  /** The fixture process (its stderr says "accepted" or "wrong nonce" per connection). */
  get fixture(): StartedProcess {
    assert.ok(this.#fixture, "the fixture runs");
    return this.#fixture;
  }

  /** Start the fixture: a new port and a new nonce each time, as a gpg-agent restart. */
  async startFixture(): Promise<void> {
    this.#fixture = startProcess(["python3", FIXTURE, this.winFile, this.realSock], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      timeoutMs: 30 * 60_000,
    });
    await this.#fixture.waitForStdout("ready ".length);
  }

  /** Stop the fixture; its file stays behind, as a dead gpg-agent's does. */
  async stopFixture(): Promise<void> {
    this.#fixture?.kill();
    await this.#fixture?.exited.catch(() => {});
    this.#fixture = undefined;
  }

  /** The fixture's file: port and nonce. */
  socketFile(): { port: number; nonce: Uint8Array } {
    const bytes = readFileSync(this.winFile);
    const nl = bytes.indexOf(0x0a);
    return { port: Number(bytes.subarray(0, nl).toString()), nonce: bytes.subarray(nl + 1) };
  }

  /**
   * A detached signature by the key from `home`, verified there; resolves
   * with the ms the signing alone took.
   */
  async sign(home: string, what: string): Promise<number> {
    const input = join(this.dir, `${what}.txt`);
    writeFileSync(input, `signed ${what}\n`);
    const t = performance.now();
    await this.ok(
      [
        "gpg",
        "--batch",
        "--yes",
        "--local-user",
        this.fpr,
        "--detach-sign",
        "-o",
        `${input}.sig`,
        input,
      ],
      home,
    );
    const ms = performance.now() - t;
    const v = await this.run(["gpg", "--batch", "--verify", `${input}.sig`, input], home);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /Good signature from "Test Signer <signer@example.org>"/);
    return ms;
  }

  /** Encrypt to the key in the WSL home and decrypt it there (the agent decrypts). */
  async decrypt(what: string): Promise<void> {
    const plain = join(this.dir, `${what}.txt`);
    writeFileSync(plain, `the secret ${what}\n`);
    await this.ok(
      ["gpg", "--batch", "--yes", "-e", "-r", this.fpr, "-o", `${plain}.gpg`, plain],
      this.wslHome,
    );
    assert.equal(
      await this.ok(["gpg", "--batch", "-d", `${plain}.gpg`], this.wslHome),
      `the secret ${what}\n`,
    );
  }

  /**
   * Stop the fixture and the real agent, and remove the per-home socket
   * directories GnuPG puts under /run/user/UID/gnupg/d.* where that exists
   * (outside the test's own directory).
   */
  async stop(): Promise<void> {
    await this.stopFixture();
    await runProcess(["gpgconf", "--kill", "gpg-agent"], { env: this.env(this.keyHome) })
      .catch(() => {});
    removeSocketDirs(this.dir, [this.winFile, this.wslSock, this.realSock]);
  }
}

/** Remove GnuPG's `d.HASH` socket directories of `sockets` that lie outside `dir`. */
export function removeSocketDirs(dir: string, sockets: string[]): void {
  for (const sock of sockets) {
    if (sock === "") continue;
    const d = dirname(sock);
    if (!d.startsWith(`${dir}/`) && /\/gnupg\/d\.[a-z0-9]+$/.test(d)) {
      rmSync(d, { recursive: true, force: true });
    }
  }
}

/**
 * Remove `dir` once more, after the agents that lived in it have stopped:
 * `Sandbox.cleanup` runs first (it stops the daemon, which reaches them) and
 * may race an agent removing its own socket files on the way out.
 */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
}
