/**
 * Linux libc's socket calls shaped like the ws2_32 ones, so tests can drive
 * `ffiSocketConn` (the Windows AF_UNIX transport under Deno) here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type FfiSocketApi, ffiSocketConn } from "./ffi_socket_conn.ts";
import type { Conn } from "./types.ts";
import { utf8 } from "./_test_util.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
const MSG_NOSIGNAL = 0x4000;

function openLibc() {
  return Deno.dlopen(
    "libc.so.6",
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize", nonblocking: true },
      send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize", nonblocking: true },
      shutdown: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );
}

let libc: ReturnType<typeof openLibc> | undefined;

/** The libc calls, shaped like the ws2_32 ones; Linux's shutdown already wakes blocked calls. */
export function libcApi(): FfiSocketApi {
  libc ??= openLibc();
  const s = libc.symbols;
  return {
    recv: async (fd, buffer) =>
      Number(await s.recv(Number(fd), buffer, BigInt(buffer.byteLength), 0)),
    send: async (fd, data) =>
      Number(await s.send(Number(fd), data, BigInt(data.byteLength), MSG_NOSIGNAL)),
    shutdownWrite: (fd) => {
      if (s.shutdown(Number(fd), SHUT_WR) !== 0) throw new Error("shutdown failed");
    },
    shutdownBoth: (fd) => void s.shutdown(Number(fd), SHUT_RDWR),
    cancelBlocked: () => {},
    close: (fd) => void s.close(Number(fd)),
  };
}

/** Connect with libc (sockaddr_un: u16 family + 108-byte path) and return the fd. */
export function connectLibcFd(path: string): bigint {
  libcApi();
  const s = libc!.symbols;
  const fd = s.socket(AF_UNIX, SOCK_STREAM, 0);
  assert.ok(fd >= 0, "socket()");
  const address = new Uint8Array(110);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(utf8.encode(path), 2);
  if (s.connect(fd, address, address.byteLength) !== 0) {
    s.close(fd);
    throw new Error(`connect to ${path} failed`);
  }
  return BigInt(fd);
}

export function connectLibc(path: string): Conn {
  return ffiSocketConn(libcApi(), connectLibcFd(path), path);
}
