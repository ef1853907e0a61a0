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
import { cygwinHandshake } from "./cygwin_handshake.ts";
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
  /**
   * The Cygwin form (gpg-agent's `S.gpg-agent.ssh`): after the nonce comes
   * Cygwin's credential exchange (see `cygwin_handshake.ts`).
   */
  readonly cygwin: boolean;
}

/** Why a socket file did not parse, for the reset reason. */
export type AssuanParseProblem = "empty" | "malformed";

const CYGWIN_MAGIC = "!<socket >";
/** `!<socket >PORT s XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX` (then a NUL), as libassuan's bind writes it. */
const CYGWIN_FORM =
  /^([0-9]{1,5}) s ([0-9a-fA-F]{8})-([0-9a-fA-F]{8})-([0-9a-fA-F]{8})-([0-9a-fA-F]{8})\0?$/;

/**
 * Parse the contents of a socket file as libassuan does
 * (`read_port_and_nonce` in `assuan-socket.c`): a port from 1 to 65535 in
 * decimal, one `\n`, then exactly 16 bytes; or the Cygwin form
 * (`!<socket >PORT s XXXXXXXX-…`, gpg-agent's ssh socket), whose nonce is
 * the memory of four 32-bit integers printed in hex (little-endian on
 * Windows).
 */
export function parseAssuanSocketFile(
  bytes: Uint8Array,
): { ok: true; value: AssuanSocketFile } | { ok: false; problem: AssuanParseProblem } {
  if (bytes.length === 0) return { ok: false, problem: "empty" };
  const head = String.fromCharCode(...bytes.subarray(0, CYGWIN_MAGIC.length));
  if (head === CYGWIN_MAGIC) return parseCygwin(bytes.subarray(CYGWIN_MAGIC.length));
  const newline = bytes.indexOf(0x0a);
  if (newline < 1 || newline > 5 || bytes.length - newline - 1 !== ASSUAN_NONCE_BYTES) {
    return { ok: false, problem: "malformed" };
  }
  const digits = String.fromCharCode(...bytes.subarray(0, newline));
  if (!/^[0-9]+$/.test(digits)) return { ok: false, problem: "malformed" };
  const port = Number(digits);
  if (port < 1 || port > 65535) return { ok: false, problem: "malformed" };
  return { ok: true, value: { port, nonce: bytes.slice(newline + 1), cygwin: false } };
}

function parseCygwin(
  rest: Uint8Array,
): { ok: true; value: AssuanSocketFile } | { ok: false; problem: AssuanParseProblem } {
  const m = CYGWIN_FORM.exec(String.fromCharCode(...rest));
  if (!m) return { ok: false, problem: "malformed" };
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return { ok: false, problem: "malformed" };
  const nonce = new Uint8Array(ASSUAN_NONCE_BYTES);
  const view = new DataView(nonce.buffer);
  for (let i = 0; i < 4; i++) view.setUint32(i * 4, parseInt(m[i + 2], 16), true);
  return { ok: true, value: { port, nonce, cygwin: true } };
}

/** Options for {@linkcode dialAssuan}. */
export interface DialAssuanOptions {
  /** Our pid, which the Cygwin handshake sends. */
  pid: number;
  /** How long the Cygwin handshake may take, in ms. */
  handshakeTimeoutMs: number;
}

/**
 * Read the socket file at `path`, connect to its port through `connectTcp`
 * (which applies the caller's timeout and cancellation), and write the
 * nonce (and for the Cygwin form, exchange credentials). The returned
 * connection is ready for Assuan (or, on the ssh socket, the ssh-agent
 * protocol).
 *
 * @throws {DialError} NOT_FOUND (no file: gpg-agent is not running),
 * CONNECTION_REFUSED (nothing listens on the port: a stale file),
 * BAD_TARGET (not a socket file), PERMISSION_DENIED, TIMEOUT or CANCEL.
 */
export async function dialAssuan(
  path: string,
  connectTcp: (host: string, port: number) => Promise<Conn>,
  options: DialAssuanOptions,
): Promise<Conn> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileHead(path, READ_LIMIT);
  } catch (error) {
    throw readError(path, error);
  }
  const parsed = parseAssuanSocketFile(bytes);
  if (!parsed.ok) throw parseError(path, parsed.problem, bytes.length);
  const { port, nonce, cygwin } = parsed.value;
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
  if (!cygwin) return conn;
  return await cygwinHandshake(conn, options.pid, options.handshakeTimeoutMs, path);
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
    default:
      return new DialError(
        ResetCode.BAD_TARGET,
        `${path} is not a gpg-agent socket file (expected a port, a newline and ${ASSUAN_NONCE_BYTES} ` +
          `nonce bytes; got ${length}${length >= READ_LIMIT ? " or more" : ""} bytes): ` +
          "restart gpg-agent on Windows with `gpgconf --kill gpg-agent` and `gpgconf --launch gpg-agent`",
      );
  }
}
