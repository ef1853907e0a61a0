/**
 * Reload bugs of issue 12 (finding 10), on a real daemon and agent run in
 * this process: a new `log_level` reaches every logger, a new `log_path` is
 * reopened, and a socket replaced on the same path (only `windows_addr`
 * changed) comes back listening.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseConfig } from "../src/config/parse_config.ts";
import type { Config } from "../src/config/types.ts";
import { Daemon } from "../src/daemon/daemon.ts";
import { Logger } from "../src/log/logger.ts";
import { getRuntime, type Listener, openAppendLines, type Runtime } from "../src/runtime/mod.ts";
import { agentCommandYaml } from "./helpers/cli.ts";
import { type EchoServer, startEchoServer } from "./helpers/echo_server.ts";
import { pattern, readAll, within, writeAll } from "./helpers/mux.ts";

const rt = getRuntime();

/** `runtime`, except that its Unix listeners take 200 ms to close. */
function slowToClose(runtime: Runtime): Runtime {
  const listenUnix = async (path: string): Promise<Listener> => {
    const l = await runtime.listenUnix(path);
    return {
      addr: l.addr,
      [Symbol.asyncIterator]: () => l[Symbol.asyncIterator](),
      close: async () => {
        await new Promise((r) => setTimeout(r, 200));
        await l.close();
      },
    };
  };
  return new Proxy(runtime, {
    get(target, key) {
      if (key === "listenUnix") return listenUnix;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A daemon whose config is whatever `config()` last built, logging to the file its config names. */
class Harness {
  readonly dir = mkdtempSync(join(tmpdir(), "w2p-reload-life-"));
  readonly runtimeDir = join(this.dir, "run");
  readonly lines: string[] = [];
  #watchers: { re: RegExp; resolve: () => void }[] = [];
  echoes: EchoServer[] = [];
  daemon!: Daemon;
  next!: Config;

  config(o: { level: string; log?: string; target: number }): Config {
    const echo = this.echoes[o.target];
    const text = `log_level: ${o.level}\nruntime_dir: ${JSON.stringify(this.runtimeDir)}\n` +
      (o.log ? `log_path: ${JSON.stringify(o.log)}\n` : "") +
      `agent:\n  command: ${agentCommandYaml()}\n` +
      `sockets:\n  - env_name: A_SOCK\n    linux_addr: "{runtime_dir}/a.sock"\n` +
      `    windows_addr: ${JSON.stringify(`unix://${echo.path}`)}\n`;
    return parseConfig(text, join(this.dir, "config.yaml"), (k) => process.env[k], rt.uid());
  }

  /** A harness with two echo servers, targets 0 and 1. */
  static async create(): Promise<Harness> {
    const h = new Harness();
    for (let i = 0; i < 2; i++) {
      h.echoes.push(await startEchoServer(join(h.dir, `echo${i}.sock`)));
    }
    return h;
  }

  async start(first: Config, runtime: Runtime = rt): Promise<void> {
    const { ensureRuntimeDir } = await import("../src/daemon/runtime_dir.ts");
    await ensureRuntimeDir(this.runtimeDir, rt.uid());
    let file = openAppendLines(first.logPath, rt.uid());
    const log = new Logger({
      level: first.logLevel,
      component: "daemon",
      sinks: [(line) => file.write(line), (line) => this.#seen(line)],
    });
    this.next = first;
    this.daemon = await Daemon.start({
      runtime,
      log,
      config: first,
      version: "1.0.0",
      agent: { argv: JSON.parse(agentCommandYaml()) },
      reloadConfig: () => Promise.resolve(this.next),
      reopenLog: (path) => {
        const opened = openAppendLines(path, rt.uid());
        file.close();
        file = opened;
      },
    });
    this.#closeLog = () => file.close();
  }

  #closeLog = () => {};

  /** Resolves when a log line matching `re` is written (now or later). */
  logged(re: RegExp): Promise<void> {
    if (this.lines.some((l) => re.test(l))) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ re, resolve }));
  }

  #seen(line: string): void {
    this.lines.push(line);
    for (const w of this.#watchers) if (w.re.test(line)) w.resolve();
  }

  async echoOnce(data: Uint8Array): Promise<void> {
    const conn = await rt.connectUnix(join(this.runtimeDir, "a.sock"));
    try {
      const [, got] = await within(
        30_000,
        Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
        "echo through a.sock",
      );
      assert.deepEqual(got, data);
    } finally {
      conn.close();
    }
  }

  async cleanup(): Promise<void> {
    await this.daemon?.stop();
    this.#closeLog();
    for (const e of this.echoes) await e.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("reload: lifecycle bugs (finding 10)", () => {
  test("reload - a new log_level reaches the loggers made before it: debug logs connection lines", async () => {
    const h = await Harness.create();
    try {
      await h.start(h.config({ level: "info", target: 0 }));
      await h.echoOnce(pattern(1000, 1));
      h.next = h.config({ level: "debug", target: 0 });
      assert.equal((await h.daemon.reload()).ok, true);
      await h.echoOnce(pattern(1000, 2));
      // Before the fix the socket's logger kept "info" and this never came.
      await within(20_000, h.logged(/DEBUG socket: connection closed/), "a debug connection line");
      assert.equal(h.lines.filter((l) => l.includes("connection opened")).length, 1);
    } finally {
      await h.cleanup();
    }
  });

  test("reload - a changed log_path is reopened: later lines go to the new file, and status names it", async () => {
    const h = await Harness.create();
    try {
      await h.start(h.config({ level: "debug", target: 0 }));
      const oldLog = h.daemon.status().logPath;
      const newLog = join(h.dir, "moved.log");
      h.next = h.config({ level: "debug", log: newLog, target: 0 });
      assert.equal((await h.daemon.reload()).ok, true);
      assert.equal(h.daemon.status().logPath, newLog);
      await h.echoOnce(pattern(1000, 3));
      await within(20_000, h.logged(/connection closed/), "a connection line");
      const moved = readFileSync(newLog, "utf8");
      assert.match(moved, /log reopened/);
      assert.match(moved, /connection closed/);
      assert.doesNotMatch(readFileSync(oldLog, "utf8"), /connection closed/);
    } finally {
      await h.cleanup();
    }
  });

  test("reload - a log_path that cannot be opened keeps the old log, and status says so", async () => {
    const h = await Harness.create();
    try {
      await h.start(h.config({ level: "info", target: 0 }));
      const oldLog = h.daemon.status().logPath;
      h.next = h.config({ level: "info", log: join(h.dir, "no-such-dir", "x.log"), target: 0 });
      assert.equal((await h.daemon.reload()).ok, true);
      assert.equal(h.daemon.status().logPath, oldLog);
      assert.match(
        readFileSync(oldLog, "utf8"),
        /could not open the new log_path; keeping this one/,
      );
    } finally {
      await h.cleanup();
    }
  });

  test("reload - a socket whose windows_addr changed is replaced on the same path and listens", async () => {
    const h = await Harness.create();
    try {
      // The old listener's close raced the new bind (it was not awaited): the new socket
      // was refused as "listening", or the old cleanup could unlink it. A listener whose
      // close takes a moment (as Deno's, which waits for its accept loop) shows it every time.
      await h.start(h.config({ level: "info", target: 0 }), slowToClose(rt));
      await h.echoOnce(pattern(1000, 4));
      for (let i = 1; i <= 3; i++) {
        h.next = h.config({ level: "info", target: i % 2 });
        const r = await h.daemon.reload();
        assert.deepEqual(r, { ok: true, added: 1, removed: 1 }, h.lines.join("\n"));
        const [s] = h.daemon.status().sockets;
        assert.equal(s.windowsAddr, `unix://${h.echoes[i % 2].path}`);
        assert.ok(existsSync(join(h.runtimeDir, "a.sock")), `a.sock exists after reload ${i}`);
        await h.echoOnce(pattern(10_000, 5 + i));
        assert.equal(h.daemon.status().sockets[0].totalConnections, 1);
      }
    } finally {
      await h.cleanup();
    }
  });
});
