/**
 * The daemon's control socket (`control.sock`, mode 0600): `status`, `stop`,
 * `reload` and `hello` for the CLI. Peers must be the same uid (or root).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { Conn, Listener, Runtime } from "../runtime/mod.ts";
import { type ControlRequest, encodeLine, readLine } from "./control_protocol.ts";

/** Answers one request; the result is sent back as JSON. */
export type ControlHandler = (request: ControlRequest) => Promise<unknown> | unknown;

/** A handler result whose `afterReply` runs once the reply has been written (e.g. stop). */
export class ReplyThen {
  constructor(readonly response: unknown, readonly afterReply: () => void) {}
}

/** Serves the control socket. */
export class ControlServer {
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #handler: ControlHandler;
  #listener: Listener | null = null;
  #loop: Promise<void> | null = null;

  constructor(runtime: Runtime, log: Logger, handler: ControlHandler) {
    this.#runtime = runtime;
    this.#log = log;
    this.#handler = handler;
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
      for await (const conn of listener) this.#serve(conn);
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
      const line = await readLine(conn.readable);
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
}
