/**
 * Live config reload through the real daemon and agent. Sockets A and B run,
 * each with a connection open mid-echo; the config then drops A, keeps B
 * as it was and adds C. The reload comes from the control `reload` request,
 * SIGHUP, or the daemon noticing the file change. A bad config is logged
 * with its file:line:column and changes nothing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import type { DaemonStatus } from "../src/daemon/daemon.ts";
import { agentCommandYaml, Sandbox } from "./helpers/cli.ts";
import { type EchoServer, startEchoServer } from "./helpers/echo_server.ts";
import { concat, pattern, readAll, within, writeAll } from "./helpers/mux.ts";

const rt = getRuntime();

/** A connection kept open mid-echo: each exchange writes and reads back the same bytes. */
class OpenEcho {
  readonly #conn: Conn;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #sent: Uint8Array[] = [];
  #buffered: Uint8Array = new Uint8Array(0);

  private constructor(conn: Conn) {
    this.#conn = conn;
    this.#writer = conn.writable.getWriter();
    this.#reader = conn.readable.getReader();
  }

  /** Connect to the Unix socket at `path` and echo `first` through it. */
  static async open(path: string, first: Uint8Array): Promise<OpenEcho> {
    const e = new OpenEcho(await rt.connectUnix(path));
    await e.exchange(first);
    return e;
  }

  /** Write `data` and read until the same number of bytes came back; they must match. */
  async exchange(data: Uint8Array): Promise<void> {
    this.#sent.push(data);
    const [, got] = await within(
      30_000,
      Promise.all([this.#writer.write(data), this.#read(data.byteLength)]),
      "exchange",
    );
    assert.deepEqual(got, data, "echo of this exchange");
  }

  /** Write `last`, half-close, and read to the end: everything sent must come back, byte-exact. */
  async finish(last: Uint8Array): Promise<void> {
    const before = this.#sent.reduce((n, c) => n + c.byteLength, 0);
    this.#sent.push(last);
    const rest = (async () => {
      const chunks: Uint8Array[] = [this.#buffered];
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) return concat(chunks);
        chunks.push(value);
      }
    })();
    const [, tail] = await within(
      30_000,
      Promise.all([this.#writer.write(last).then(() => this.#writer.close()), rest]),
      "finish",
    );
    assert.equal(tail.byteLength, last.byteLength, `bytes after the first ${before}`);
    assert.deepEqual(tail, last, "echo of the last exchange");
  }

  close(): void {
    this.#conn.close();
  }

  async #read(n: number): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [this.#buffered];
    let have = this.#buffered.byteLength;
    while (have < n) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`connection ended after ${have} of ${n} bytes`);
      chunks.push(value);
      have += value.byteLength;
    }
    const all = concat(chunks, have);
    this.#buffered = all.slice(n);
    return all.subarray(0, n);
  }
}

interface SocketSpec {
  env: string;
  file: string;
}

/** One sandboxed daemon with sockets A and B running and a connection open on each. */
class Fixture {
  readonly box = new Sandbox("w2p-reload-");
  readonly A: SocketSpec = { env: "A_SOCK", file: "a.sock" };
  readonly B: SocketSpec = { env: "B_SOCK", file: "b.sock" };
  readonly C: SocketSpec = { env: "C_SOCK", file: "c.sock" };
  echo!: EchoServer;
  onA!: OpenEcho;
  onB!: OpenEcho;
  /** How the config is written: in place (the daemon watches it) or by swapping a symlink it does not watch. */
  readonly #swap: boolean;
  #version = 0;
  /** The last valid config written, and whether a bad one was written after it. */
  #good = "";
  #bad = false;

  constructor(options: { swap: boolean }) {
    this.#swap = options.swap;
  }

  /** Start with [A, B] and open one connection on each, mid-echo. */
  async start(): Promise<DaemonStatus> {
    this.echo = await startEchoServer(join(this.box.dir, "echo.sock"));
    this.write(this.yaml([this.A, this.B]));
    const r = await this.box.cli(["start"]);
    assert.equal(r.code, 0, r.stderr);
    await this.box.waitAgent();
    this.onA = await OpenEcho.open(this.path(this.A), pattern(100_000, 1));
    this.onB = await OpenEcho.open(this.path(this.B), pattern(100_000, 2));
    return await this.status();
  }

  path(s: SocketSpec): string {
    return join(this.box.runtimeDir, s.file);
  }

  /** The config for these sockets; every socket's lines are the same whichever list it is in. */
  yaml(sockets: SocketSpec[], extra = ""): string {
    return `log_level: debug\nruntime_dir: ${JSON.stringify(this.box.runtimeDir)}\n` +
      `agent:\n  command: ${agentCommandYaml()}\n` +
      `sockets:\n` +
      sockets.map((s) =>
        `  - env_name: ${s.env}\n    linux_addr: ${JSON.stringify(`{runtime_dir}/${s.file}`)}\n` +
        `    windows_addr: ${JSON.stringify(`unix://${this.echo.path}`)}\n`
      ).join("") + extra;
  }

  /**
   * Replace the config. In swap mode the config path is a symlink to a symlink
   * in another directory, and only that inner link changes: no file or
   * directory the daemon watches is touched, so the trigger under test is the
   * only thing that can make it reload.
   */
  write(yaml: string, options: { bad?: boolean } = {}): void {
    const box = this.box;
    this.#bad = options.bad ?? false;
    if (!this.#bad) this.#good = yaml;
    if (!this.#swap) return box.writeConfig(yaml);
    const versions = join(box.dir, "config-versions");
    const current = join(versions, "current");
    mkdirSync(versions, { recursive: true });
    const file = join(versions, `v${++this.#version}.yaml`);
    writeFileSync(file, yaml);
    symlinkSync(file, `${current}.tmp`);
    renameSync(`${current}.tmp`, current);
    if (!existsSync(box.configPath)) {
      mkdirSync(dirname(box.configPath), { recursive: true });
      symlinkSync(current, box.configPath);
    }
  }

  async status(): Promise<DaemonStatus> {
    const s = await this.box.control({ op: "status" });
    assert.ok(s, "the daemon answers status");
    return s;
  }

  /**
   * Poll `status` until `done` holds. Used only after SIGHUP or a file change,
   * which give no completion event; bounded at 15 s.
   */
  async waitStatus(done: (s: DaemonStatus) => boolean, what: string): Promise<DaemonStatus> {
    const deadline = performance.now() + 15_000;
    for (;;) {
      const s = await this.status();
      if (done(s)) return s;
      assert.ok(
        performance.now() < deadline,
        `timed out waiting for ${what}; status: ${JSON.stringify(s.sockets)}`,
      );
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async cleanup(): Promise<void> {
    this.onA?.close();
    this.onB?.close();
    // `stop` reads the config to find the daemon: leave it a valid one.
    if (this.#bad) this.write(this.#good);
    await this.box.cleanup();
    await this.echo?.close();
  }
}

/** Echo `data` through a fresh connection to `path`. */
async function echoOnce(path: string, data: Uint8Array): Promise<void> {
  const conn = await rt.connectUnix(path);
  try {
    const [, got] = await within(
      30_000,
      Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
      `echo via ${path}`,
    );
    assert.deepEqual(got, data, `echo via ${path}`);
  } finally {
    conn.close();
  }
}

const envNames = (s: DaemonStatus) => s.sockets.map((k) => k.envName);
const socketOf = (s: DaemonStatus, env: string) => s.sockets.find((k) => k.envName === env)!;

/** After [A, B] became [B, C]: check every promise the reload makes. */
async function assertReloaded(f: Fixture, before: DaemonStatus): Promise<void> {
  let s = await f.status();
  assert.deepEqual(envNames(s), ["B_SOCK", "C_SOCK"]);
  assert.equal(s.agent.pid, before.agent.pid, "the agent was not restarted");

  // C listens and works.
  await echoOnce(f.path(f.C), pattern(200_000, 3));

  // A's socket file is gone and new connections to it fail...
  assert.equal(existsSync(f.path(f.A)), false, "a.sock removed");
  await assert.rejects(rt.connectUnix(f.path(f.A)), "connecting to the removed socket fails");
  // ...but the connection already open on A still echoes, and finishes byte-exact.
  await f.onA.exchange(pattern(50_000, 4));
  await f.onA.finish(pattern(150_000, 5));

  // B's open connection is untouched and keeps working.
  await f.onB.exchange(pattern(150_000, 6));
  const beforeB = socketOf(before, "B_SOCK");
  s = await f.status();
  const duringB = socketOf(s, "B_SOCK");
  assert.equal(duringB.openConnections, 1, "B's connection is still open");
  assert.equal(duringB.totalConnections, beforeB.totalConnections, "B's counters were kept");
  assert.equal(duringB.bytesOut, beforeB.bytesOut + 150_000, "B's byte count carried on");
  await f.onB.finish(pattern(10_000, 7));

  // A new connection on B counts on from where B was: the forwarder was not recreated.
  await echoOnce(f.path(f.B), pattern(1000, 8));
  s = await f.status();
  assert.equal(socketOf(s, "B_SOCK").totalConnections, beforeB.totalConnections + 1);
  assert.equal(socketOf(s, "C_SOCK").totalConnections, 1);
  assert.match(f.box.log(), /INFO {2}daemon: config reloaded added=1 removed=1 sockets=2/);
}

describe("reload: A removed, B kept, C added", () => {
  test("a control `reload` request applies it: C works, A is gone but its open connection finishes, B is untouched", async () => {
    const f = new Fixture({ swap: true });
    try {
      const before = await f.start();
      f.write(f.yaml([f.B, f.C]));
      const reply = await f.box.control<{ ok: boolean; added: number; removed: number }>({
        op: "reload",
      });
      assert.deepEqual(reply, { ok: true, added: 1, removed: 1 });
      await assertReloaded(f, before);
    } finally {
      await f.cleanup();
    }
  });

  test("SIGHUP to the daemon applies it: C works, A is gone but its open connection finishes, B is untouched", async () => {
    const f = new Fixture({ swap: true });
    try {
      const before = await f.start();
      f.write(f.yaml([f.B, f.C]));
      process.kill(before.pid, "SIGHUP");
      await f.waitStatus((s) => envNames(s).join() === "B_SOCK,C_SOCK", "the reload after SIGHUP");
      await assertReloaded(f, before);
    } finally {
      await f.cleanup();
    }
  });

  test("writing the config file applies it (watched, debounced): C works, A is gone but its open connection finishes, B is untouched", async () => {
    const f = new Fixture({ swap: false });
    try {
      const before = await f.start();
      f.write(f.yaml([f.B, f.C]));
      await f.waitStatus(
        (s) => envNames(s).join() === "B_SOCK,C_SOCK",
        "the reload after the file changed",
      );
      await assertReloaded(f, before);
    } finally {
      await f.cleanup();
    }
  });

  test("a config replaced atomically (a temp file renamed over it, as sed -i does) is noticed every time, not just the first", async () => {
    const f = new Fixture({ swap: false });
    try {
      await f.start();
      const replace = (yaml: string) => {
        writeFileSync(`${f.box.configPath}.tmp`, yaml);
        renameSync(`${f.box.configPath}.tmp`, f.box.configPath);
      };
      replace(f.yaml([f.A, f.B, f.C]));
      await f.waitStatus(
        (s) => envNames(s).join() === "A_SOCK,B_SOCK,C_SOCK",
        "the first replacement",
      );
      replace(f.yaml([f.B, f.C]));
      await f.waitStatus((s) => envNames(s).join() === "B_SOCK,C_SOCK", "the second replacement");
      // And an in-place write after the replacements is noticed too.
      f.write(f.yaml([f.C]));
      await f.waitStatus(
        (s) => envNames(s).join() === "C_SOCK",
        "an in-place write after the replacements",
      );
      await echoOnce(f.path(f.C), pattern(10_000, 9));
    } finally {
      await f.cleanup();
    }
  });
});

describe("reload: a bad config changes nothing", () => {
  const bad: { name: string; yaml: (f: Fixture) => string; error: (f: Fixture) => string }[] = [
    {
      name: "a YAML syntax error",
      // B's windows_addr loses its closing quote; the parser notices at the end of the file.
      yaml: (f) => f.yaml([f.A, f.B]).replace(/("unix:\/\/[^"\n]*)"\n$/, "$1\n"),
      error: (f) =>
        `${f.box.configPath}:12:1: (syntax): Missing closing "quote; expected valid YAML`,
    },
    {
      name: "an unknown key",
      yaml: (f) => f.yaml([f.A, f.B], "    colour: red\n"),
      error: (f) =>
        `${f.box.configPath}:12:5: sockets[1].colour: unknown key; expected one of env_name, linux_addr, windows_addr, allow_remote, protocol`,
    },
  ];
  for (const c of bad) {
    test(`${c.name} is logged with file:line:column and the old config stays in force`, async () => {
      const f = new Fixture({ swap: true });
      try {
        const before = await f.start();
        f.write(c.yaml(f), { bad: true });
        const reply = await f.box.control<{ ok: boolean; error: string }>({ op: "reload" });
        assert.deepEqual(reply, { ok: false, error: c.error(f), added: 0, removed: 0 });
        assert.ok(
          f.box.log().includes(
            `ERROR daemon: config reload failed; keeping the old config: ⏎ ${c.error(f)}`,
          ),
          f.box.log(),
        );
        const after = await f.status();
        assert.deepEqual(after.sockets, before.sockets, "sockets and their counters unchanged");
        assert.equal(after.config, before.config);
        assert.equal(after.agent.pid, before.agent.pid);
        // Every old socket still works, and so do the connections that were open.
        await echoOnce(f.path(f.A), pattern(20_000, 10));
        await echoOnce(f.path(f.B), pattern(20_000, 11));
        await f.onA.finish(pattern(30_000, 12));
        await f.onB.finish(pattern(30_000, 13));
        assert.equal(existsSync(f.path(f.C)), false);
      } finally {
        await f.cleanup();
      }
    });
  }

  test("a bad config written to the watched file is logged, the old config stays, and the next good write applies", async () => {
    const f = new Fixture({ swap: false });
    try {
      const before = await f.start();
      f.write(f.yaml([f.A, f.B], "colour: red\n"), { bad: true });
      // The file change gives no event; poll the log for the rejection (bounded).
      const deadline = performance.now() + 15_000;
      while (!f.box.log().includes("config reload failed")) {
        assert.ok(performance.now() < deadline, "the bad config was noticed");
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.match(
        f.box.log(),
        new RegExp(
          `config reload failed; keeping the old config: ⏎ ${
            esc(f.box.configPath)
          }:12:1: colour: unknown key`,
        ),
      );
      const after = await f.status();
      assert.deepEqual(after.sockets, before.sockets);
      await echoOnce(f.path(f.A), pattern(20_000, 14));
      await echoOnce(f.path(f.B), pattern(20_000, 15));

      f.write(f.yaml([f.B, f.C]));
      await f.waitStatus(
        (s) => envNames(s).join() === "B_SOCK,C_SOCK",
        "the good config after the bad one",
      );
      await echoOnce(f.path(f.C), pattern(20_000, 16));
      await f.onA.finish(pattern(1000, 17));
      await f.onB.finish(pattern(1000, 18));
    } finally {
      await f.cleanup();
    }
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
