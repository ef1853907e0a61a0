/**
 * Outgoing AF_UNIX connections on Windows for Deno, through FFI to
 * `ws2_32.dll`. Deno has no Windows AF_UNIX transport (`Deno.connect` with
 * `transport: "unix"` is compiled for Unix only); Bun needs none of this,
 * because `Bun.connect({ unix })` opens an AF_UNIX socket on Windows itself
 * for any path that is not a `\\.\pipe\` name.
 *
 * - `socket(AF_UNIX, SOCK_STREAM, 0)` and a *blocking* `connect()` run on
 *   the main thread. An AF_UNIX connect is local and answers at once (a
 *   missing or dead socket file fails immediately), and only on the calling
 *   thread does `WSAGetLastError()` still hold the reason, so the code that
 *   decides NOT_FOUND versus CONNECTION_REFUSED is exact.
 * - Reading and writing are blocking `recv()`/`send()` on Deno's blocking
 *   thread pool, wrapped by {@linkcode ffiSocketConn}: an open connection
 *   parks one pool thread in `recv` (Deno's pool has hundreds; the agent
 *   dials a handful of AF_UNIX targets). `WSAGetLastError()` is per thread,
 *   so why such a call failed cannot be read back; the stream just fails.
 * - Blocked calls are cancelled with `CancelIoEx` (a SOCKET is a kernel
 *   HANDLE) before the handle is closed.
 *
 * This cannot run on Linux or under Wine (Wine 8 has no AF_UNIX): it is
 * exercised by `src/agent/dial_windows.test.ts` on the windows-latest CI
 * job. The connection logic itself is tested on Linux over libc
 * (`ffi_socket_conn.test.ts`).
 *
 * @module
 */

import { SystemCallError } from "../errors.ts";
import { type FfiSocketApi, ffiSocketConn } from "./ffi_socket_conn.ts";
import type { Conn } from "./types.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SD_SEND = 1;
const SD_BOTH = 2;
/** `sizeof(SOCKADDR_UN)`: `ADDRESS_FAMILY sun_family` (u16) + `char sun_path[108]`. */
const SOCKADDR_UN_SIZE = 2 + 108;
/** Longest path: `sun_path` holds 108 bytes including the NUL. */
const MAX_PATH_BYTES = 107;
/** `INVALID_SOCKET` is `~0` as a 64-bit `UINT_PTR`. */
const INVALID_SOCKET = 0xffff_ffff_ffff_ffffn;

const WS2_SYMBOLS = {
  WSAStartup: { parameters: ["u16", "buffer"], result: "i32" },
  WSAGetLastError: { parameters: [], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "usize" },
  connect: { parameters: ["usize", "buffer", "i32"], result: "i32" },
  recv: { parameters: ["usize", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  send: { parameters: ["usize", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  shutdown: { parameters: ["usize", "i32"], result: "i32" },
  closesocket: { parameters: ["usize"], result: "i32" },
} as const;

const KERNEL32_SYMBOLS = {
  // A SOCKET is a kernel HANDLE, so file I/O cancellation applies to it.
  CancelIoEx: { parameters: ["usize", "pointer"], result: "i32" },
} as const;

interface WinSock {
  ws2: Deno.DynamicLibrary<typeof WS2_SYMBOLS>["symbols"];
  kernel32: Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>["symbols"];
}

/** WSA error numbers → the errno names node reports, so callers can branch on `code`. */
const WSA_CODES: Readonly<Record<number, string>> = {
  10004: "EINTR",
  10013: "EACCES",
  10022: "EINVAL",
  10024: "EMFILE",
  10035: "EAGAIN",
  10038: "ENOTSOCK",
  10043: "EPROTONOSUPPORT",
  10044: "ESOCKTNOSUPPORT",
  10047: "EAFNOSUPPORT",
  10048: "EADDRINUSE",
  10049: "EADDRNOTAVAIL",
  10050: "ENETDOWN",
  10051: "ENETUNREACH",
  10053: "ECONNABORTED",
  10054: "ECONNRESET",
  10055: "ENOBUFS",
  10058: "ESHUTDOWN",
  10060: "ETIMEDOUT",
  10061: "ECONNREFUSED",
  10063: "ENAMETOOLONG",
  10065: "EHOSTUNREACH",
  10093: "WSANOTINITIALISED",
};

let loaded: WinSock | undefined;

/** Open ws2_32 and kernel32 once and initialise Winsock 2.2. */
function winsock(): WinSock {
  if (loaded) return loaded;
  const ws2 = Deno.dlopen("ws2_32.dll", WS2_SYMBOLS).symbols;
  const kernel32 = Deno.dlopen("kernel32.dll", KERNEL32_SYMBOLS).symbols;
  // WSADATA is 408 bytes on 64-bit Windows; it is only written, never read.
  const rc = ws2.WSAStartup(0x0202, new Uint8Array(512));
  if (rc !== 0) throw wsaError(rc, "WSAStartup", "Winsock");
  loaded = { ws2, kernel32 };
  return loaded;
}

function wsaError(errno: number, syscall: string, path: string): SystemCallError {
  const code = WSA_CODES[errno] ?? `WSA${errno}`;
  return new SystemCallError(
    code,
    errno,
    syscall,
    `${syscall} ${code} ${path} (WSA error ${errno})`,
  );
}

/** `SOCKADDR_UN` for `path` (UTF-8, NUL-padded). */
function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  if (bytes.byteLength > MAX_PATH_BYTES) {
    throw new SystemCallError(
      "ENAMETOOLONG",
      10063,
      "connect",
      `connect ENAMETOOLONG ${path} (${bytes.byteLength} bytes; AF_UNIX allows ${MAX_PATH_BYTES})`,
    );
  }
  const address = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(bytes, 2);
  return address;
}

/**
 * Connect to the Windows AF_UNIX socket at `path` (e.g. `C:\Users\me\app.sock`).
 *
 * @throws {SystemCallError} with `code` such as `ECONNREFUSED`, `ENOENT`-like
 * codes as Windows reports them, `EACCES`, or `EAFNOSUPPORT` where Windows
 * has no AF_UNIX (before Windows 10 1803, or Wine).
 */
export function connectWinAfUnix(path: string): Promise<Conn> {
  try {
    const lib = winsock();
    const address = sockaddrUn(path);
    const socket = BigInt(lib.ws2.socket(AF_UNIX, SOCK_STREAM, 0));
    if (socket === INVALID_SOCKET) throw wsaError(lib.ws2.WSAGetLastError(), "socket", path);
    if (lib.ws2.connect(socket, address, address.byteLength) !== 0) {
      const error = wsaError(lib.ws2.WSAGetLastError(), "connect", path); // read before closesocket resets it
      lib.ws2.closesocket(socket);
      throw error;
    }
    return Promise.resolve(ffiSocketConn(socketApi(lib), socket, path));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The ws2_32 calls as {@linkcode ffiSocketConn} wants them. */
function socketApi(lib: WinSock): FfiSocketApi {
  const { ws2, kernel32 } = lib;
  return {
    recv: (socket, buffer) => ws2.recv(socket, buffer, buffer.byteLength, 0),
    send: (socket, data) => ws2.send(socket, data, data.byteLength, 0),
    shutdownWrite: (socket) => {
      if (ws2.shutdown(socket, SD_SEND) !== 0) {
        throw wsaError(ws2.WSAGetLastError(), "shutdown", "AF_UNIX socket");
      }
    },
    shutdownBoth: (socket) => void ws2.shutdown(socket, SD_BOTH),
    cancelBlocked: (socket) => void kernel32.CancelIoEx(socket, null),
    close: (socket) => void ws2.closesocket(socket),
  };
}
