/**
 * The commands that talk to a daemon or only read the config: start, stop,
 * restart, status, env, version. Each returns its exit status for normal
 * outcomes and throws typed errors for failures (main.ts maps those).
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import { DaemonError, RuntimeDirError } from "../errors.ts";
import type { DaemonStatus } from "../daemon/daemon.ts";
import type { HelloResponse } from "../daemon/control_protocol.ts";
import { formatLinuxAddr } from "../config/addr.ts";
import { ensureRuntimeDir, RuntimeFiles, verifyRuntimeDir } from "../daemon/runtime_dir.ts";
import { VERSION } from "../version.ts";
import type { CliContext } from "./context.ts";
import { controlExchange, controlRequest } from "./control_client.ts";
import { processStartTime } from "../runtime/mod.ts";
import { type ExportFormat, formatExports, sortByDaemon } from "./exports.ts";
import { acquireStartLock } from "./start_lock.ts";
import { spawnDaemon } from "./spawn_daemon.ts";
import { formatStatus } from "./status_text.ts";

/** Exit statuses, as documented in the README and `--help`. */
export const Exit = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  /** `status`: no daemon runs. */
  NOT_RUNNING: 3,
  /** `agent`: the preface exchange failed (stray bytes, version mismatch, timeout). */
  HANDSHAKE_FAILED: 4,
  /** `start`, `env`: some sockets are not listening; they are named on stderr and not exported. */
  SOCKETS_FAILED: 5,
} as const;

type Hello = HelloResponse;

/** `start`: make sure a daemon of our version runs, then print the exports. */
export async function start(
  ctx: CliContext,
  format: ExportFormat,
  agentPath?: string,
): Promise<number> {
  const config = await ctx.loadConfig();
  notice(ctx, config.runtimeDir);
  return await exportListening(ctx, config, format, await ensureDaemon(ctx, config, agentPath));
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
  notice(ctx, config.runtimeDir);
  await stopDaemon(ctx, config.runtimeDir);
  return await exportListening(ctx, config, format, await ensureDaemon(ctx, config, agentPath));
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
  let text: string;
  try {
    text = json ? JSON.stringify({ running: true, ...s }, null, 2) + "\n" : formatStatus(s);
  } catch (e) {
    // Only a daemon of ours gets this far, but a broken one must not crash `status`.
    throw new DaemonError("CONTROL", "the daemon's status answer is malformed", { cause: e });
  }
  ctx.io.out(text);
  return Exit.OK;
}

/** `env`: the exports, starting nothing. */
export async function env(ctx: CliContext, format: ExportFormat): Promise<number> {
  const config = await ctx.loadConfig();
  notice(ctx, config.runtimeDir);
  // Paths in a runtime dir someone else controls must not be exported (a missing dir is fine).
  if (ctx.runtime.uid() >= 0) verifyRuntimeDir(config.runtimeDir, ctx.runtime.uid());
  // What the config says, less what a running daemon of ours reports as not listening.
  const reply = await hello(ctx, controlPath(config.runtimeDir));
  const { failed } = sortByDaemon(config.sockets, reply?.sockets);
  const left = new Set(failed.map((f) => f.socket));
  ctx.io.out(formatExports(config.sockets.filter((s) => !left.has(s)), format));
  for (const { socket, error } of failed) {
    ctx.io.err(
      `wsl2proxy: warning: leaving out ${socket.envName}: the daemon reports ` +
        `${formatLinuxAddr(socket.linuxAddr)} is not listening: ${error}\n`,
    );
  }
  return failed.length > 0 ? Exit.SOCKETS_FAILED : Exit.OK;
}

/**
 * Print the exports of the sockets the daemon reports as listening, and name
 * the others on stderr with the daemon's reason. A socket the daemon does
 * not know (the file changed and its reload is still pending) makes it
 * reload now, once.
 */
async function exportListening(
  ctx: CliContext,
  config: Config,
  format: ExportFormat,
  reply: Hello | null,
): Promise<number> {
  const control = controlPath(config.runtimeDir);
  if (!reply) {
    throw new DaemonError("START_FAILED", `the daemon does not answer on ${control}`);
  }
  let sorted = sortByDaemon(config.sockets, reply.sockets);
  if (sorted.unknown.length > 0) {
    await controlRequest(ctx.runtime, control, { op: "reload" }, 10_000).catch(() => null);
    sorted = sortByDaemon(config.sockets, (await hello(ctx, control))?.sockets);
  }
  const failed = [
    ...sorted.failed,
    ...sorted.unknown.map((socket) => ({
      socket,
      error: "the running daemon does not serve it (its config differs; see its log)",
    })),
  ];
  ctx.io.out(formatExports(sorted.listening, format));
  for (const { socket, error } of failed) {
    ctx.io.err(
      `wsl2proxy: ${socket.envName} is not exported: ` +
        `${formatLinuxAddr(socket.linuxAddr)} is not listening: ${error}\n`,
    );
  }
  return failed.length > 0 ? Exit.SOCKETS_FAILED : Exit.OK;
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
  notice(ctx, dir);
  return dir;
}

/** Say on stderr why the runtime dir is not under $XDG_RUNTIME_DIR, when that is so. */
function notice(ctx: CliContext, dir: string): void {
  const text = ctx.runtimeDirNotice(dir);
  if (text) ctx.io.err(`wsl2proxy: warning: ${text}\n`);
}

/** A `hello` on the quick path: no answer is null, but an unsafe dir or a stranger is an error. */
async function hello(ctx: CliContext, control: string): Promise<Hello | null> {
  try {
    return await controlRequest<Hello>(ctx.runtime, control, { op: "hello" }, 3000);
  } catch (e) {
    if (e instanceof RuntimeDirError) throw e;
    if (e instanceof DaemonError && e.code === "UNTRUSTED") throw e;
    return null;
  }
}

/**
 * Make sure a daemon of this version is running: the fast path is one
 * `hello` on the control socket. Otherwise take the start lock, look again,
 * and spawn one. A daemon of another version is stopped first. Returns the
 * running daemon's `hello` (null only if the new one does not answer).
 */
async function ensureDaemon(
  ctx: CliContext,
  config: Config,
  agentPath?: string,
): Promise<Hello | null> {
  const rt = ctx.runtime;
  const control = controlPath(config.runtimeDir);
  // hello() proves the dir and the daemon ours (runtime_dir.ts, SO_PEERCRED) before believing it.
  const first = await hello(ctx, control);
  if (first?.version === VERSION) return first;
  await ensureRuntimeDir(config.runtimeDir, rt.uid());
  const release = await acquireStartLock(rt, join(config.runtimeDir, RuntimeFiles.lock));
  try {
    const again = await hello(ctx, control);
    if (again?.version === VERSION) return again;
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
    return await hello(ctx, control);
  } finally {
    await release();
  }
}

/**
 * Stop the daemon; false if none was running. The only pid ever signalled is
 * the one the kernel reports for the control socket's listener (SO_PEERCRED,
 * our uid, checked by controlExchange), and only while it is still the same
 * process (its start time); never a number from a file or a reply.
 */
async function stopDaemon(
  ctx: CliContext,
  runtimeDir: string,
  timeoutMs = 10_000,
): Promise<boolean> {
  const rt = ctx.runtime;
  const control = controlPath(runtimeDir);
  const answer = await controlExchange<{ ok: boolean }>(rt, control, { op: "stop" });
  if (!answer) return false;
  const { peer, startTime } = answer;
  // Without peer credentials (no FFI) there is no pid we may trust: wait for the socket to go.
  const running = peer && startTime
    ? () => rt.isAlive(peer.pid) && processStartTime(peer.pid) === startTime
    : async () =>
      (await controlRequest(rt, control, { op: "hello" }, 1000).catch(() => null)) !== null;
  const deadline = performance.now() + timeoutMs;
  let delay = 5;
  while (await running()) {
    if (performance.now() > deadline) {
      if (peer && startTime) rt.signalPid(peer.pid, "SIGKILL");
      throw new DaemonError(
        "CONTROL",
        `the daemon (pid ${peer?.pid ?? "?"}) did not stop within ${timeoutMs} ms` +
          (peer && startTime ? "; sent SIGKILL" : ""),
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  return true;
}
