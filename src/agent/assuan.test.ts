import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { parseWindowsAddr } from "../config/addr.ts";
import type { WindowsAddr } from "../config/types.ts";
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { getRuntime } from "../runtime/mod.ts";
import { readAll } from "../../tests/helpers/mux.ts";
import { closedTcpPort, POSIX_ONLY, skipNote, tempDir } from "../../tests/helpers/agent.ts";
import { parseAssuanSocketFile } from "./assuan.ts";
import { dial } from "./dial.ts";
import { GpgconfLocator } from "./gpgconf.ts";

const rt = getRuntime();
const enc = new TextEncoder();
const dec = new TextDecoder();

function addr(url: string): WindowsAddr {
  const r = parseWindowsAddr(url);
  if (!r.ok) throw new Error(`bad test address ${url}: ${r.problem}`);
  return r.value;
}

function socketFile(port: number | string, nonce: Uint8Array): Uint8Array {
  const head = enc.encode(`${port}\n`);
  const out = new Uint8Array(head.length + nonce.length);
  out.set(head);
  out.set(nonce, head.length);
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: number, reason: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DialError, `expected DialError, got ${e}`);
    assert.equal(e.resetCode, code, `reset code for "${e.message}"`);
    assert.match(e.message, reason);
    return true;
  });
}

/**
 * A listener that behaves as libassuan's emulated socket: the first 16 bytes
 * must be the nonce, else the connection is closed; after it, a greeting and
 * an echo of every byte. With `cygwin`, as libassuan's check_nonce for a
 * Cygwin socket: the nonce is sent back, 8 credential bytes are read and 8
 * are sent (our pid, their uid and gid), and the greeting follows at once,
 * in the same write, so the dialler must keep what follows the handshake.
 */
class NonceServer {
  nonce = new Uint8Array(randomBytes(16));
  server: Server;
  port = 0;
  accepted = 0;
  rejected = 0;
  credentials: Buffer[] = [];
  #sockets = new Set<Socket>();

  constructor(readonly cygwin = false) {
    this.server = createServer((sock) => this.#serve(sock));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** The socket file's contents: libassuan's own form, or Cygwin's. */
  file(): Uint8Array {
    if (!this.cygwin) return socketFile(this.port, this.nonce);
    const v = new DataView(this.nonce.buffer);
    const hex = [0, 1, 2, 3].map((i) => v.getUint32(i * 4, true).toString(16).padStart(8, "0"));
    return enc.encode(`!<socket >${this.port} s ${hex.join("-")}\0`);
  }

  #serve(sock: Socket): void {
    this.#sockets.add(sock);
    sock.on("close", () => this.#sockets.delete(sock));
    sock.on("error", () => {});
    let head = Buffer.alloc(0);
    let stage: "nonce" | "credentials" | "open" = "nonce";
    sock.on("data", (chunk: Buffer) => {
      if (stage === "open") return void sock.write(chunk);
      head = Buffer.concat([head, chunk]);
      if (stage === "nonce") {
        if (head.length < 16) return;
        if (!head.subarray(0, 16).equals(Buffer.from(this.nonce))) {
          this.rejected++;
          return void sock.end();
        }
        head = head.subarray(16);
        if (this.cygwin) {
          sock.write(Buffer.from(this.nonce));
          stage = "credentials";
        } else {
          stage = "open";
          this.accepted++;
          sock.write("OK Pleased to meet you\n");
        }
      }
      if (stage === "credentials") {
        if (head.length < 8) return;
        this.credentials.push(head.subarray(0, 8));
        const reply = Buffer.alloc(8);
        reply.writeUInt32LE(4242, 0);
        head.subarray(4, 8).copy(reply, 4);
        sock.write(Buffer.concat([reply, Buffer.from("OK Pleased to meet you\n")]));
        head = head.subarray(8);
        stage = "open";
        this.accepted++;
      }
      if (head.length > 0) sock.write(head);
      head = Buffer.alloc(0);
    });
    sock.on("end", () => sock.end());
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Write `bytes` to `conn`, end it, and read everything the far side sends back. */
async function exchange(conn: Awaited<ReturnType<typeof dial>>, bytes: string): Promise<string> {
  const writer = conn.writable.getWriter();
  await writer.write(enc.encode(bytes));
  await writer.close();
  const got = dec.decode(await readAll(conn.readable));
  conn.close();
  return got;
}

describe("parseAssuanSocketFile", () => {
  test("parseAssuanSocketFile - reads the port and the 16 nonce bytes after the newline", () => {
    const nonce = new Uint8Array(16).map((_, i) => (i === 3 ? 0x0a : 200 + i)); // a \n inside the nonce too
    const r = parseAssuanSocketFile(socketFile(49152, nonce));
    assert.ok(r.ok);
    assert.equal(r.value.port, 49152);
    assert.deepEqual(r.value.nonce, nonce);
  });

  test("parseAssuanSocketFile - reads the Cygwin form: the port and four little-endian 32-bit hex words", () => {
    const r = parseAssuanSocketFile(
      enc.encode("!<socket >1234 s 01234567-89ABCDEF-00000000-ffffffff\0"),
    );
    assert.ok(r.ok);
    assert.equal(r.value.port, 1234);
    assert.equal(r.value.cygwin, true);
    assert.deepEqual(
      [...r.value.nonce],
      [0x67, 0x45, 0x23, 0x01, 0xef, 0xcd, 0xab, 0x89, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
    );
  });

  test("parseAssuanSocketFile - refuses what libassuan refuses", () => {
    const n = new Uint8Array(16);
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), "empty"],
      [enc.encode("!<socket >1234 s 01234567-89ABCDEF-01234567\0"), "malformed"],
      [enc.encode("!<socket >0 s 01234567-89ABCDEF-01234567-89ABCDEF\0"), "malformed"],
      [socketFile(0, n), "malformed"],
      [socketFile(65536, n), "malformed"],
      [socketFile("12a", n), "malformed"],
      [socketFile(1234, n.subarray(0, 15)), "malformed"],
      [socketFile(1234, new Uint8Array(17)), "malformed"],
      [enc.encode("1234"), "malformed"],
      [socketFile("", n), "malformed"],
    ];
    for (const [bytes, problem] of cases) {
      const r = parseAssuanSocketFile(bytes);
      assert.deepEqual(r, { ok: false, problem }, dec.decode(bytes));
    }
  });
});

describe("dial assuan://", { skip: POSIX_ONLY }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: NonceServer;
  let file = "";

  before(async () => {
    dir = await tempDir();
    server = new NonceServer();
    await server.listen();
    file = join(dir.path, "S.gpg-agent");
    await writeFile(file, socketFile(server.port, server.nonce));
  });
  after(async () => {
    await server?.close();
    await dir?.dispose();
  });

  test(
    "dial assuan - sends the nonce first, then the stream's bytes both ways" + skipNote(POSIX_ONLY),
    async () => {
      const got = await exchange(await dial(rt, addr(`assuan://${file}`)), "GETINFO version\n");
      assert.equal(got, "OK Pleased to meet you\nGETINFO version\n");
      assert.equal(server.rejected, 0);
    },
  );

  test(
    "dial assuan - a Cygwin socket file: nonce, its echo, credentials both ways, then the stream (bytes sent with the handshake kept)" +
      skipNote(POSIX_ONLY),
    async () => {
      const cygwin = new NonceServer(true);
      await cygwin.listen();
      try {
        const path = join(dir.path, "S.gpg-agent.ssh");
        await writeFile(path, cygwin.file());
        const got = await exchange(await dial(rt, addr(`assuan://${path}`)), "ping\n");
        assert.equal(got, "OK Pleased to meet you\nping\n");
        assert.equal(cygwin.accepted, 1);
        assert.equal(cygwin.credentials[0].readUInt32LE(0), rt.pid);
        assert.deepEqual([...cygwin.credentials[0].subarray(4)], [0, 0, 0, 0]);
        // A stale nonce: the server hangs up, and the dial says so.
        const stale = new NonceServer(true);
        stale.port = cygwin.port;
        await writeFile(path, stale.file());
        await rejectsWith(
          dial(rt, addr(`assuan://${path}`)),
          ResetCode.CONNECTION_REFUSED,
          /hung up during the handshake \(a stale nonce\?\)/,
        );
      } finally {
        await cygwin.close();
      }
    },
  );

  test(
    "dial assuan - a new port and nonce in the file are used by the next connection" +
      skipNote(POSIX_ONLY),
    async () => {
      const restarted = new NonceServer();
      await restarted.listen();
      try {
        await writeFile(file, socketFile(restarted.port, restarted.nonce));
        const got = await exchange(await dial(rt, addr(`assuan://${file}`)), "BYE\n");
        assert.equal(got, "OK Pleased to meet you\nBYE\n");
        assert.equal(restarted.accepted, 1);
      } finally {
        await restarted.close();
        await writeFile(file, socketFile(server.port, server.nonce));
      }
    },
  );

  test(
    "dial assuan - a file with a stale nonce: the listener hangs up at once, as gpg-agent does" +
      skipNote(POSIX_ONLY),
    async () => {
      const stale = join(dir.path, "S.stale");
      await writeFile(stale, socketFile(server.port, new Uint8Array(16)));
      const before = server.rejected;
      const got = await exchange(await dial(rt, addr(`assuan://${stale}`)), "");
      assert.equal(got, "");
      assert.equal(server.rejected, before + 1);
    },
  );

  test(
    "dial assuan - a missing, empty or unparsable file and a dead port give reasons that say what to do" +
      skipNote(POSIX_ONLY),
    async () => {
      const launch = /run `gpgconf --launch gpg-agent` on Windows$/;
      await rejectsWith(
        dial(rt, addr(`assuan://${dir.path}/S.none`)),
        ResetCode.NOT_FOUND,
        new RegExp(
          `^gpg-agent is not running on Windows \\(no socket file ${dir.path}/S.none\\): ` +
            launch.source,
        ),
      );
      const empty = join(dir.path, "S.empty");
      await writeFile(empty, "");
      await rejectsWith(
        dial(rt, addr(`assuan://${empty}`)),
        ResetCode.NOT_FOUND,
        /is empty\): run `gpgconf/,
      );
      const junk = join(dir.path, "S.junk");
      await writeFile(junk, "hello world\n");
      await rejectsWith(
        dial(rt, addr(`assuan://${junk}`)),
        ResetCode.BAD_TARGET,
        /is not a gpg-agent socket file \(expected a port, a newline and 16 nonce bytes; got 12 bytes\): restart gpg-agent/,
      );
      const dead = join(dir.path, "S.dead");
      const port = await closedTcpPort(rt);
      await writeFile(dead, socketFile(port, new Uint8Array(16)));
      await rejectsWith(
        dial(rt, addr(`assuan://${dead}`)),
        ResetCode.CONNECTION_REFUSED,
        new RegExp(`names port ${port}, where nothing listens\\): ` + launch.source),
      );
      await rejectsWith(
        dial(rt, addr("assuan://C:/Users/me/AppData/Local/gnupg/S.gpg-agent")),
        ResetCode.BAD_TARGET,
        /^a Windows socket file path cannot be dialled on linux/,
      );
    },
  );

  test(
    "dial gpg - gpgconf names the file once per locator; a missing gpgconf says what to install" +
      skipNote(POSIX_ONLY),
    async () => {
      const fake = join(dir.path, "gpgconf");
      const calls = join(dir.path, "calls");
      await writeFile(
        fake,
        `#!/bin/sh\necho "$@" >> '${calls}'\n[ "$2" = agent-socket ] && echo '${file}' && exit 0\necho "gpgconf: unknown" >&2; exit 2\n`,
      );
      await chmod(fake, 0o755);
      const gpgconf = new GpgconfLocator(rt, { command: fake });
      for (let i = 0; i < 3; i++) {
        const got = await exchange(await dial(rt, addr("gpg://agent"), { gpgconf }), "NOP\n");
        assert.equal(got, "OK Pleased to meet you\nNOP\n");
      }
      assert.equal(await readFile(calls, "utf8"), "--list-dirs agent-socket\n");
      await rejectsWith(
        dial(rt, addr("gpg://extra"), { gpgconf }),
        ResetCode.NOT_FOUND,
        /^gpgconf --list-dirs agent-extra-socket failed: gpgconf: unknown$/,
      );
      // What gpgconf.exe prints on Windows: a drive path, maybe with backslashes and CRLF.
      const winGpgconf = join(dir.path, "gpgconf-win");
      await writeFile(
        winGpgconf,
        "#!/bin/sh\nprintf 'C:\\\\Users\\\\me\\\\AppData\\\\Local\\\\gnupg\\\\S.gpg-agent.extra\\r\\n'\n",
      );
      await chmod(winGpgconf, 0o755);
      assert.equal(
        await new GpgconfLocator(rt, { command: winGpgconf }).locate("extra"),
        "C:\\Users\\me\\AppData\\Local\\gnupg\\S.gpg-agent.extra",
      );
      await rejectsWith(
        dial(rt, addr("gpg://extra"), { gpgconf: new GpgconfLocator(rt, { command: winGpgconf }) }),
        ResetCode.BAD_TARGET,
        /^a Windows socket file path cannot be dialled on linux: C:\\Users\\me\\AppData\\Local\\gnupg\\S\.gpg-agent\.extra$/,
      );
      const missing = new GpgconfLocator(rt, { command: join(dir.path, "no-gpgconf") });
      await rejectsWith(
        dial(rt, addr("gpg://agent"), { gpgconf: missing }),
        ResetCode.NOT_FOUND,
        /^gpgconf not found on linux: install Gpg4win .* or name the socket file with assuan:\/\/C:/,
      );
    },
  );
});
