/**
 * `run` (the daemon, in the foreground or as started by `start`) and `agent`
 * (the Windows side).
 *
 * @module
 */
import { Daemon } from "../daemon/daemon.ts";
import { SessionClosedError, Wsl2ProxyError } from "../errors.ts";
import { Logger, type LogSink } from "../log/logger.ts";
import { openAppendLines, watchFile } from "../runtime/mod.ts";
import { VERSION } from "../version.ts";
import type { CliContext } from "./context.ts";
import { Exit } from "./commands.ts";
import { READY_LINE } from "./spawn_daemon.ts";
import { resolveAgentArgv } from "./agent_argv.ts";

/**
 * Run the daemon until SIGINT/SIGTERM or `stop`. In the background (started
 * by `start`) it logs only to the file and prints one ready line on stdout.
 */
export async function run(
  ctx: CliContext,
  background: boolean,
  agentPath?: string,
): Promise<number> {
  const rt = ctx.runtime;
  const config = await ctx.loadConfig();
  const agent = await resolveAgentArgv(ctx, config, agentPath);
  const { ensureRuntimeDir } = await import("../daemon/runtime_dir.ts");
  await ensureRuntimeDir(config.runtimeDir, rt.uid());
  let file = openAppendLines(config.logPath, rt.uid());
  // One sink that follows `file`, so a reload can switch files under every logger.
  const sinks: LogSink[] = [(line) => file.write(line)];
  if (!background) sinks.push((line) => ctx.io.err(line + "\n"));
  const log = new Logger({ level: config.logLevel, sinks, component: "daemon" });
  const notice = ctx.runtimeDirNotice(config.runtimeDir);
  for (const w of [...config.warnings, ...agent.warnings, ...(notice ? [notice] : [])]) log.warn(w);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({
      runtime: rt,
      log,
      config,
      version: VERSION,
      agent: { argv: agent.argv, cwd: agent.cwd },
      reloadConfig: () => ctx.loadConfig(),
      reopenLog: (path) => {
        const next = openAppendLines(path, rt.uid());
        const old = file;
        file = next;
        old.close();
      },
    });
  } catch (e) {
    log.error(`could not start: ${(e as Error).message}`);
    file.close();
    throw e;
  }
  const off: (() => void)[] = [];
  const stop = () => void daemon.stop();
  for (const sig of ["SIGINT", "SIGTERM"]) off.push(rt.onSignal(sig, stop));
  off.push(rt.onSignal("SIGHUP", () => void daemon.reload()));
  const { path } = ctx.configPath();
  let debounce: ReturnType<typeof setTimeout> | undefined;
  off.push(watchFile(path, () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void daemon.reload(), 200);
  }));
  if (background) ctx.io.out(READY_LINE + "\n");
  await daemon.done;
  clearTimeout(debounce);
  for (const f of off) f();
  file.close();
  return Exit.OK;
}

/** The Windows side: the mux on stdin/stdout until stdin closes. Logs go to stderr only. */
export async function agent(ctx: CliContext): Promise<number> {
  const { runAgent } = await import("../agent/mod.ts");
  const log = new Logger({
    level: (ctx.runtime.env("WSL2PROXY_LOG_LEVEL") as "debug") ?? "info",
    sinks: [(l) => ctx.io.err(l + "\n")],
    component: "agent",
  });
  // How long one request to Pageant's window may take (README: the Pageant recipe).
  const pageantTimeout = Number(ctx.runtime.env("WSL2PROXY_PAGEANT_TIMEOUT_MS"));
  const result = await runAgent({
    runtime: ctx.runtime,
    log,
    version: VERSION,
    dialOptions: pageantTimeout > 0 ? { pageantTimeoutMs: pageantTimeout } : undefined,
  });
  if (!result.error) return Exit.OK;
  // main.ts gives the exit status: 4 for a HandshakeError, 1 for a broken session.
  throw result.error instanceof Wsl2ProxyError
    ? result.error
    : new SessionClosedError(result.reason, { cause: result.error });
}
