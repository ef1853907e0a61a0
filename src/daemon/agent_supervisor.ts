/**
 * Starts the agent, holds its mux session, and restarts it with capped
 * exponential backoff whenever it exits or its session ends. Connections ask
 * for the current session with a bounded wait, so a connection that arrives
 * while the agent is down either gets through once it is back or is closed
 * with a reason.
 *
 * @module
 */
import { HandshakeError, SessionClosedError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { Session, type SessionOptions } from "../mux/mod.ts";
import type { ChildProcess, ExitStatus, Runtime } from "../runtime/mod.ts";

/** What the supervisor is doing. */
export type AgentState = "starting" | "running" | "backoff" | "stopped";

/** Options for {@linkcode AgentSupervisor}. */
export interface AgentSupervisorOptions {
  runtime: Runtime;
  log: Logger;
  /** Our version, for the preface. */
  version: string;
  /** argv that starts the agent. */
  argv: readonly string[];
  /** Working directory for the agent (the Windows drive on WSL). */
  cwd?: string;
  /** First restart delay in ms. @default 100 */
  backoffInitialMs?: number;
  /** Largest restart delay in ms. @default 10000 */
  backoffMaxMs?: number;
  /**
   * An agent that completed the handshake and then served this long counts as
   * healthy: its end resets the backoff, so one killed now and then restarts at
   * once instead of climbing towards the cap. @default 2000
   */
  healthyAfterMs?: number;
  /** Extra mux session options (windows, keepalive). */
  sessionOptions?: Partial<SessionOptions>;
}

/** A snapshot for `status`. */
export interface AgentStatus {
  state: AgentState;
  pid: number | null;
  /** The agent's own version, from its preface. */
  version: string | null;
  restarts: number;
  /** Why the last agent ended, with a hint, or null. */
  lastError: string | null;
  /** ms until the next start attempt while in backoff. */
  nextStartInMs: number | null;
  command: string[];
  rttMs: number | null;
}

const STDERR_TAIL_LINES = 8;

/**
 * On `stop`, how long the agent has to exit after its stdin closes, and then
 * after SIGTERM, before SIGKILL: stop takes at most about their sum, whatever
 * state the agent is in (issue 12: 10 s for one that never finished its handshake).
 */
const STOP_EOF_GRACE_MS = 300;
const STOP_TERM_GRACE_MS = 300;

/** Runs and restarts the agent. */
export class AgentSupervisor {
  readonly #o:
    & Required<Omit<AgentSupervisorOptions, "cwd" | "sessionOptions">>
    & AgentSupervisorOptions;
  #state: AgentState = "stopped";
  #session: Session | null = null;
  #child: ChildProcess | null = null;
  #restarts = 0;
  #attempt = 0;
  #lastError: string | null = null;
  #nextStartAt: number | null = null;
  #waiters = new Set<(s: Session | null) => void>();
  #stopped = false;
  #wakeBackoff: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #stderrTail: string[] = [];
  #connectedAt: number | null = null;
  /** Aborts the handshake in progress, if any (see stop). */
  #connecting: AbortController | null = null;

  constructor(options: AgentSupervisorOptions) {
    this.#o = {
      ...options,
      backoffInitialMs: options.backoffInitialMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 10_000,
      healthyAfterMs: options.healthyAfterMs ?? 2000,
    };
  }

  /** Start supervising (idempotent). */
  start(): void {
    if (this.#loop) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** The live session, waiting up to `timeoutMs` for one; null if none came. */
  session(timeoutMs: number): Promise<Session | null> {
    if (this.#session && !this.#session.isClosed) return Promise.resolve(this.#session);
    if (this.#stopped) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (s: Session | null) => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve(s);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      this.#waiters.add(done);
    });
  }

  /**
   * Resolve true once an agent other than `exceptPid` is running (connected),
   * or false after `timeoutMs`.
   */
  async waitRunning(exceptPid: number | undefined, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0 || this.#stopped) return false;
      const s = await this.session(left);
      if (!s) return false;
      if (this.#child && this.#child.pid !== exceptPid) return true;
      // The old agent's session: wait for its end (but never past the deadline), then for the next one.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        s.closed,
        new Promise((r) => (timer = setTimeout(r, deadline - performance.now()))),
      ]);
      clearTimeout(timer);
    }
  }

  /** Why there is no session right now, for the log line of a refused connection. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** A snapshot for `status`. */
  status(): AgentStatus {
    return {
      state: this.#state,
      pid: this.#child?.pid ?? null,
      version: this.#session && !this.#session.isClosed ? this.#session.peer.version : null,
      restarts: this.#restarts,
      lastError: this.#lastError,
      nextStartInMs: this.#nextStartAt === null
        ? null
        : Math.max(0, Math.round(this.#nextStartAt - performance.now())),
      command: [...this.#o.argv],
      rttMs: this.#session?.stats().rttMs ?? null,
    };
  }

  /** Session counters of the live session, or null. */
  sessionStats() {
    return this.#session && !this.#session.isClosed ? this.#session.stats() : null;
  }

  /**
   * Stop: end the session (GO_AWAY) or abandon the handshake, either of which
   * closes the agent's stdin; then SIGTERM, then SIGKILL. Done in well under
   * a second whatever state the agent is in.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeBackoff?.();
    for (const w of [...this.#waiters]) w(null);
    this.#connecting?.abort(new SessionClosedError("the daemon is stopping"));
    const session = this.#session;
    const child = this.#child;
    const closing = session?.close("the daemon is stopping");
    if (child) await this.#reap(child, STOP_EOF_GRACE_MS, STOP_TERM_GRACE_MS);
    await closing;
    await this.#loop;
    this.#loop = null;
    this.#state = "stopped";
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#once();
      if (this.#stopped) break;
      const served = this.#connectedAt === null ? 0 : performance.now() - this.#connectedAt;
      if (served >= this.#o.healthyAfterMs) this.#attempt = 0;
      this.#connectedAt = null;
      const delay = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** this.#attempt);
      this.#attempt = Math.min(this.#attempt + 1, 30);
      this.#state = "backoff";
      this.#nextStartAt = performance.now() + delay;
      this.#o.log.warn(`agent ended; restarting in ${delay} ms`, {
        reason: this.#lastError ?? "unknown",
      });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.#wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wakeBackoff = null;
      this.#nextStartAt = null;
      this.#restarts++;
    }
  }

  /** One agent lifetime: spawn, handshake, serve until it ends. */
  async #once(): Promise<void> {
    const { runtime, log } = this.#o;
    this.#state = "starting";
    this.#stderrTail = [];
    let child: ChildProcess;
    try {
      const spawnOptions = { cwd: this.#o.cwd, stderr: "piped" } as const;
      // A socket pair where the runtime offers one (Bun: fewer syscalls per frame than its pipes).
      child = runtime.spawnLinked
        ? await runtime.spawnLinked([...this.#o.argv], spawnOptions)
        : runtime.spawn([...this.#o.argv], spawnOptions);
    } catch (e) {
      this.#lastError = `cannot start the agent (${this.#o.argv[0]}): ${message(e)}. ` +
        `Check agent.command / agent.path in the config, or that WSL interop works (try running cmd.exe /c ver).`;
      log.error(this.#lastError);
      return;
    }
    this.#child = child;
    if (this.#stopped) {
      // stop() ran while the spawn was under way and saw no child to end.
      await this.#reap(child, STOP_EOF_GRACE_MS, STOP_TERM_GRACE_MS);
      this.#child = null;
      return;
    }
    log.info("agent started", { pid: child.pid, command: this.#o.argv.join(" ") });
    this.#drainStderr(child);
    let exited: ExitStatus | null = null;
    const exit = child.status.then((s) => (exited = s));
    let session: Session;
    const connecting = this.#connecting = new AbortController();
    try {
      session = await Session.connect(child.stdout!, child.stdin!, {
        role: "client",
        version: this.#o.version,
        names: { local: "the Linux daemon", peer: "the Windows agent" },
        mismatchHint: "Run `wsl2proxy restart` so the daemon places its matching agent, " +
          "or point agent.path at the wsl2proxy.exe of the same version.",
        ...this.#o.sessionOptions,
        signal: connecting.signal,
      });
    } catch (e) {
      // When stopping, stop() reaps the child on its own shorter schedule.
      if (!this.#stopped) await this.#reap(child, 1000);
      await exit;
      this.#child = null;
      if (this.#stopped) return;
      this.#lastError = this.#describeFailure(e, exited);
      log.error(`agent handshake failed: ${this.#lastError}`);
      return;
    } finally {
      this.#connecting = null;
    }
    this.#session = session;
    this.#state = "running";
    this.#connectedAt = performance.now();
    this.#lastError = null;
    log.info("agent connected", { pid: child.pid, version: session.peer.version });
    if (session.peer.version !== this.#o.version) {
      log.warn(
        `the Windows agent is wsl2proxy ${session.peer.version} but this daemon is ${this.#o.version}; ` +
          "they speak the same protocol, but run `wsl2proxy restart` to use matching versions",
      );
    }
    for (const w of [...this.#waiters]) w(session);
    const ended = await Promise.race([session.closed, exit]);
    if ("reason" in ended) {
      // The session ended first (GO_AWAY, protocol error or EOF): make sure the process goes too.
      this.#lastError = ended.error ? ended.reason : null;
      if (ended.error && !this.#stopped) log.error(`agent session ended: ${ended.reason}`);
      await this.#reap(child, 2000);
    } else {
      session.close("the agent exited");
    }
    await exit;
    if (!this.#stopped && (!("reason" in ended) || !ended.error)) {
      this.#lastError = this.#describeFailure(null, exited);
    }
    this.#session = null;
    this.#child = null;
  }

  #describeFailure(e: unknown, exited: ExitStatus | null): string {
    const how = exited
      ? exited.signal ? `was killed by ${exited.signal}` : `exited with code ${exited.code}`
      : "stopped answering";
    const tail = this.#stderrTail.length
      ? `; its last output: ${this.#stderrTail.join(" | ")}`
      : "";
    if (e instanceof HandshakeError && e.code !== "HANDSHAKE_EOF") return `${e.message}${tail}`;
    if (e instanceof SessionClosedError || e === null || e instanceof HandshakeError) {
      return `the agent ${how}${tail}. If this repeats, run \`wsl2proxy run\` to watch it, check that ` +
        `${this.#o.argv[0]} exists and runs, and that WSL interop is enabled.`;
    }
    return `${message(e)} (the agent ${how})${tail}`;
  }

  async #drainStderr(child: ChildProcess): Promise<void> {
    if (!child.stderr) return;
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of child.stderr) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split(/\r?\n/);
        partial = lines.pop()!.slice(-4096);
        for (const line of lines) this.#stderrLine(line);
      }
      if (partial) this.#stderrLine(partial);
    } catch { /* the pipe broke with the process */ }
  }

  #stderrLine(line: string): void {
    const text = line.slice(0, 1000);
    if (!text.trim()) return;
    this.#o.log.info(`agent: ${text}`);
    this.#stderrTail.push(text);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
  }

  /**
   * Close stdin (unless a session still holds it: then closing the session
   * closes it) and wait `graceMs`; then SIGTERM and wait `termMs`; then SIGKILL.
   */
  async #reap(child: ChildProcess, graceMs: number, termMs = 500): Promise<void> {
    if (child.stdin && !child.stdin.locked) child.stdin.close().catch(() => {});
    if (await exitsWithin(child, graceMs)) return;
    child.kill("SIGTERM");
    if (await exitsWithin(child, termMs)) return;
    child.kill("SIGKILL");
    await child.status;
  }
}

async function exitsWithin(child: ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gone = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return gone;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
