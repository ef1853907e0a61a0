/**
 * The Linux side: owns the runtime directory, the control socket, one
 * forwarder per configured socket, and the agent supervisor. Reloads the
 * config on request, touching only the sockets that changed.
 *
 * @module
 */
import type { Config, SocketConfig } from "../config/types.ts";
import { AddressInUseError, DaemonError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { SessionOptions } from "../mux/mod.ts";
import { lstat, type Runtime, unlink, writeOwnFile } from "../runtime/mod.ts";
import { type AgentStatus, AgentSupervisor } from "./agent_supervisor.ts";
import type { ControlRequest, HelloResponse, SocketReport } from "./control_protocol.ts";
import { ControlServer, ReplyThen } from "./control_server.ts";
import { ensureRuntimeDir, RuntimeFiles } from "./runtime_dir.ts";
import { ConnectionBudget } from "./connection_budget.ts";
import { readAgentStats } from "../agent/agent_stats.ts";
import { SocketForwarder, type SocketStats } from "./socket_forwarder.ts";
import { type NotListening, SocketSet } from "./socket_set.ts";
import { join } from "node:path";

/** How often the daemon checks that its control socket is still its own. */
const OWNERSHIP_CHECK_MS = 5000;

/** Options for {@linkcode Daemon.start}. */
export interface DaemonOptions {
  runtime: Runtime;
  log: Logger;
  config: Config;
  version: string;
  /** argv that starts the agent, and its working directory. */
  agent: { argv: readonly string[]; cwd?: string };
  /** Loads the config again for `reload` (SIGHUP, file change, control request). */
  reloadConfig?: () => Promise<Config>;
  /**
   * Points the log's file sink at `path` (a reload changed `log_path`); throws
   * if it cannot be opened, and the old file stays in use. Without it a new
   * `log_path` waits for a restart.
   */
  reopenLog?: (path: string) => void;
  /** Passed to the supervisor's sessions (windows, keepalive). */
  sessionOptions?: Partial<SessionOptions>;
  /** Restart backoff for the agent, in ms. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long a connection waits for a down agent. @default 5000 */
  agentWaitMs?: number;
}

/** What a reload did. */
export interface ReloadResult {
  ok: boolean;
  error?: string;
  added: number;
  removed: number;
}

/** What `status --json` prints. */
export interface DaemonStatus {
  ok: true;
  pid: number;
  version: string;
  runtime: string;
  startedAt: string;
  uptimeSeconds: number;
  config: string | null;
  runtimeDir: string;
  logPath: string;
  rssBytes: number;
  agent: AgentStatus & {
    session: ReturnType<AgentSupervisor["sessionStats"]>;
    /** Target connections the agent holds open, per target (when it answered in time). */
    openTargets?: Record<string, number>;
  };
  sockets: SocketStats[];
  /** Configured sockets that could not listen (at start or after a reload), with the reason. */
  notListening: NotListening[];
}

/** A running daemon. */
export class Daemon {
  readonly #o: DaemonOptions;
  #config: Config;
  readonly #agent: AgentSupervisor;
  readonly #control: ControlServer;
  readonly #sockets: SocketSet;
  #reloads: Promise<void> = Promise.resolve();
  readonly #startedAt = new Date();
  #resolveDone!: () => void;
  /** Resolves once the daemon has fully stopped. */
  readonly done: Promise<void>;
  #stopping: Promise<void> | null = null;
  #ownership: ReturnType<typeof setInterval> | undefined;
  /**
   * Settles once every configured socket has been bound (or has failed): the
   * control socket answers from the start, and a concurrent `start` asking
   * `hello` meanwhile must not see sockets that are merely not bound yet.
   */
  #bound = Promise.withResolvers<void>();
  /** Bounds client connections below the open-file limit (set in `start`). */
  #budget = new ConnectionBudget(undefined);

  private constructor(o: DaemonOptions) {
    this.#o = o;
    this.#config = o.config;
    this.done = new Promise((r) => (this.#resolveDone = r));
    this.#agent = new AgentSupervisor({
      runtime: o.runtime,
      log: o.log.child("agent"),
      version: o.version,
      argv: o.agent.argv,
      cwd: o.agent.cwd,
      sessionOptions: o.sessionOptions,
      backoffInitialMs: o.backoff?.initialMs,
      backoffMaxMs: o.backoff?.maxMs,
    });
    this.#sockets = new SocketSet(o.runtime, o.log, (s) => this.#forwarder(s));
    this.#control = new ControlServer(o.runtime, o.log.child("control"), (r) => this.#onControl(r));
  }

  /**
   * Check the runtime dir, take the control socket (which makes this the only
   * instance), bind every socket and start the agent. On failure nothing is
   * left behind.
   * @throws {RuntimeDirError} for an unsafe runtime dir, {@linkcode DaemonError} if one is already running.
   */
  static async start(o: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(o);
    const dir = o.config.runtimeDir;
    await ensureRuntimeDir(dir, o.runtime.uid());
    const fd = await o.runtime.raiseFdLimit();
    d.#budget = new ConnectionBudget(fd);
    o.log.debug("open-file limit", {
      limit: fd?.limit,
      open: fd?.open,
      connections: d.#budget.max,
    });
    try {
      await d.#control.listen(join(dir, RuntimeFiles.control));
    } catch (e) {
      if (e instanceof AddressInUseError) {
        throw new DaemonError(
          "START_FAILED",
          `a wsl2proxy daemon is already running (${join(dir, RuntimeFiles.control)})`,
          { cause: e },
        );
      }
      throw e;
    }
    try {
      writeOwnFile(join(dir, RuntimeFiles.pid), `${o.runtime.pid}\n`, o.runtime.uid());
      await d.#sockets.listenAll(o.config.sockets);
    } catch (e) {
      d.#bound.resolve();
      await d.stop();
      throw e;
    }
    d.#bound.resolve();
    d.#agent.start();
    await d.#watchOwnership(join(dir, RuntimeFiles.control));
    o.log.info("daemon started", {
      pid: o.runtime.pid,
      version: o.version,
      sockets: o.config.sockets.length,
    });
    return d;
  }

  /** The config in force. */
  get config(): Config {
    return this.#config;
  }

  /** `status`, with the agent's own count of open target connections when it answers. */
  async #statusWithAgent(): Promise<DaemonStatus> {
    const session = await this.#agent.session(0);
    const stats = session ? await readAgentStats(session) : null;
    const status = this.status();
    if (stats) status.agent.openTargets = stats.openTargets;
    return status;
  }

  /** Everything `status` shows. */
  status(): DaemonStatus {
    const rt = this.#o.runtime;
    return {
      ok: true,
      pid: rt.pid,
      version: this.#o.version,
      runtime: `${rt.name} ${rt.version}`,
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.#startedAt.getTime()) / 1000),
      config: this.#config.file ?? null,
      runtimeDir: this.#config.runtimeDir,
      logPath: this.#config.logPath,
      rssBytes: rt.rss(),
      agent: { ...this.#agent.status(), session: this.#agent.sessionStats() },
      sockets: this.#sockets.stats(),
      notListening: this.#sockets.notListening(),
    };
  }

  /** Every configured socket and whether it listens (for `hello`, which `start` exports from). */
  socketReport(): SocketReport[] {
    return this.#sockets.report();
  }

  /**
   * Load the config again and apply it: new sockets start listening, removed
   * ones stop accepting (their open connections finish), unchanged ones are
   * not touched. A bad config is logged and the old one stays in force.
   */
  reload(): Promise<ReloadResult> {
    // One at a time: a file change and a `start` asking for the same reload
    // would otherwise both bind a new socket, and the second fail on the first.
    const next = this.#reloads.then(() => this.#reload());
    this.#reloads = next.then(() => {}, () => {});
    return next;
  }

  async #reload(): Promise<ReloadResult> {
    const log = this.#o.log;
    if (!this.#o.reloadConfig) {
      return { ok: false, error: "reload is not supported here", added: 0, removed: 0 };
    }
    let next: Config;
    try {
      next = await this.#o.reloadConfig();
    } catch (e) {
      const error = (e as Error).message;
      log.error(`config reload failed; keeping the old config:\n${error}`);
      return { ok: false, error, added: 0, removed: 0 };
    }
    if (next.runtimeDir !== this.#config.runtimeDir) {
      log.warn("runtime_dir changed; it takes effect after `wsl2proxy restart`");
    }
    if (JSON.stringify(next.agent) !== JSON.stringify(this.#config.agent)) {
      log.warn("the agent settings changed; they take effect after `wsl2proxy restart`");
    }
    const { added, removed } = await this.#sockets.apply(next.sockets);
    log.setLevel(next.logLevel);
    const logPath = this.#reopenLog(next.logPath);
    this.#config = {
      ...next,
      runtimeDir: this.#config.runtimeDir,
      agent: this.#config.agent,
      logPath,
    };
    log.info("config reloaded", { added, removed, sockets: this.#sockets.size });
    return { ok: true, added, removed };
  }

  /** Switch the log to `path` if it changed; the path now written (the old one if the new one failed). */
  #reopenLog(path: string): string {
    const log = this.#o.log;
    const current = this.#config.logPath;
    if (path === current) return current;
    if (!this.#o.reopenLog) {
      log.warn("log_path changed; it takes effect after `wsl2proxy restart`");
      return current;
    }
    log.info("log_path changed; continuing in the new log", { path });
    try {
      this.#o.reopenLog(path);
    } catch (e) {
      log.error("could not open the new log_path; keeping this one", {
        path,
        error: (e as Error).message,
      });
      return current;
    }
    log.info("log reopened", { previous: current });
    return path;
  }

  /** Stop everything and remove what we created in the runtime dir. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#ownership);
      const dir = this.#config.runtimeDir;
      await this.#sockets.close();
      await this.#agent.stop();
      await this.#control.close();
      await unlink(join(dir, RuntimeFiles.pid)).catch(() => {});
      this.#o.log.info("daemon stopped");
      this.#resolveDone();
    })();
    return this.#stopping;
  }

  /**
   * Stop if our control socket disappears or is replaced: the runtime dir was
   * removed (logout cleaned /run/user, a tmp cleaner ran) or another daemon took
   * over. Without this, such a daemon would linger with nothing pointing at it.
   */
  async #watchOwnership(path: string): Promise<void> {
    const ino = (await lstat(path)).ino;
    this.#ownership = setInterval(async () => {
      const now = await lstat(path).catch(() => null);
      if (now?.ino === ino || this.#stopping) return;
      this.#o.log.warn(`the control socket ${path} was removed or replaced; stopping`);
      void this.stop();
    }, OWNERSHIP_CHECK_MS);
  }

  #forwarder(socket: SocketConfig): SocketForwarder {
    return new SocketForwarder({
      runtime: this.#o.runtime,
      log: this.#o.log.child("socket"),
      agent: this.#agent,
      socket,
      agentWaitMs: this.#o.agentWaitMs,
      budget: this.#budget,
    });
  }

  async #onControl(request: ControlRequest): Promise<unknown> {
    switch (request.op) {
      case "hello":
        await this.#bound.promise;
        return {
          ok: true,
          pid: this.#o.runtime.pid,
          version: this.#o.version,
          sockets: this.socketReport(),
        } satisfies HelloResponse;
      case "status":
        await this.#bound.promise;
        return await this.#statusWithAgent();
      case "wait-agent": {
        const ok = await this.#agent.waitRunning(
          request.exceptPid,
          Math.min(request.timeoutMs ?? 10_000, 60_000),
        );
        return ok
          ? this.status()
          : { ok: false, error: "the agent did not come up in time", status: this.status() };
      }
      case "reload":
        await this.#bound.promise;
        return await this.reload();
      case "stop":
        // Answer first, then stop: the CLI waits for the daemon to go away.
        return new ReplyThen({ ok: true, pid: this.#o.runtime.pid }, () => void this.stop());
      default:
        return {
          ok: false,
          error: `unknown op ${JSON.stringify((request as { op: unknown }).op)}`,
        };
    }
  }
}
