/**
 * One configured socket: listen on its Linux address, and for each accepted
 * connection open a mux stream to its Windows address and copy bytes both
 * ways. Keeps the counters `status` shows.
 *
 * @module
 */
import type { SocketConfig } from "../config/types.ts";
import { formatLinuxAddr } from "../config/addr.ts";
import { SessionClosedError, StreamResetError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { type MuxStream, splice } from "../mux/mod.ts";
import type { Conn, Listener, Runtime } from "../runtime/mod.ts";
import { relayAgent } from "../ssh_agent/mod.ts";
import type { AgentSupervisor } from "./agent_supervisor.ts";
import type { ConnectionBudget } from "./connection_budget.ts";

/** Counters for one socket. */
export interface SocketStats {
  envName: string;
  linuxAddr: string;
  windowsAddr: string;
  openConnections: number;
  totalConnections: number;
  failedConnections: number;
  rejectedPeers: number;
  /** Connections reset at once because the daemon was at its connection limit. */
  shedConnections: number;
  /** Bytes from Linux clients to Windows. */
  bytesOut: number;
  /** Bytes from Windows to Linux clients. */
  bytesIn: number;
  /**
   * `protocol: ssh-agent` only: extension requests (session-bind) that the
   * Windows agent hung up on, answered with SSH_AGENT_FAILURE by the bridge.
   */
  extensionsRefused: number;
}

/** Options for {@linkcode SocketForwarder}. */
export interface SocketForwarderOptions {
  runtime: Runtime;
  log: Logger;
  agent: AgentSupervisor;
  socket: SocketConfig;
  /** How long a connection waits for the agent when it is down. @default 5000 */
  agentWaitMs?: number;
  /** How long to wait for the far side to dial. @default 15000 */
  openTimeoutMs?: number;
  /** The daemon-wide bound on client connections (see `connection_budget.ts`). */
  budget?: ConnectionBudget;
}

/** Listens on one Linux address and forwards to one Windows address. */
export class SocketForwarder {
  readonly socket: SocketConfig;
  readonly #o: SocketForwarderOptions;
  #listener: Listener | null = null;
  #conns = new Set<Conn>();
  #accepting: Promise<void> | null = null;
  #stats: SocketStats;
  #hintedSessionBind = false;

  constructor(options: SocketForwarderOptions) {
    this.#o = options;
    this.socket = options.socket;
    this.#stats = {
      envName: options.socket.envName,
      linuxAddr: formatLinuxAddr(options.socket.linuxAddr),
      windowsAddr: options.socket.windowsAddr.url,
      openConnections: 0,
      totalConnections: 0,
      failedConnections: 0,
      rejectedPeers: 0,
      shedConnections: 0,
      bytesOut: 0,
      bytesIn: 0,
      extensionsRefused: 0,
    };
  }

  /** A stable identity: the same key means an unchanged socket across config reloads. */
  get key(): string {
    return socketKey(this.socket);
  }

  /** Bind the listener (socket files get mode 0600) and start accepting. */
  async listen(): Promise<void> {
    const { runtime } = this.#o;
    const addr = this.socket.linuxAddr;
    this.#listener = addr.kind === "unix"
      ? await runtime.listenUnix(addr.path)
      : await runtime.listenTcp(addr.host, addr.port);
    this.#o.log.info("listening", {
      env: this.socket.envName,
      addr: this.#listener.addr,
      target: this.socket.windowsAddr.url,
    });
    this.#accepting = this.#acceptLoop(this.#listener);
  }

  /** Counters snapshot. */
  stats(): SocketStats {
    return { ...this.#stats, openConnections: this.#conns.size };
  }

  /** Stop accepting; open connections finish on their own. Removes the socket file. */
  async stopAccepting(): Promise<void> {
    await this.#listener?.close();
    await this.#accepting;
  }

  /** Stop accepting and cut every open connection. */
  async close(): Promise<void> {
    await this.stopAccepting();
    for (const c of this.#conns) c.close();
  }

  /** Resolves when no connection is open any more. */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.#conns].map((c) => c.closed));
  }

  async #acceptLoop(listener: Listener): Promise<void> {
    try {
      for await (const conn of listener) this.#handle(conn);
    } catch (e) {
      this.#o.log.error("listener failed", {
        env: this.socket.envName,
        error: (e as Error).message,
      });
    }
  }

  /**
   * Open a stream on the agent's session, waiting a bounded time for an agent.
   * If the session dies before the far side answered (the agent was killed or
   * restarted), nothing was dialled for us and the client sent nothing through
   * yet, so the open is tried once more on the next agent.
   */
  async #open(fields: Record<string, string>): Promise<MuxStream | null> {
    const { agent, log } = this.#o;
    for (let attempt = 0;; attempt++) {
      const session = await agent.session(this.#o.agentWaitMs ?? 5000);
      if (!session) {
        this.#stats.failedConnections++;
        log.warn("closing connection: the Windows agent is not available", {
          ...fields,
          reason: agent.lastError ?? "starting",
        });
        return null;
      }
      try {
        return await session.open(this.socket.windowsAddr.url, {
          signal: AbortSignal.timeout(this.#o.openTimeoutMs ?? 15_000),
        });
      } catch (e) {
        if (e instanceof SessionClosedError && attempt === 0) continue;
        this.#stats.failedConnections++;
        const reason = e instanceof StreamResetError
          ? e.message
          : `${(e as Error).name}: ${(e as Error).message}`;
        log.warn("dial failed on the Windows side", { ...fields, reason });
        return null;
      }
    }
  }

  #countBytes = (dir: "aToB" | "bToA", n: number): void => {
    if (dir === "aToB") this.#stats.bytesOut += n;
    else this.#stats.bytesIn += n;
  };

  /** `protocol: raw`: one stream, bytes copied unchanged. Null when it could not be opened. */
  async #splice(conn: Conn, fields: Record<string, string>) {
    const stream = await this.#open(fields);
    if (!stream) {
      // Not a clean end: whatever the client sent was not delivered.
      conn.reset();
      return null;
    }
    this.#o.log.debug("connection opened", { ...fields, stream: stream.id });
    const r = await splice(conn, stream, { onBytes: this.#countBytes });
    return { ...r, stream: String(stream.id) };
  }

  /** `protocol: ssh-agent`: see `src/ssh_agent/agent_relay.ts`. Null when no stream could be opened. */
  async #relayAgent(conn: Conn, fields: Record<string, string>) {
    const { log } = this.#o;
    const ids: number[] = [];
    const r = await relayAgent(conn, {
      openUpstream: async () => {
        const stream = await this.#open(fields);
        if (stream) {
          ids.push(stream.id);
          log.debug("connection opened", { ...fields, stream: stream.id });
        }
        return stream;
      },
      onBytes: this.#countBytes,
      onExtensionRefused: (name) => {
        this.#stats.extensionsRefused++;
        // A hint, not an error: say it once per socket, then only at debug.
        const level = this.#hintedSessionBind ? "debug" : "info";
        this.#hintedSessionBind = true;
        const what = name === "session-bind@openssh.com" ? "session-bind" : `extension ${name}`;
        log[level](`the Windows agent does not support ${what}; answered FAILURE`, {
          ...fields,
          stream: ids.at(-1),
          hint: "update Win32-OpenSSH to 8.9 or later",
        });
      },
      onTooLarge: (length) => {
        log.warn("closing connection: ssh-agent message over the 256 KiB limit", {
          ...fields,
          length,
        });
      },
    });
    if (r.upstreams === 0) {
      // As for raw: not a clean end, whatever the client sent was not delivered.
      conn.reset();
      return null;
    }
    return { ...r, stream: ids.join(",") };
  }

  async #handle(conn: Conn): Promise<void> {
    const { log, runtime } = this.#o;
    const uid = conn.peerUid();
    const me = runtime.uid();
    // -1: a TCP peer the kernel's socket table does not show, i.e. not on
    // this machine; only an allow_remote listener takes those.
    const remotePeer = uid === -1 && this.socket.allowRemote;
    if (uid !== undefined && uid !== me && uid !== 0 && !remotePeer) {
      this.#stats.rejectedPeers++;
      log.warn("rejected a connection from another user", {
        env: this.socket.envName,
        peer_uid: uid,
        uid: me,
      });
      conn.close();
      return;
    }
    const place = this.#o.budget?.take() ?? "ok";
    if (place !== "ok") {
      this.#stats.shedConnections++;
      if (place === "refuse-first") {
        log.warn("at the connection limit: new connections are reset until others end", {
          env: this.socket.envName,
          open: this.#o.budget!.open,
          hint: "raise the open-file limit (ulimit -n), or find the clients that stay connected",
        });
      }
      conn.reset();
      return;
    }
    this.#conns.add(conn);
    this.#stats.totalConnections++;
    const started = performance.now();
    const fields = { env: this.socket.envName, target: this.socket.windowsAddr.url };
    try {
      const r = this.socket.protocol === "ssh-agent"
        ? await this.#relayAgent(conn, fields)
        : await this.#splice(conn, fields);
      if (r && log.enabled("debug")) {
        log.debug("connection closed", {
          ...fields,
          stream: r.stream,
          bytes_out: r.aToB,
          bytes_in: r.bToA,
          ms: Math.round(performance.now() - started),
          error: r.error ? (r.error as Error).message ?? String(r.error) : undefined,
        });
      }
    } finally {
      conn.close();
      this.#conns.delete(conn);
      this.#o.budget?.release();
    }
  }
}

/** Identity of a socket config across reloads. */
export function socketKey(s: SocketConfig): string {
  return [s.envName, formatLinuxAddr(s.linuxAddr), s.windowsAddr.url, s.protocol].join("\u0000");
}
