/**
 * FD_CLOEXEC through each runtime's FFI, for the one socket a runtime creates
 * without it: Deno 2.9's `node:net` binds a Unix *listener* without
 * SOCK_CLOEXEC (its accepted and connected sockets have it, and so does every
 * socket Bun makes). Without the flag every child spawned afterwards inherits
 * the listener: the agent held the daemon's control.sock and each socket it
 * serves, and could accept on them. Linux only.
 *
 * @module
 */
import { LIBC_NAMES } from "./peer_cred.ts";

/** `fcntl(2)` commands and flag, the same on every Linux architecture. */
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Sets FD_CLOEXEC on `fd`; false if fcntl failed. */
export type SetCloseOnExec = (fd: number) => boolean;

let denoSetCloseOnExec: SetCloseOnExec | null | undefined;

/**
 * {@linkcode SetCloseOnExec} through `Deno.dlopen`, loaded on first use;
 * `null` when not on Linux, without FFI permission, or when no libc opened.
 */
export function loadDenoSetCloseOnExec(): SetCloseOnExec | null {
  if (denoSetCloseOnExec !== undefined) return denoSetCloseOnExec;
  denoSetCloseOnExec = null;
  if (Deno.build.os !== "linux") return null;
  for (const name of LIBC_NAMES) {
    try {
      // fcntl is variadic; its third argument is an int here, which the fixed
      // signature passes in the same register on x86_64 and aarch64 Linux.
      const lib = Deno.dlopen(
        name,
        { fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" } } as const,
      );
      denoSetCloseOnExec = (fd) => {
        const flags = lib.symbols.fcntl(fd, F_GETFD, 0);
        return flags >= 0 && lib.symbols.fcntl(fd, F_SETFD, flags | FD_CLOEXEC) === 0;
      };
      break;
    } catch {
      // Try the next name; no FFI permission also lands here.
    }
  }
  return denoSetCloseOnExec;
}
