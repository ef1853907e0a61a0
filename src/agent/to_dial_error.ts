/**
 * Turning a failed connect into a {@linkcode DialError}: the OS error code
 * picks the wire reset code, and the reason names the target in words a user
 * can act on (it is the RST reason the daemon logs). Branches on error codes
 * only, never on message text.
 *
 * @module
 */
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";

/** What was being dialled, for reason texts. */
export interface DialTarget {
  /** The transport. */
  readonly kind: "pipe" | "unix" | "tcp" | "pageant" | "assuan" | "gpg";
  /** How the target reads in a reason: the pipe or socket path, or `host:port`. */
  readonly display: string;
}

/** errno names (and the Windows names some runtimes report) → reset code. */
const BY_CODE: Readonly<Record<string, ResetCode>> = {
  ENOENT: ResetCode.NOT_FOUND,
  ENOTDIR: ResetCode.NOT_FOUND,
  ENOTFOUND: ResetCode.NOT_FOUND, // DNS: no such host
  EAI_NONAME: ResetCode.NOT_FOUND,
  ERROR_FILE_NOT_FOUND: ResetCode.NOT_FOUND,
  ERROR_PATH_NOT_FOUND: ResetCode.NOT_FOUND,
  ECONNREFUSED: ResetCode.CONNECTION_REFUSED,
  ECONNRESET: ResetCode.CONNECTION_REFUSED,
  ECONNABORTED: ResetCode.CONNECTION_REFUSED,
  ENOTSOCK: ResetCode.CONNECTION_REFUSED,
  EAGAIN: ResetCode.CONNECTION_REFUSED, // a Unix socket's listen queue is full
  EWOULDBLOCK: ResetCode.CONNECTION_REFUSED,
  EHOSTUNREACH: ResetCode.CONNECTION_REFUSED,
  ENETUNREACH: ResetCode.CONNECTION_REFUSED,
  ENETDOWN: ResetCode.CONNECTION_REFUSED,
  EACCES: ResetCode.PERMISSION_DENIED,
  EPERM: ResetCode.PERMISSION_DENIED,
  ERROR_ACCESS_DENIED: ResetCode.PERMISSION_DENIED,
  ETIMEDOUT: ResetCode.TIMEOUT,
  ERROR_SEM_TIMEOUT: ResetCode.TIMEOUT,
  EBUSY: ResetCode.TIMEOUT, // every pipe instance stayed busy
  ERROR_PIPE_BUSY: ResetCode.TIMEOUT,
  EAFNOSUPPORT: ResetCode.BAD_TARGET,
  EPROTONOSUPPORT: ResetCode.BAD_TARGET,
  ESOCKTNOSUPPORT: ResetCode.BAD_TARGET,
  ENAMETOOLONG: ResetCode.BAD_TARGET,
  EINVAL: ResetCode.BAD_TARGET,
  EADDRNOTAVAIL: ResetCode.BAD_TARGET,
};

/**
 * Raw Windows numbers, for errors that carry only a number: Win32 codes,
 * WSA codes, and libuv's negative Windows codes. Linux errno values never
 * get here, because node-style errors on Linux always carry a name too.
 */
const WINDOWS_NUMBERS: Readonly<Record<number, string>> = {
  2: "ENOENT", // ERROR_FILE_NOT_FOUND
  3: "ENOENT", // ERROR_PATH_NOT_FOUND
  5: "EACCES", // ERROR_ACCESS_DENIED
  121: "ETIMEDOUT", // ERROR_SEM_TIMEOUT
  231: "EBUSY", // ERROR_PIPE_BUSY
  10013: "EACCES",
  10022: "EINVAL",
  10047: "EAFNOSUPPORT",
  10050: "ENETDOWN",
  10051: "ENETUNREACH",
  10054: "ECONNRESET",
  10060: "ETIMEDOUT",
  10061: "ECONNREFUSED",
  10063: "ENAMETOOLONG",
  10065: "EHOSTUNREACH",
  [-4058]: "ENOENT",
  [-4078]: "ECONNREFUSED",
  [-4092]: "EACCES",
  [-4048]: "EPERM",
  [-4039]: "ETIMEDOUT",
  [-4082]: "EBUSY",
};

/**
 * The errno-style name of `error` (`"ENOENT"`), looking at a string `code`
 * first, then a Windows number in `errno` or `code`, then at `cause`.
 */
export function errorCodeOf(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 3) return undefined;
  const { code, errno, cause } = error as { code?: unknown; errno?: unknown; cause?: unknown };
  if (typeof code === "string" && code !== "") return code;
  for (const n of [errno, code]) {
    if (typeof n === "number" && WINDOWS_NUMBERS[n]) return WINDOWS_NUMBERS[n];
  }
  return errorCodeOf(cause, depth + 1);
}

/** The reset code for an errno-style name, INTERNAL when unknown. */
export function resetCodeFor(code: string | undefined): ResetCode {
  return (code !== undefined && Object.hasOwn(BY_CODE, code)) ? BY_CODE[code] : ResetCode.INTERNAL;
}

/** `error` as a {@linkcode DialError} whose reason names `target`; DialErrors pass through. */
export function toDialError(target: DialTarget, error: unknown): DialError {
  if (error instanceof DialError) return error;
  const code = errorCodeOf(error);
  const reset = resetCodeFor(code);
  return new DialError(reset, reasonFor(reset, target, code, error), { cause: error });
}

/** The human reason for a failed dial of `target`. */
export function reasonFor(
  reset: ResetCode,
  target: DialTarget,
  code?: string,
  error?: unknown,
): string {
  const t = target.display;
  switch (reset) {
    case ResetCode.NOT_FOUND:
      return `${
        {
          pipe: "pipe",
          unix: "socket",
          tcp: "host",
          pageant: "Pageant",
          assuan: "socket file",
          gpg: "socket",
        }[target.kind]
      } not found: ${t}`;
    case ResetCode.CONNECTION_REFUSED:
      return code === "EAGAIN" || code === "EWOULDBLOCK"
        ? `connection refused: ${t} (its listen queue is full)`
        : code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ENETDOWN"
        ? `no route to ${t}`
        : `connection refused: ${t}`;
    case ResetCode.PERMISSION_DENIED:
      return `permission denied: ${t}`;
    case ResetCode.TIMEOUT:
      return code === "EBUSY" || code === "ERROR_PIPE_BUSY"
        ? `all pipe instances are busy: ${t}`
        : `timed out connecting to ${t}`;
    case ResetCode.BAD_TARGET:
      return code === "EAFNOSUPPORT" || code === "EPROTONOSUPPORT" || code === "ESOCKTNOSUPPORT"
        ? `${
          target.kind === "unix" ? "AF_UNIX sockets are" : "this address family is"
        } not supported here: ${t}`
        : `cannot connect to ${t}: invalid address (${code})`;
    default:
      return `cannot connect to ${t}: ${code ?? describe(error)}`;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
