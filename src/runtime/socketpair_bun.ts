/**
 * `socketpair(2)` and `close(2)` through `bun:ffi`, for the daemon's link to
 * its agent (see `BunRuntime.spawnLinked`). Linux only; loaded once.
 *
 * @module
 */

import { openBunLibc } from "./libc_bun.ts";

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
  loading ??= openBunLibc({
    socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
  }).then((libc) =>
    libc && {
      socketpair() {
        const fds = new Int32Array(2);
        if (libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) !== 0) {
          throw new Error("socketpair(2) failed");
        }
        return [fds[0], fds[1]];
      },
      close(fd) {
        libc.close(fd);
      },
    }
  );
  return loading;
}
