/**
 * The file-system side of listening on a Unix socket, shared by both
 * runtimes: clearing a stale socket file, binding under a tight umask, and
 * removing only our own socket file afterwards.
 *
 * @module
 */

import { chmod, lstat, unlink } from "node:fs/promises";
import process from "node:process";
import { AddressInUseError } from "../errors.ts";
import { errnoCode } from "./errno.ts";

/** Mode of every socket file we create. */
export const SOCKET_FILE_MODE = 0o600;

/**
 * Make `path` free for binding. A stale socket (nothing accepts on it) is
 * removed; a live one, or any non-socket file, is left alone and reported.
 *
 * `isAlive` connects to the path and resolves true if something accepted,
 * false if the connection was refused.
 *
 * Two processes racing through here can still both see "stale"; the loser
 * then fails to bind with EADDRINUSE, which {@linkcode bindError} turns into
 * the same error class.
 *
 * @throws {AddressInUseError} when something listens there or the file is not a socket.
 */
export async function clearStaleSocket(
  path: string,
  isAlive: (path: string) => Promise<boolean>,
): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw error;
  }
  if (!info.isSocket()) {
    throw new AddressInUseError(`${path} exists and is not a socket; refusing to replace it`);
  }
  let alive: boolean;
  try {
    alive = await isAlive(path);
  } catch (error) {
    // Removed between the lstat and the probe (e.g. a reload's old listener closing): free.
    if (errnoCode(error) === "ENOENT") return;
    throw new AddressInUseError(`${path} exists and could not be probed`, { cause: error });
  }
  if (alive) throw new AddressInUseError(`another process is listening on ${path}`);
  await unlinkIfPresent(path);
}

/**
 * Run the synchronous `bind` with the process umask set to 0177, so the socket
 * file never exists with looser permissions than 0600. Follow it with
 * {@linkcode secureSocketFile}, which chmods anyway (umask cannot be set on
 * every platform, e.g. Windows).
 *
 * The umask is process-wide, so other threads creating files during this
 * synchronous window get *tighter* modes, never looser ones; it is restored
 * before any other JavaScript runs.
 */
export function withSocketUmask<T>(bind: () => T): T {
  let previous: number | undefined;
  try {
    previous = process.umask(0o177);
  } catch {
    // Not supported here; secureSocketFile still applies the mode.
  }
  try {
    return bind();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

/** chmod the freshly bound socket file to 0600 and return its inode (see {@linkcode removeOwnSocket}). */
export async function secureSocketFile(path: string): Promise<number> {
  if (process.platform !== "win32") await chmod(path, SOCKET_FILE_MODE);
  return (await lstat(path)).ino;
}

/** Turn a bind failure with EADDRINUSE into {@linkcode AddressInUseError}; other errors pass through. */
export function bindError(path: string, error: unknown): unknown {
  if (errnoCode(error) !== "EADDRINUSE") return error;
  return new AddressInUseError(`another process is listening on ${path}`, { cause: error });
}

/** Remove the socket file at `path` if it is still the one with inode `ino`. */
export async function removeOwnSocket(path: string, ino: number): Promise<void> {
  try {
    if ((await lstat(path)).ino !== ino) return;
  } catch {
    return;
  }
  await unlinkIfPresent(path);
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
}
