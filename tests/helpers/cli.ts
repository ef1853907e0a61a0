/**
 * A sandbox for end-to-end tests of the real `wsl2proxy` program: its own
 * HOME, XDG dirs, config and runtime dir, and a way to run the CLI. By default
 * the CLI runs from source under the runtime running the tests; set
 * `WSL2PROXY_TEST_BIN` to a compiled binary to test that instead.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { type ProcessResult, runProcess } from "./process.ts";
import { controlRequest } from "../../src/cli/control_client.ts";
import type { ControlRequest } from "../../src/daemon/control_protocol.ts";
import type { DaemonStatus } from "../../src/daemon/daemon.ts";
import { getRuntime } from "../../src/runtime/mod.ts";

/** Absolute path of main.ts. */
export const MAIN = resolve(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "../../main.ts",
);

/** argv prefix that runs wsl2proxy: a compiled binary, or this runtime on main.ts. */
export function wsl2proxyArgv(): string[] {
  const bin = process.env.WSL2PROXY_TEST_BIN;
  if (bin) return [bin];
  const isDeno = "Deno" in globalThis;
  return isDeno ? [process.execPath, "run", "-A", "--quiet", MAIN] : [process.execPath, MAIN];
}

/** The YAML flow list for `agent.command` that runs the agent like the CLI. */
export function agentCommandYaml(): string {
  return JSON.stringify([...wsl2proxyArgv(), "agent"]);
}

/** An isolated home for one test. */
export class Sandbox {
  readonly dir: string;
  readonly runtimeDir: string;
  readonly configPath: string;
  readonly env: Record<string, string>;
  /**
   * Run the CLI and control requests as this uid (through setpriv) instead of
   * ours: the client trusts only a daemon of its own uid, so a test whose
   * daemon runs as another user must ask as that user.
   */
  asUid?: number;

  constructor(prefix = "w2p-e2e-") {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.runtimeDir = join(this.dir, "run");
    this.configPath = join(this.dir, "config", "wsl2proxy", "config.yaml");
    this.env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: this.dir,
      USER: "tester",
      XDG_CONFIG_HOME: join(this.dir, "config"),
      XDG_RUNTIME_DIR: this.dir, // runtime_dir defaults to $XDG_RUNTIME_DIR/wsl2proxy
      NO_COLOR: "1",
    };
  }

  /** Write the config file (the directory is created). */
  writeConfig(yaml: string): void {
    mkdirSync(join(this.dir, "config", "wsl2proxy"), { recursive: true });
    writeFileSync(this.configPath, yaml);
  }

  /** A config with these sockets, the agent run from this runtime, and our runtime dir. */
  writeBridgeConfig(sockets: { env: string; linux: string; windows: string }[], extra = ""): void {
    this.writeConfig(
      `log_level: debug\nruntime_dir: ${JSON.stringify(this.runtimeDir)}\n` +
        `agent:\n  command: ${agentCommandYaml()}\n` +
        `sockets:\n` +
        sockets.map((s) =>
          `  - env_name: ${s.env}\n    linux_addr: ${JSON.stringify(s.linux)}\n    windows_addr: ${
            JSON.stringify(s.windows)
          }\n`
        ).join("") +
        extra,
    );
  }

  /** Run `wsl2proxy ...args` in this sandbox. */
  cli(
    args: string[],
    options: { env?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<ProcessResult> {
    return runProcess([...this.#asUidPrefix(), ...wsl2proxyArgv(), ...args], {
      env: { ...this.env, ...options.env },
      input: new Uint8Array(0),
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  }

  /** Send a control request to this sandbox's daemon (null if none is running). */
  async control<T = DaemonStatus>(
    request: ControlRequest,
    timeoutMs = 30_000,
  ): Promise<T | null> {
    if (this.asUid !== undefined) {
      const path = join(this.runtimeDir, "control.sock");
      const r = await runProcess(
        [
          ...this.#asUidPrefix(),
          "socat",
          "-t",
          String(timeoutMs / 1000),
          "-",
          `UNIX-CONNECT:${path}`,
        ],
        {
          input: new TextEncoder().encode(JSON.stringify(request) + "\n"),
          timeoutMs: timeoutMs + 5000,
        },
      );
      const line = new TextDecoder().decode(r.stdout).split("\n")[0];
      return line ? JSON.parse(line) as T : null;
    }
    return await controlRequest<T>(
      getRuntime(),
      join(this.runtimeDir, "control.sock"),
      request,
      timeoutMs,
    );
  }

  #asUidPrefix(): string[] {
    const u = this.asUid;
    return u === undefined ? [] : ["setpriv", `--reuid=${u}`, `--regid=${u}`, "--clear-groups"];
  }

  /** The status once an agent other than `exceptPid` is connected; fails if none comes. */
  async waitAgent(exceptPid?: number, timeoutMs = 20_000): Promise<DaemonStatus> {
    const s = await this.control<DaemonStatus | { ok: false; error: string }>({
      op: "wait-agent",
      exceptPid,
      timeoutMs,
    }, timeoutMs + 5000);
    if (!s || s.ok === false) throw new Error(`agent did not come up: ${JSON.stringify(s)}`);
    return s;
  }

  /** Pids of live daemons (`wsl2proxy run`, background or not) started in this sandbox (its HOME; zombies excluded). */
  daemonPids(): number[] {
    const program = wsl2proxyArgv().at(-1)!;
    const pids: number[] = [];
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
        const environ = readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
        if (cmd[cmd.indexOf(program) + 1] === "run" && environ.includes(`HOME=${this.dir}`)) {
          pids.push(Number(name));
        }
      } catch { /* gone meanwhile */ }
    }
    return pids;
  }

  /** The daemon's log so far. */
  log(): string {
    try {
      return readFileSync(join(this.runtimeDir, "proxy.log"), "utf8");
    } catch {
      return "";
    }
  }

  /**
   * The log once it matches `pattern`. A client may see its connection end
   * before the daemon has written why (it resets the client first, then
   * logs), so a test that checks the reason waits for the line; the file has
   * no change event that both runtimes offer, so it is read every 50 ms.
   */
  async waitLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const log = this.log();
      if (pattern.test(log) || performance.now() > deadline) return log;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Stop any daemon and remove the sandbox. If `stop` could not do it (a test
   * left a broken config, or the machine is overloaded), kill the daemon by
   * its pid file so no test leaves a process behind.
   */
  async cleanup(): Promise<void> {
    await this.cli(["stop"]).catch(() => {});
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(join(this.runtimeDir, "daemon.pid"), "utf8"), 10);
    } catch { /* no pid file: stopped, or never started */ }
    if (pid > 0 && getRuntime().isAlive(pid)) getRuntime().signalPid(pid, "SIGKILL"); // its agent exits at stdin EOF
    // A killed daemon's agent may still be writing its cache while it exits: retry ENOTEMPTY.
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

/** Parse `NAME="value"; export NAME;` lines into a map. */
export function parseShExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"; export \1;$/gm)) {
    out[m[1]] = m[2].replace(/\\(.)/g, "$1");
  }
  return out;
}

/** Decode a process's stdout. */
export function text(r: ProcessResult): string {
  return new TextDecoder().decode(r.stdout);
}
