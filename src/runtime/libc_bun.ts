/**
 * Opening libc through `bun:ffi`, for the few calls Bun has no API for
 * (`getsockopt` for SO_PEERCRED, `socketpair`). The specifier is imported
 * dynamically from a variable because Deno cannot resolve the `bun:` scheme
 * and would refuse to type-check this file otherwise.
 *
 * @module
 */

import process from "node:process";
import type { BunFfi } from "./bun_types.d.ts";
import { LIBC_NAMES } from "./peer_cred.ts";

const BUN_FFI = "bun:ffi";

/** An FFI signature per symbol, in `bun:ffi`'s form. */
export type BunFfiSymbols = Record<string, { args: string[]; returns: string }>;

/**
 * The `symbols` of libc (glibc, then musl), or `null` when not on Linux or
 * when no libc could be opened. A TypedArray given for a `ptr` argument is
 * passed as its address.
 */
export async function openBunLibc<S extends BunFfiSymbols>(
  symbols: S,
): Promise<{ [K in keyof S]: (...args: unknown[]) => number } | null> {
  if (process.platform !== "linux") return null;
  let ffi: BunFfi;
  try {
    ffi = (await import(BUN_FFI)) as BunFfi;
  } catch {
    return null; // a Bun without FFI: callers fall back (no peer check, pipes for the agent)
  }
  for (const name of LIBC_NAMES) {
    try {
      return ffi.dlopen(name, symbols).symbols;
    } catch {
      // Try the next name.
    }
  }
  return null;
}
