/**
 * An exclusive `flock(2)` on a file of ours, through each runtime's FFI
 * (neither runtime offers flock on a node:fs descriptor). The kernel drops
 * the lock when its holder exits or dies, so a lock can never be left
 * behind: a stale file, empty or naming any pid, blocks nobody. Linux only.
 *
 * The holder removes the file when it lets go, so nothing stays behind in
 * the runtime dir. Whoever locks must therefore check that the path still
 * names the inode it locked: another process may have opened the file just
 * before it was removed, and its lock on that orphan would exclude no one.
 *
 * @module
 */

import * as fs from "node:fs";
import { LIBC_NAMES } from "./peer_cred.ts";
import { openOwnFile } from "./fs.ts";
import type { Runtime } from "./types.ts";

/** `flock(2)` operations (the same on every Linux architecture). */
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type Flock = (fd: number, operation: number) => number;

/** A held lock. */
export interface FileLock {
  /** Remove the file, drop the lock and close it (idempotent). */
  release(): void;
}

let denoFlock: Flock | null | undefined;
let bunFlock: Promise<Flock | null> | undefined;

/** Whether `flock` could be loaded here (no FFI permission, or not Linux: false). */
export async function fileLockAvailable(runtime: Runtime): Promise<boolean> {
  return (await loadFlock(runtime)) !== null;
}

/**
 * Try once to take an exclusive lock on `path` (created 0600 if missing,
 * opened as {@linkcode openOwnFile} does). Returns the lock, or `null` when
 * another process holds it.
 * @throws {UnsafeFileError} when `path` is not a regular file of `uid`.
 * @throws {Error} when flock is unavailable (check {@linkcode fileLockAvailable}).
 */
export async function tryLockFile(
  runtime: Runtime,
  path: string,
  uid: number,
): Promise<FileLock | null> {
  const flock = await loadFlock(runtime);
  if (!flock) throw new Error("flock(2) is not available in this runtime");
  const { fd } = openOwnFile(path, "keep", uid);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0 || !stillAt(path, fd)) {
    fs.closeSync(fd);
    return null;
  }
  try {
    // For people looking at the file; nothing reads it back.
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${runtime.pid}\n`, 0);
  } catch { /* a full disk must not stop start: the lock is held regardless */ }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      // Remove while still locked, so no one can lock this inode and believe it current.
      try {
        fs.unlinkSync(path);
      } catch { /* already gone: nothing to clean */ }
      flock(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}

/** Whether `path` still names the file open as `fd` (it was not removed or replaced meanwhile). */
function stillAt(path: string, fd: number): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.lstatSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

function loadFlock(runtime: Runtime): Promise<Flock | null> {
  if (runtime.name === "bun") {
    bunFlock ??= import("./libc_bun.ts").then(({ openBunLibc }) =>
      openBunLibc({ flock: { args: ["i32", "i32"], returns: "i32" } })
    ).then((libc) => libc && ((fd: number, op: number) => libc.flock(fd, op)));
    return bunFlock;
  }
  return Promise.resolve(loadDenoFlock());
}

function loadDenoFlock(): Flock | null {
  if (denoFlock !== undefined) return denoFlock;
  denoFlock = null;
  if (Deno.build.os !== "linux") return null;
  for (const name of LIBC_NAMES) {
    try {
      const lib = Deno.dlopen(
        name,
        { flock: { parameters: ["i32", "i32"], result: "i32" } } as const,
      );
      denoFlock = (fd, op) => lib.symbols.flock(fd, op);
      break;
    } catch {
      // Try the next name; no FFI permission also lands here.
    }
  }
  return denoFlock;
}
