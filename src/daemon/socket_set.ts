/**
 * The daemon's configured sockets: one forwarder per socket that listens, the
 * ones that could not listen (with the reason, retried at the next reload),
 * and the removed ones that still finish their open connections. A reload
 * applies a new list by difference, touching only the sockets that changed.
 *
 * @module
 */
import type { SocketConfig } from "../config/types.ts";
import { formatLinuxAddr } from "../config/addr.ts";
import { AddressInUseError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/mod.ts";
import type { SocketReport } from "./control_protocol.ts";
import { heldSocketHint } from "./held_socket_hint.ts";
import { SocketForwarder, socketKey, type SocketStats } from "./socket_forwarder.ts";

/** A configured socket that does not listen, as `status` shows it. */
export interface NotListening {
  envName: string;
  linuxAddr: string;
  windowsAddr: string;
  error: string;
}

/** The forwarders of a config, kept in step with it. */
export class SocketSet {
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #forwarder: (socket: SocketConfig) => SocketForwarder;
  #listening = new Map<string, SocketForwarder>();
  #retiring = new Set<SocketForwarder>();
  #failed = new Map<string, { socket: SocketConfig; error: string }>();

  constructor(
    runtime: Runtime,
    log: Logger,
    forwarder: (socket: SocketConfig) => SocketForwarder,
  ) {
    this.#runtime = runtime;
    this.#log = log;
    this.#forwarder = forwarder;
  }

  /** How many sockets listen. */
  get size(): number {
    return this.#listening.size;
  }

  /**
   * Bind every socket of the first config. A path someone else listens on
   * fails only its own socket: the others start, and `start` names it (exit
   * 5). It is never replaced. Any other error is thrown.
   */
  async listenAll(sockets: readonly SocketConfig[]): Promise<void> {
    for (const s of sockets) {
      const f = this.#forwarder(s);
      try {
        await f.listen();
      } catch (e) {
        if (!(e instanceof AddressInUseError)) throw e;
        const error = await this.#listenError(s, e);
        this.#failed.set(f.key, { socket: s, error });
        this.#log.error("could not listen on a socket; `start` and `env` leave it out", {
          env: s.envName,
          error,
        });
        continue;
      }
      this.#listening.set(f.key, f);
    }
  }

  /**
   * Apply a reloaded list: new sockets start listening, removed ones stop
   * accepting (their open connections finish), unchanged ones are not touched.
   */
  async apply(sockets: readonly SocketConfig[]): Promise<{ added: number; removed: number }> {
    const wanted = new Map(sockets.map((s) => [socketKey(s), s]));
    let added = 0;
    let removed = 0;
    const stopping: Promise<void>[] = [];
    for (const [key, f] of this.#listening) {
      if (wanted.has(key)) continue;
      this.#listening.delete(key);
      this.#retiring.add(f);
      removed++;
      this.#log.info("socket removed; open connections may finish", { env: f.socket.envName });
      const stopped = f.stopAccepting();
      stopping.push(stopped);
      stopped.then(() => f.drained()).finally(() => this.#retiring.delete(f));
    }
    // A replacement may bind the same path (only windows_addr changed): the old
    // listener must have closed and removed its file first, or its cleanup
    // could unlink the new socket.
    await Promise.allSettled(stopping);
    for (const key of this.#failed.keys()) if (!wanted.has(key)) this.#failed.delete(key);
    for (const [key, s] of wanted) {
      if (this.#listening.has(key)) continue;
      const f = this.#forwarder(s);
      try {
        await f.listen();
        this.#listening.set(key, f);
        this.#failed.delete(key);
        added++;
      } catch (e) {
        const error = await this.#listenError(s, e);
        this.#failed.set(key, { socket: s, error });
        this.#log.error("could not listen on a new socket; `start` and `env` leave it out", {
          env: s.envName,
          error,
        });
      }
    }
    return { added, removed };
  }

  /** Why `socket` could not listen, with a hint when a local gpg-agent holds its path. */
  async #listenError(socket: SocketConfig, e: unknown): Promise<string> {
    const message = (e as Error).message;
    if (!(e instanceof AddressInUseError) || socket.linuxAddr.kind !== "unix") return message;
    const hint = await heldSocketHint(this.#runtime, socket.linuxAddr.path);
    return hint === undefined ? message : `${message}; ${hint}`;
  }

  /** Counters of each listening socket. */
  stats(): SocketStats[] {
    return [...this.#listening.values()].map((f) => f.stats());
  }

  /** The configured sockets that do not listen, with the reason. */
  notListening(): NotListening[] {
    return [...this.#failed.values()].map(({ socket, error }) => ({
      envName: socket.envName,
      linuxAddr: formatLinuxAddr(socket.linuxAddr),
      windowsAddr: socket.windowsAddr.url,
      error,
    }));
  }

  /** Every configured socket and whether it listens (for `hello`, which `start` exports from). */
  report(): SocketReport[] {
    const report = (socket: SocketConfig, error?: string): SocketReport => ({
      envName: socket.envName,
      linuxAddr: formatLinuxAddr(socket.linuxAddr),
      listening: error === undefined,
      ...(error === undefined ? {} : { error }),
    });
    return [
      ...[...this.#listening.values()].map((f) => report(f.socket)),
      ...[...this.#failed.values()].map((f) => report(f.socket, f.error)),
    ];
  }

  /** Close every forwarder, the retiring ones included. */
  async close(): Promise<void> {
    const all = [...this.#listening.values(), ...this.#retiring];
    await Promise.allSettled(all.map((f) => f.close()));
  }
}
