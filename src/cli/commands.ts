/**
 * The commands that talk to a daemon or only read the config: start, stop,
 * restart, status, env, version. Each returns its exit status for normal
 * outcomes and throws typed errors for failures (main.ts maps those).
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import { DaemonError } from "../errors.ts";
import type { DaemonStatus } from "../daemon/daemon.ts";
import { ensureRuntimeDir, RuntimeFiles } from "../daemon/runtime_dir.ts";
import { VERSION } from "../version.ts";
import type { CliContext } from "./context.ts";
import { controlRequest } from "./control_client.ts";
import { type ExportFormat, formatExports } from "./exports.ts";
import { acquireStartLock } from "./start_lock.ts";
import { spawnDaemon } from "./spawn_daemon.ts";
import { formatStatus } from "./status_text.ts";

/** Exit statuses, as documented in the README and `--help`. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2, NOT_RUNNING: 3 } as const;

interface Hello {
  ok: boolean;
  pid: number;
  version: string;
}

/** `start`: make sure a daemon of our version runs, then print the exports. */
export async function start(
  ctx: CliContext,
  format: ExportFormat,
  agentPath?: string,
): Promise<number> {
  const config = await ctx.loadConfig();
  await ensureDaemon(ctx, config, agentPath);
  ctx.io.out(formatExports(config.sockets, format));
  return Exit.OK;
}

/** `stop`: ask the daemon to stop and wait until its process is gone. Works with a broken config. */
export async function stop(ctx: CliContext): Promise<number> {
  const dir = await runtimeDirWarning(ctx);
  const stopped = await stopDaemon(ctx, dir);
  if (!stopped) ctx.io.err("wsl2proxy: not running\n");
  return Exit.OK;
}

/** `restart`: stop (if running), then start. */
export async function restart(
  ctx: CliContext,
  format: ExportFormat,
  agentPath?: string,
): Promise<number> {
  const config = await ctx.loadConfig();
  await stopDaemon(ctx, config.runtimeDir);
  await ensureDaemon(ctx, config, agentPath);
  ctx.io.out(formatExports(config.sockets, format));
  return Exit.OK;
}

/** `status`: the daemon's view, for people or as JSON. */
export async function status(ctx: CliContext, json: boolean): Promise<number> {
  const dir = await runtimeDirWarning(ctx);
  const s = await controlRequest<DaemonStatus>(ctx.runtime, controlPath(dir), { op: "status" });
  if (!s) {
    if (json) ctx.io.out(JSON.stringify({ running: false, runtimeDir: dir }) + "\n");
    else ctx.io.err(`wsl2proxy: not running (runtime dir ${dir})\n`);
    return Exit.NOT_RUNNING;
  }
  ctx.io.out(json ? JSON.stringify({ running: true, ...s }, null, 2) + "\n" : formatStatus(s));
  return Exit.OK;
}

/** `env`: the exports, starting nothing. */
export async function env(ctx: CliContext, format: ExportFormat): Promise<number> {
  const config = await ctx.loadConfig();
  ctx.io.out(formatExports(config.sockets, format));
  return Exit.OK;
}

/** `version`. */
export function version(ctx: CliContext): number {
  const rt = ctx.runtime;
  ctx.io.out(
    `wsl2proxy ${VERSION} (${rt.name} ${rt.version}, ${rt.os}-${rt.arch}${
      rt.compiled ? ", compiled" : ""
    })\n`,
  );
  return Exit.OK;
}

function controlPath(runtimeDir: string): string {
  return join(runtimeDir, RuntimeFiles.control);
}

/** The runtime dir; with an invalid config, warn and carry on (the daemon may run on the old one). */
async function runtimeDirWarning(ctx: CliContext): Promise<string> {
  const { dir, configError } = await ctx.runtimeDir();
  if (configError) {
    ctx.io.err(
      `wsl2proxy: warning: the config file is invalid (using runtime dir ${dir}):\n${configError.message}\n`,
    );
  }
  return dir;
}

/**
 * Make sure a daemon of this version is running: the fast path is one
 * `hello` on the control socket. Otherwise take the start lock, look again,
 * and spawn one. A daemon of another version is stopped first.
 */
async function ensureDaemon(ctx: CliContext, config: Config, agentPath?: string): Promise<void> {
  const rt = ctx.runtime;
  const control = controlPath(config.runtimeDir);
  const hello = await controlRequest<Hello>(rt, control, { op: "hello" }, 3000).catch(() => null);
  if (hello?.version === VERSION) return;
  await ensureRuntimeDir(config.runtimeDir, rt.uid());
  const release = await acquireStartLock(rt, join(config.runtimeDir, RuntimeFiles.lock));
  try {
    const again = await controlRequest<Hello>(rt, control, { op: "hello" }, 3000).catch(() => null);
    if (again?.version === VERSION) return;
    if (again) {
      ctx.io.err(
        `wsl2proxy: the running daemon is version ${again.version}; restarting it as ${VERSION}\n`,
      );
      await stopDaemon(ctx, config.runtimeDir);
    }
    const args: string[] = [];
    if (ctx.configFlag) args.push("--config", ctx.configFlag);
    if (!agentPath && config.agent.kind === "auto") {
      // Place the embedded agent here, in this short-lived process: decompressing and
      // hashing it costs hundreds of MiB for a moment, which the daemon should not keep.
      const { resolveAgentArgv } = await import("./agent_argv.ts");
      agentPath = (await resolveAgentArgv(ctx, config)).argv[0];
    }
    if (agentPath) args.push("--agent", agentPath);
    await spawnDaemon(rt, args);
  } finally {
    await release();
  }
}

/** Stop the daemon; false if none was running. */
async function stopDaemon(
  ctx: CliContext,
  runtimeDir: string,
  timeoutMs = 10_000,
): Promise<boolean> {
  const rt = ctx.runtime;
  const reply = await controlRequest<{ ok: boolean; pid: number }>(rt, controlPath(runtimeDir), {
    op: "stop",
  });
  if (!reply) return false;
  const deadline = performance.now() + timeoutMs;
  let delay = 5;
  while (rt.isAlive(reply.pid)) {
    if (performance.now() > deadline) {
      rt.signalPid(reply.pid, "SIGKILL");
      throw new DaemonError(
        "CONTROL",
        `the daemon (pid ${reply.pid}) did not stop within ${timeoutMs} ms; sent SIGKILL`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  return true;
}
