/**
 * Dialling a socket of libassuan's socket emulation, which gpg4win's
 * gpg-agent uses on Windows instead of AF_UNIX: the "socket" is a file that
 * holds the ASCII decimal port of a listener on 127.0.0.1, a `\n`, and 16
 * random nonce bytes. A client connects to that port and first writes the
 * nonce; a wrong nonce gets the connection closed without a word.
 *
 * The file is read again for every connection: gpg-agent writes a new port
 * and nonce each time it starts, and the next connection must just work.
 *
 * @module
 */
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { readFileHead } from "../runtime/mod.ts";
import type { Conn } from "../runtime/types.ts";
import { errorCodeOf, resetCodeFor } from "./to_dial_error.ts";

/** Bytes of the nonce that follows the port line. */
export const ASSUAN_NONCE_BYTES = 16;

/** More than a valid file holds (5 digits, `\n`, 16 bytes), so a longer file shows as one. */
const READ_LIMIT = 64;

/** Where gpg-agent is started on Windows, for the reasons below. */
const LAUNCH_HINT = "run `gpgconf --launch gpg-agent` on Windows";

/** A parsed socket file: where to connect and what to send first. */
export interface AssuanSocketFile {
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** The 16 bytes to write before anything else. */
  readonly nonce: Uint8Array;
}

/** Why a socket file did not parse, for the reset reason. */
export type AssuanParseProblem = "empty" | "cygwin" | "malformed";

/**
 * Parse the contents of a socket file as libassuan does
 * (`read_port_and_nonce` in `assuan-socket.c`): a port from 1 to 65535 in
 * decimal, one `\n`, then exactly 16 bytes. The Cygwin form
 * (`!<socket >PORT s XXXXXXXX-…`, gpg-agent's ssh socket) is told apart,
 * since it needs a different handshake.
 */
export function parseAssuanSocketFile(
  bytes: Uint8Array,
): { ok: true; value: AssuanSocketFile } | { ok: false; problem: AssuanParseProblem } {
  if (bytes.length === 0) return { ok: false, problem: "empty" };
  const head = String.fromCharCode(...bytes.subarray(0, 10));
  if (head === "!<socket >") return { ok: false, problem: "cygwin" };
  const newline = bytes.indexOf(0x0a);
  if (newline < 1 || newline > 5 || bytes.length - newline - 1 !== ASSUAN_NONCE_BYTES) {
    return { ok: false, problem: "malformed" };
  }
  const digits = String.fromCharCode(...bytes.subarray(0, newline));
  if (!/^[0-9]+$/.test(digits)) return { ok: false, problem: "malformed" };
  const port = Number(digits);
  if (port < 1 || port > 65535) return { ok: false, problem: "malformed" };
  return { ok: true, value: { port, nonce: bytes.slice(newline + 1) } };
}

/**
 * Read the socket file at `path`, connect to its port through `connectTcp`
 * (which applies the caller's timeout and cancellation), and write the
 * nonce. The returned connection is ready for Assuan.
 *
 * @throws {DialError} NOT_FOUND (no file: gpg-agent is not running),
 * CONNECTION_REFUSED (nothing listens on the port: a stale file),
 * BAD_TARGET (not a socket file), PERMISSION_DENIED, TIMEOUT or CANCEL.
 */
export async function dialAssuan(
  path: string,
  connectTcp: (host: string, port: number) => Promise<Conn>,
): Promise<Conn> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileHead(path, READ_LIMIT);
  } catch (error) {
    throw readError(path, error);
  }
  const parsed = parseAssuanSocketFile(bytes);
  if (!parsed.ok) throw parseError(path, parsed.problem, bytes.length);
  const { port, nonce } = parsed.value;
  let conn: Conn;
  try {
    conn = await connectTcp("127.0.0.1", port);
  } catch (error) {
    if (error instanceof DialError && error.resetCode === ResetCode.CONNECTION_REFUSED) {
      throw new DialError(
        ResetCode.CONNECTION_REFUSED,
        `gpg-agent is not running on Windows (${path} names port ${port}, where nothing listens): ${LAUNCH_HINT}`,
        { cause: error },
      );
    }
    if (error instanceof DialError && error.resetCode !== ResetCode.CANCEL) {
      throw new DialError(error.resetCode, `${error.message} (gpg-agent socket ${path})`, {
        cause: error,
      });
    }
    throw error;
  }
  const writer = conn.writable.getWriter();
  try {
    await writer.write(nonce);
  } catch (error) {
    conn.close();
    throw new DialError(
      ResetCode.CONNECTION_REFUSED,
      `gpg-agent at 127.0.0.1:${port} (${path}) closed the connection before the nonce was sent: ${LAUNCH_HINT}`,
      { cause: error },
    );
  } finally {
    writer.releaseLock();
  }
  return conn;
}

function readError(path: string, error: unknown): DialError {
  const code = errorCodeOf(error);
  const reset = resetCodeFor(code);
  if (reset === ResetCode.NOT_FOUND) {
    return new DialError(
      ResetCode.NOT_FOUND,
      `gpg-agent is not running on Windows (no socket file ${path}): ${LAUNCH_HINT}`,
      { cause: error },
    );
  }
  if (reset === ResetCode.PERMISSION_DENIED) {
    return new DialError(reset, `permission denied reading gpg-agent's socket file ${path}`, {
      cause: error,
    });
  }
  if (code === "EISDIR") {
    return new DialError(
      ResetCode.BAD_TARGET,
      `${path} is a directory, not gpg-agent's socket file`,
      {
        cause: error,
      },
    );
  }
  // Reading a file is never "refused": an unexpected code is INTERNAL.
  return new DialError(
    ResetCode.INTERNAL,
    `cannot read gpg-agent's socket file ${path}: ${code ?? String(error)}`,
    { cause: error },
  );
}

function parseError(path: string, problem: AssuanParseProblem, length: number): DialError {
  switch (problem) {
    case "empty":
      // libassuan treats an empty file as a missing one: gpg-agent is not (yet) there.
      return new DialError(
        ResetCode.NOT_FOUND,
        `gpg-agent is not running on Windows (its socket file ${path} is empty): ${LAUNCH_HINT}`,
      );
    case "cygwin":
      return new DialError(
        ResetCode.BAD_TARGET,
        `${path} is a Cygwin-style socket (gpg-agent's ssh socket), which wsl2proxy does not speak: ` +
          "for ssh through gpg-agent, set enable-win32-openssh-support in gpg-agent.conf " +
          "and use pipe://./pipe/openssh-ssh-agent",
      );
    default:
      return new DialError(
        ResetCode.BAD_TARGET,
        `${path} is not a gpg-agent socket file (expected a port, a newline and ${ASSUAN_NONCE_BYTES} ` +
          `nonce bytes; got ${length}${length >= READ_LIMIT ? " or more" : ""} bytes): ` +
          "restart gpg-agent on Windows with `gpgconf --kill gpg-agent` and `gpgconf --launch gpg-agent`",
      );
  }
}
