/**
 * Whether the peer of a Unix stream socket has closed entirely, not just
 * half-closed: Linux then sets both shutdown bits on our socket, and `poll`
 * reports POLLHUP (`unix_poll` in `net/unix/af_unix.c`); a mere
 * `shutdown(SHUT_WR)` sets only POLLRDHUP. A client that half-closed and then
 * vanished is seen this way even while we have nothing to write to it (a
 * named pipe that has not answered yet). TCP shows no such difference.
 *
 * @module
 */

import { LIBC_NAMES } from "./peer_cred.ts";

/** `poll(fds, nfds, timeout)` as bound by an FFI. */
export type Poll = (fds: Uint8Array<ArrayBuffer>, nfds: number, timeoutMs: number) => number;

const POLLIN = 0x001;
const POLLHUP = 0x010;

/** True when `fd`'s peer has closed both directions (POLLHUP), without waiting. */
export function peerHungUp(poll: Poll, fd: number): boolean {
  // struct pollfd { int fd; short events; short revents; }, native (little) endian.
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  if (poll(pollfd, 1, 0) < 1) return false;
  return (view.getInt16(6, true) & POLLHUP) !== 0;
}

let denoPoll: Poll | null | undefined;

/** `poll` through `Deno.dlopen` (Linux), or null. */
export function loadDenoPoll(): Poll | null {
  if (denoPoll !== undefined) return denoPoll;
  denoPoll = null;
  if (Deno.build.os !== "linux") return null;
  for (const name of LIBC_NAMES) {
    try {
      const lib = Deno.dlopen(
        name,
        {
          poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
        } as const,
      );
      denoPoll = (fds, nfds, timeout) => lib.symbols.poll(fds, BigInt(nfds), timeout);
      break;
    } catch {
      // Try the next name; no FFI permission also lands here.
    }
  }
  return denoPoll;
}
