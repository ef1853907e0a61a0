/**
 * The client side of Cygwin's AF_UNIX emulation, as libassuan does it for
 * gpg-agent's `S.gpg-agent.ssh` on Windows (`_assuan_sock_connect` in
 * `assuan-socket.c`): after the 16 nonce bytes the server sends them back,
 * the client sends its credentials (a 4-byte pid and 2-byte uid and gid,
 * which the server ignores), and the server answers with 8 bytes of its own.
 * Then the stream is the ssh-agent protocol.
 *
 * @module
 */
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import type { Conn } from "../runtime/types.ts";

/** Bytes the server echoes (the nonce), then the 8 bytes of its credentials. */
const ECHO_BYTES = 16;
const CREDENTIAL_BYTES = 8;

/**
 * Finish the Cygwin handshake on `conn`, whose nonce is already written.
 * Resolves with a connection that reads on from exactly where the handshake
 * ended (bytes the server sent early are kept).
 *
 * @throws {DialError} CONNECTION_REFUSED when the server hangs up (a wrong
 * nonce), TIMEOUT when it does not answer within `timeoutMs`.
 */
export async function cygwinHandshake(
  conn: Conn,
  pid: number,
  timeoutMs: number,
  display: string,
): Promise<Conn> {
  const reader = conn.readable.getReader();
  let buffered = new Uint8Array(0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new DialError(
            ResetCode.TIMEOUT,
            `gpg-agent's Cygwin socket ${display} did not finish its handshake within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  const take = async (n: number): Promise<Uint8Array> => {
    while (buffered.length < n) {
      const { value, done } = await Promise.race([reader.read(), timedOut]);
      if (done) {
        throw new DialError(
          ResetCode.CONNECTION_REFUSED,
          `gpg-agent's Cygwin socket ${display} hung up during the handshake (a stale nonce?): ` +
            "restart gpg-agent on Windows with `gpgconf --kill gpg-agent` and `gpgconf --launch gpg-agent`",
        );
      }
      const joined = new Uint8Array(buffered.length + value.length);
      joined.set(buffered);
      joined.set(value, buffered.length);
      buffered = joined;
    }
    const out = buffered.slice(0, n);
    buffered = buffered.slice(n);
    return out;
  };
  try {
    await take(ECHO_BYTES);
    const credentials = new Uint8Array(CREDENTIAL_BYTES); // uid = gid = 0, as libassuan sends
    new DataView(credentials.buffer).setUint32(0, pid >>> 0, true);
    const writer = conn.writable.getWriter();
    try {
      await writer.write(credentials);
    } finally {
      writer.releaseLock();
    }
    await take(CREDENTIAL_BYTES);
  } catch (error) {
    reader.releaseLock();
    conn.close();
    if (error instanceof DialError) throw error;
    throw new DialError(
      ResetCode.CONNECTION_REFUSED,
      `gpg-agent's Cygwin socket ${display} failed during the handshake: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
  return withReadable(conn, prepend(buffered, reader));
}

/** `reader`'s bytes, after `first` (if any). */
function prepend(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | null = first.length > 0 ? first : null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = null;
        return;
      }
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** `conn` with another readable; everything else is `conn`'s own. */
function withReadable(conn: Conn, readable: ReadableStream<Uint8Array>): Conn {
  return {
    readable,
    get writable() {
      return conn.writable;
    },
    close: () => conn.close(),
    reset: () => conn.reset(),
    get closed() {
      return conn.closed;
    },
    get localAddr() {
      return conn.localAddr;
    },
    get remoteAddr() {
      return conn.remoteAddr;
    },
    peerUid: () => conn.peerUid(),
  };
}
