/**
 * SO_PEERCRED: the uid of the process on the other end of a Unix socket,
 * read with `getsockopt(2)` through each runtime's FFI. Linux only.
 *
 * The Deno loader lives here; the Bun one is in `peer_cred_bun.ts` because
 * `bun:ffi` cannot even be named in a file Deno type-checks.
 *
 * @module
 */

/** `SOL_SOCKET` on Linux (asm-generic: x86_64 and aarch64). */
export const SOL_SOCKET = 1;
/** `SO_PEERCRED` on Linux (asm-generic: x86_64 and aarch64). */
export const SO_PEERCRED = 17;
/** `sizeof(struct ucred)`: pid i32, uid u32, gid u32. */
export const UCRED_SIZE = 12;

/** `getsockopt(fd, level, optname, optval, optlen)` as bound by an FFI. */
export type GetSockOpt = (
  fd: number,
  level: number,
  optname: number,
  optval: Uint8Array<ArrayBuffer>,
  optlen: Uint8Array<ArrayBuffer>,
) => number;

/** The libc shared objects to try, glibc first, then musl. */
export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

/**
 * Read the peer uid of the Unix socket `fd`, or `undefined` if the call fails
 * (not a Unix socket, fd already closed, ...).
 */
export function readPeerUid(getsockopt: GetSockOpt, fd: number): number | undefined {
  const ucred = new Uint8Array(UCRED_SIZE);
  const optlen = new Uint8Array(4);
  // socklen_t is a native-endian u32; every Linux target we ship is little-endian.
  new DataView(optlen.buffer).setUint32(0, UCRED_SIZE, true);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, optlen) !== 0) return undefined;
  if (new DataView(optlen.buffer).getUint32(0, true) < UCRED_SIZE) return undefined;
  return new DataView(ucred.buffer).getUint32(4, true);
}

/** The credentials SO_PEERCRED reports: for a connecting client, those of the process that called listen(). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** Read the full `struct ucred` of the Unix socket `fd`, or `undefined` if the call fails. */
export function readPeerCred(getsockopt: GetSockOpt, fd: number): PeerCred | undefined {
  const ucred = new Uint8Array(UCRED_SIZE);
  const optlen = new Uint8Array(4);
  new DataView(optlen.buffer).setUint32(0, UCRED_SIZE, true);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, optlen) !== 0) return undefined;
  if (new DataView(optlen.buffer).getUint32(0, true) < UCRED_SIZE) return undefined;
  const v = new DataView(ucred.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}

let denoGetSockOpt: GetSockOpt | null | undefined;

/**
 * `getsockopt` through `Deno.dlopen`, loaded on first use; `null` when not on
 * Linux, without FFI permission, or when no libc could be opened.
 */
export function loadDenoGetSockOpt(): GetSockOpt | null {
  if (denoGetSockOpt !== undefined) return denoGetSockOpt;
  denoGetSockOpt = null;
  if (Deno.build.os !== "linux") return null;
  for (const name of LIBC_NAMES) {
    try {
      const lib = Deno.dlopen(
        name,
        {
          getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
        } as const,
      );
      denoGetSockOpt = (fd, level, optname, optval, optlen) =>
        lib.symbols.getsockopt(fd, level, optname, optval, optlen);
      break;
    } catch {
      // Try the next name; no FFI permission also lands here.
    }
  }
  return denoGetSockOpt;
}
