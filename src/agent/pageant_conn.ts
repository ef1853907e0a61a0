/**
 * A {@linkcode Conn} over Pageant's WM_COPYDATA protocol: the stream's bytes
 * are ssh-agent messages (split by src/ssh_agent/framing.ts), each whole
 * request goes to Pageant in one WM_COPYDATA exchange, and its reply is what
 * the stream reads. One request is in flight per stream (the ssh-agent
 * protocol is request/reply), and a write resolves once its reply is queued,
 * so a client that stops reading stops the requests too.
 *
 * A failed exchange errors both directions with a
 * {@linkcode ConnectionResetError} whose message says what to do, which
 * splice turns into the stream's reset reason.
 *
 * @module
 */

import { ConnectionClosedError, ConnectionResetError, PageantError } from "../errors.ts";
import { AGENT_HEADER_SIZE, AgentMessageDecoder } from "../ssh_agent/framing.ts";
import type { Conn, PageantWin32 } from "../runtime/types.ts";

/** PuTTY's `AGENT_MAX_MSGLEN` is the whole mapping, the length prefix included. */
const MAX_BODY = 256 * 1024 - AGENT_HEADER_SIZE;

/** A Conn whose requests go to Pageant's window, each bounded by `timeoutMs`. */
export function pageantCopyDataConn(api: PageantWin32, timeoutMs: number): Conn {
  const decoder = new AgentMessageDecoder(MAX_BODY);
  let readController!: ReadableStreamDefaultController<Uint8Array>;
  let done = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let readEnded = false;
  let writeEnded = false;
  const settle = () => {
    if (readEnded && writeEnded) {
      done = true;
      resolveClosed();
    }
  };
  const fail = (error: Error) => {
    if (done) return;
    done = true;
    try {
      readController.error(error);
    } catch {
      // Already closed.
    }
    resolveClosed();
  };

  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      readController = controller;
    },
    cancel() {
      readEnded = true;
      settle();
    },
  });

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (done) throw new ConnectionClosedError("the Pageant stream is closed");
      let frame;
      try {
        decoder.push(chunk);
        frame = decoder.next();
      } catch (error) {
        const reset = new ConnectionResetError(
          `${(error as Error).message} (Pageant's limit)`,
          false,
          { cause: error },
        );
        fail(reset);
        throw reset;
      }
      while (frame !== null) {
        let reply: Uint8Array;
        try {
          reply = await api.query(frame.frame, timeoutMs);
        } catch (error) {
          const message = error instanceof PageantError
            ? error.message
            : `WM_COPYDATA to Pageant failed: ${(error as Error).message}`;
          const reset = new ConnectionResetError(message, true, { cause: error });
          fail(reset);
          throw reset;
        }
        if (done) return;
        readController.enqueue(reply);
        frame = decoder.next();
      }
    },
    close() {
      // The client has sent everything: no more replies will come.
      writeEnded = true;
      if (!done) {
        readEnded = true;
        readController.close();
      }
      settle();
    },
    abort(reason) {
      fail(reason instanceof Error ? reason : new ConnectionResetError("aborted", false));
    },
  });

  const close = () => {
    if (done) return;
    fail(new ConnectionClosedError("the Pageant stream was closed"));
  };
  return {
    readable,
    writable,
    close,
    reset: close,
    closed,
    localAddr: "(WM_COPYDATA)",
    remoteAddr: "Pageant window",
    peerUid: () => undefined,
  };
}
