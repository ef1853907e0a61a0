/**
 * `socketpair(2)` and `close(2)` through `bun:ffi`, for the daemon's link to
 * its agent (see `BunRuntime.spawnLinked`). Linux only; loaded once.
 *
 * @module
 */

import process from "node:process";
import type { BunFfi } from "./bun_types.d.ts";
import { LIBC_NAMES } from "./peer_cred.ts";

const BUN_FFI = "bun:ffi";
const AF_UNIX = 1;
const SOCK_STREAM = 1;
/** `SOCK_CLOEXEC` on Linux (x86_64 and aarch64): no other child inherits either end. */
const SOCK_CLOEXEC = 0o2000000;

/** Make a connected pair of Unix stream sockets, and close a descriptor. */
export interface SocketPairFns {
  /** Two connected descriptors, both close-on-exec. @throws Error when the call fails */
  socketpair(): [number, number];
  close(fd: number): void;
}

let loading: Promise<SocketPairFns | null> | undefined;

/** The functions, or `null` when not on Linux or when no libc could be opened. */
export function loadBunSocketPair(): Promise<SocketPairFns | null> {
  loading ??= load();
  return loading;
}

async function load(): Promise<SocketPairFns | null> {
  if (process.platform !== "linux") return null;
  const ffi = (await import(BUN_FFI)) as BunFfi;
  for (const name of LIBC_NAMES) {
    try {
      const lib = ffi.dlopen(name, {
        socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
        close: { args: ["i32"], returns: "i32" },
      });
      return {
        socketpair() {
          const fds = new Int32Array(2);
          // bun:ffi passes a TypedArray given for a `ptr` argument as its address.
          const rc = lib.symbols.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
          if (rc !== 0) throw new Error("socketpair(2) failed");
          return [fds[0], fds[1]];
        },
        close(fd) {
          lib.symbols.close(fd);
        },
      };
    } catch {
      // Try the next name.
    }
  }
  return null;
}
