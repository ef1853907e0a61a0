/**
 * The open-file limit (RLIMIT_NOFILE), raised from its soft to its hard
 * value so the daemon has room, through each runtime's FFI (neither has an
 * API for it). Linux only.
 *
 * @module
 */

import { readdirSync } from "node:fs";
import type { FdLimit } from "./types.ts";

/** `RLIMIT_NOFILE` on Linux (x86_64 and aarch64). */
const RLIMIT_NOFILE = 7;

/** `getrlimit`/`setrlimit` as bound by an FFI: `struct rlimit` is two u64 (soft, hard). */
export interface RlimitCalls {
  getrlimit(resource: number, rlim: Uint8Array<ArrayBuffer>): number;
  setrlimit(resource: number, rlim: Uint8Array<ArrayBuffer>): number;
}

/** Raise the soft limit to the hard one; the limit now in force and the files open, or undefined. */
export function raiseFdLimitWith(calls: RlimitCalls): FdLimit | undefined {
  const rlim = new Uint8Array(16);
  const view = new DataView(rlim.buffer);
  if (calls.getrlimit(RLIMIT_NOFILE, rlim) !== 0) return undefined;
  const soft = view.getBigUint64(0, true);
  const hard = view.getBigUint64(8, true);
  if (soft < hard) {
    view.setBigUint64(0, hard, true);
    if (calls.setrlimit(RLIMIT_NOFILE, rlim) !== 0) view.setBigUint64(0, soft, true);
  }
  const now = view.getBigUint64(0, true);
  // RLIM_INFINITY, or a value past what a number holds: plenty.
  const limit = now > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(now);
  let open = 0;
  try {
    open = readdirSync("/proc/self/fd").length;
  } catch {
    // No /proc: count nothing as open; the reserve still applies.
  }
  return { limit, open };
}

/** Raise the limit through `Deno.dlopen` (Linux); undefined without FFI. */
export function raiseDenoFdLimit(libcNames: readonly string[]): FdLimit | undefined {
  if (Deno.build.os !== "linux") return undefined;
  for (const name of libcNames) {
    let lib;
    try {
      lib = Deno.dlopen(
        name,
        {
          getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
          setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
        } as const,
      );
    } catch {
      continue; // the next name; no FFI permission also lands here
    }
    try {
      return raiseFdLimitWith(lib.symbols);
    } finally {
      lib.close();
    }
  }
  return undefined;
}
