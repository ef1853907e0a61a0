/**
 * Loading `getsockopt` through `bun:ffi` (see libc_bun.ts).
 *
 * @module
 */

import { openBunLibc } from "./libc_bun.ts";
import type { GetSockOpt } from "./peer_cred.ts";
import type { Poll } from "./peer_hangup.ts";

let loading: Promise<GetSockOpt | null> | undefined;

/**
 * `getsockopt` through `bun:ffi`, loaded once; `null` when not on Linux or
 * when no libc could be opened.
 */
export function loadBunGetSockOpt(): Promise<GetSockOpt | null> {
  loading ??= openBunLibc({
    getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  }).then((libc) =>
    libc &&
    ((fd, level, optname, optval, optlen) => libc.getsockopt(fd, level, optname, optval, optlen))
  );
  return loading;
}

let loadingPoll: Promise<Poll | null> | undefined;

/** `poll` through `bun:ffi` (Linux), or null: for {@linkcode peerHungUp}. */
export function loadBunPoll(): Promise<Poll | null> {
  loadingPoll ??= openBunLibc({ poll: { args: ["ptr", "u64", "i32"], returns: "i32" } }).then(
    (libc) => libc && ((fds, nfds, timeout) => libc.poll(fds, nfds, timeout)),
  );
  return loadingPoll;
}
