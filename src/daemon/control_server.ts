/**
 * The daemon's control socket (`control.sock`, mode 0600): `status`, `stop`,
 * `reload` and `hello` for the CLI. Peers must be the same uid (or root).
 * A client has a few seconds to send its request line, and only so many are
 * served at once, so idle or half-written connections cannot pile up.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { Conn, Listener, Runtime } from "../runtime/mod.ts";
import { type ControlRequest, encodeLine, readLine } from "./control_protocol.ts";

/** Answers one request; the result is sent back as JSON. */
export type ControlHandler = (request: ControlRequest) => Promise<unknown> | unknown;

const LATE = Symbol("late");

/** Options for {@linkcode ControlServer}. */
export interface ControlServerOptions {
  /**
   * How long a client has to deliver its request line. Long waits the
   * protocol asks for (`wait-agent`) start after the line and are not cut.
   * @default 5000
   */
  requestTimeoutMs?: number;
  /**
   * Control connections served at once; more are closed at once. Each one
   * costs an fd, and the CLI opens one at a time. @default 64
   */
  maxConnections?: number;
}

/** A handler result whose `afterReply` runs once the reply has been written (e.g. stop). */
export class ReplyThen {
  constructor(readonly response: unknown, readonly afterReply: () => void) {}
}

/** Serves the control socket. */
export class ControlServer {
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #handler: ControlHandler;
  readonly #timeoutMs: number;
  readonly #max: number;
  #listener: Listener | null = null;
  #loop: Promise<void> | null = null;
  #active = 0;
  #full = false;

  constructor(
    runtime: Runtime,
    log: Logger,
    handler: ControlHandler,
    options: ControlServerOptions = {},
  ) {
    this.#runtime = runtime;
    this.#log = log;
    this.#handler = handler;
    this.#timeoutMs = options.requestTimeoutMs ?? 5000;
    this.#max = options.maxConnections ?? 64;
  }

  /** Bind `path` (fails with AddressInUseError if a live daemon holds it). */
  async listen(path: string): Promise<void> {
    this.#listener = await this.#runtime.listenUnix(path);
    this.#loop = this.#accept(this.#listener);
  }

  /** Stop serving and remove the socket file. */
  async close(): Promise<void> {
    await this.#listener?.close();
    await this.#loop;
  }

  async #accept(listener: Listener): Promise<void> {
    try {
      for await (const conn of listener) {
        if (this.#active >= this.#max) {
          // Log when the cap is first hit, not once per refused connection of a flood.
          if (!this.#full) {
            this.#log.warn("too many control connections; refusing more", { max: this.#max });
          }
          this.#full = true;
          conn.close();
          continue;
        }
        this.#full = false;
        this.#active++;
        this.#serve(conn).finally(() => this.#active--);
      }
    } catch (e) {
      this.#log.error("control socket failed", { error: (e as Error).message });
    }
  }

  async #serve(conn: Conn): Promise<void> {
    const uid = conn.peerUid();
    const me = this.#runtime.uid();
    try {
      if (uid !== undefined && uid !== me && uid !== 0) {
        this.#log.warn("rejected a control connection from another user", { peer_uid: uid });
        return;
      }
      const line = await this.#readRequest(conn);
      if (line === null) return;
      let response: unknown;
      try {
        const request = JSON.parse(line) as ControlRequest;
        response = await this.#handler(request);
      } catch (e) {
        response = { ok: false, error: (e as Error).message };
      }
      const after = response instanceof ReplyThen ? response.afterReply : null;
      if (response instanceof ReplyThen) response = response.response;
      const w = conn.writable.getWriter();
      try {
        await w.write(encodeLine(response));
        await w.close();
      } finally {
        after?.();
      }
    } catch (e) {
      this.#log.debug("control connection failed", { error: (e as Error).message });
    } finally {
      conn.close();
    }
  }

  /** The request line, or null at EOF or when it did not arrive within the deadline. */
  async #readRequest(conn: Conn): Promise<string | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<typeof LATE>((resolve) => {
      timer = setTimeout(() => resolve(LATE), this.#timeoutMs);
    });
    try {
      const line = await Promise.race([readLine(conn.readable), late]);
      if (line !== LATE) return line;
      this.#log.debug("closing a control connection that sent no request line in time", {
        ms: this.#timeoutMs,
      });
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
