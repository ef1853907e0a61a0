/**
 * Loading `getsockopt` through `bun:ffi`. The specifier is imported
 * dynamically from a variable because Deno cannot resolve the `bun:` scheme
 * and would refuse to type-check this file otherwise.
 *
 * @module
 */

import process from "node:process";
import type { BunFfi } from "./bun_types.d.ts";
import { type GetSockOpt, LIBC_NAMES } from "./peer_cred.ts";

const BUN_FFI = "bun:ffi";
let loading: Promise<GetSockOpt | null> | undefined;

/**
 * `getsockopt` through `bun:ffi`, loaded once; `null` when not on Linux or
 * when no libc could be opened.
 */
export function loadBunGetSockOpt(): Promise<GetSockOpt | null> {
  loading ??= load();
  return loading;
}

async function load(): Promise<GetSockOpt | null> {
  if (process.platform !== "linux") return null;
  const ffi = (await import(BUN_FFI)) as BunFfi;
  for (const name of LIBC_NAMES) {
    try {
      const lib = ffi.dlopen(name, {
        getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
      });
      // bun:ffi passes a TypedArray given for a `ptr` argument as its address.
      return (fd, level, optname, optval, optlen) =>
        lib.symbols.getsockopt(fd, level, optname, optval, optlen);
    } catch {
      // Try the next name.
    }
  }
  return null;
}
