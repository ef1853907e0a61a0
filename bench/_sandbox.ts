/**
 * Path (c): a real wsl2proxy daemon and agent, both on Linux, in a sandboxed
 * HOME and runtime dir. The agent runs as `<argv> agent` and dials the echo
 * server through `unix://`.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { rssOf, type RssParts, rssPartsOf } from "./_util.ts";

/** How to run wsl2proxy for one variant of path (c). */
export interface ProxyVariant {
  /** Key in results, e.g. "bun". */
  key: string;
  /** Shown in tables, e.g. "wsl2proxy (Bun, compiled)". */
  label: string;
  /** argv prefix that runs the CLI (the daemon and the agent are started from it). */
  argv: string[];
  /** Extra environment for the CLI; the daemon inherits it from `start`, the agent from the daemon. */
  env?: Record<string, string>;
}

/** Output of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running daemon + agent. */
export class ProxySandbox {
  readonly variant: ProxyVariant;
  readonly dir: string;
  readonly env: Record<string, string>;
  /** The Linux sockets the daemon listens on. */
  echoSock = "";
  sourceSock = "";

  private constructor(variant: ProxyVariant, dir: string) {
    this.variant = variant;
    this.dir = dir;
    this.env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      USER: process.env.USER ?? "bench",
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_RUNTIME_DIR: dir,
      NO_COLOR: "1",
      // Keep Deno's module cache (the sandboxed HOME would start an empty one).
      DENO_DIR: process.env.DENO_DIR ?? join(homedir(), ".cache", "deno"),
      ...variant.env,
    };
  }

  /** Write the config and `start` the daemon; the agent dials `echoPath` / `sourcePath`. */
  static async start(
    variant: ProxyVariant,
    echoPath: string,
    sourcePath: string,
  ): Promise<ProxySandbox> {
    const box = new ProxySandbox(variant, mkdtempSync(join(tmpdir(), `w2p-bench-${variant.key}-`)));
    const runtimeDir = join(box.dir, "run");
    mkdirSync(runtimeDir, { recursive: true });
    chmodSync(runtimeDir, 0o700);
    mkdirSync(join(box.dir, "config", "wsl2proxy"), { recursive: true });
    writeFileSync(
      join(box.dir, "config", "wsl2proxy", "config.yaml"),
      [
        "log_level: info",
        `runtime_dir: ${JSON.stringify(runtimeDir)}`,
        "agent:",
        `  command: ${JSON.stringify([...variant.argv, "agent"])}`,
        "sockets:",
        "  - env_name: BENCH_ECHO",
        '    linux_addr: "{runtime_dir}/echo.sock"',
        `    windows_addr: ${JSON.stringify(`unix://${echoPath}`)}`,
        "  - env_name: BENCH_SOURCE",
        '    linux_addr: "{runtime_dir}/source.sock"',
        `    windows_addr: ${JSON.stringify(`unix://${sourcePath}`)}`,
        "",
      ].join("\n"),
    );
    const r = await box.cli(["start"]);
    if (r.code !== 0) throw new Error(`${variant.label}: start failed: ${r.stderr}`);
    const exports = Object.fromEntries(
      [...r.stdout.matchAll(/^(\w+)="([^"]*)"/gm)].map((m) => [m[1], m[2]]),
    );
    box.echoSock = exports.BENCH_ECHO;
    box.sourceSock = exports.BENCH_SOURCE;
    await box.waitForAgent();
    return box;
  }

  /** Run the CLI with this sandbox's environment. */
  cli(args: string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const [cmd, ...rest] = this.variant.argv;
      const child = spawn(cmd, [...rest, ...args], {
        env: this.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8");
      child.stderr.setEncoding("utf8");
      child.stdout.on("data", (d: string) => (stdout += d));
      child.stderr.on("data", (d: string) => (stderr += d));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** `status --json`, parsed. */
  // deno-lint-ignore no-explicit-any
  async status(): Promise<any> {
    const r = await this.cli(["status", "--json"]);
    if (r.code !== 0) throw new Error(`${this.variant.label}: status failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** `restart` (a fresh daemon and agent) and wait for the agent. */
  async restart(): Promise<void> {
    const r = await this.cli(["restart"]);
    if (r.code !== 0) throw new Error(`${this.variant.label}: restart failed: ${r.stderr}`);
    await this.waitForAgent();
  }

  /** Wait until the agent's session is up (the first connection would wait for it otherwise). */
  async waitForAgent(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      if (s.agent?.state === "running" && s.agent.session) return;
      if (performance.now() > deadline) {
        throw new Error(
          `${this.variant.label}: the agent did not come up: ${JSON.stringify(s.agent)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The daemon's and the agent's pids, from `status --json`. */
  async pids(): Promise<{ daemon: number; agent: number }> {
    const s = await this.status();
    return { daemon: s.pid, agent: s.agent.pid };
  }

  /** VmRSS, RssAnon and RssFile of the daemon and the agent in bytes. */
  async rssParts(): Promise<{ daemon: RssParts; agent: RssParts }> {
    const p = await this.pids();
    return { daemon: rssPartsOf(p.daemon), agent: rssPartsOf(p.agent) };
  }

  /** VmRSS of daemon + agent in bytes. */
  async rss(): Promise<{ daemon: number; agent: number; total: number }> {
    const p = await this.pids();
    const daemon = rssOf(p.daemon);
    const agent = rssOf(p.agent);
    return { daemon, agent, total: daemon + agent };
  }

  /** Stop the daemon and remove the sandbox. */
  async stop(): Promise<void> {
    await this.cli(["stop"]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
