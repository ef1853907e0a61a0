/**
 * The runtime directory holds the sockets, the control socket, the lock and
 * the log. Nothing in it is trusted until the directory is proven ours, on
 * every path that uses it (start, stop, status, env, the daemon itself):
 *
 * - the directory: owned by us, mode 0700 (no group/other bits), not a
 *   symlink; checked with fstat on a descriptor opened O_DIRECTORY|O_NOFOLLOW,
 *   so what is checked is what was opened;
 * - every ancestor: owned by root or by us, and not writable by group or
 *   others unless it has the sticky bit (as OpenSSH's `secure_filename`).
 *   A symlinked ancestor is followed and its real path checked the same way.
 *
 * With safe ancestors nobody else can rename, replace or swap anything on
 * the path, so the later path-based opens cannot be raced (a
 * renameat2(RENAME_EXCHANGE) needs write access to the parent, or in a
 * sticky parent, ownership of both entries).
 *
 * @module
 */
import { RuntimeDirError } from "../errors.ts";
import {
  type FileInfo,
  lstatSync,
  mkdir,
  realpathSync,
  statDirNoFollow,
  userName,
} from "../runtime/mod.ts";

import { dirname } from "node:path";

/** Names of the files the daemon keeps in the runtime directory. */
export const RuntimeFiles = {
  control: "control.sock",
  pid: "daemon.pid",
  lock: "start.lock",
} as const;

/**
 * Create `dir` (mode 0700) if missing, then check it is safe.
 * @throws {RuntimeDirError} naming the problem and the fix.
 */
export async function ensureRuntimeDir(dir: string, uid: number): Promise<void> {
  throwIfUnsafeAncestor(dir, uid);
  let info = statDirNoFollow(dir);
  if (!info) {
    const parent = dirname(dir);
    if (!exists(parent)) await mkdir(parent, { mode: 0o700, recursive: true });
    await mkdir(dir, { mode: 0o700 });
    info = statDirNoFollow(dir);
    if (!info) throw new RuntimeDirError(`could not create the runtime directory ${dir}`);
  }
  throwIfUnsafeDir(dir, info, uid);
}

/**
 * Check an existing runtime dir without creating anything: `false` when it
 * does not exist (so no daemon can be running there), `true` when it is safe.
 * @throws {RuntimeDirError} when it exists but is not proven ours.
 */
export function verifyRuntimeDir(dir: string, uid: number): boolean {
  throwIfUnsafeAncestor(dir, uid);
  const info = statDirNoFollow(dir);
  if (!info) return false;
  throwIfUnsafeDir(dir, info, uid);
  return true;
}

/**
 * Why `$XDG_RUNTIME_DIR` (the parent of the default runtime dir) is unsafe
 * for us, or `null` when it is fine or does not exist. WSLg sets it to
 * /mnt/wslg/runtime-dir, which is often 0777 and owned by uid 1000.
 */
export function xdgRuntimeDirProblem(xdg: string, uid: number): string | null {
  let info: FileInfo;
  try {
    info = lstatSync(xdg);
  } catch {
    return null; // missing: it will be created, ours
  }
  try {
    throwIfUnsafeAncestor(xdg, uid);
    if (info.isSymlink) return unsafeAncestor(realpathSync(xdg), uid, true);
    return ancestorProblem(xdg, info, uid);
  } catch (e) {
    if (e instanceof RuntimeDirError) return e.message;
    return `cannot check it: ${(e as Error).message}`;
  }
}

function throwIfUnsafeDir(dir: string, info: FileInfo, uid: number): void {
  if (info.isSymlink) {
    throw new RuntimeDirError(
      `the runtime directory ${dir} is a symbolic link; refusing to use it (someone else may control where it points). ` +
        `Remove it, or set runtime_dir to a directory you own.`,
    );
  }
  if (!info.isDirectory) {
    throw new RuntimeDirError(`the runtime directory ${dir} exists but is not a directory`);
  }
  if (uid >= 0 && info.uid !== uid) {
    throw new RuntimeDirError(
      `the runtime directory ${dir} is owned by ${
        owner(info.uid)
      }, not by you (uid ${uid}); refusing to use it, ` +
        `since its owner could take over your sockets. Set runtime_dir to a directory you own ` +
        `(e.g. runtime_dir: ~/.wsl2proxy), or have ${dir} removed.`,
    );
  }
  if ((info.mode & 0o077) !== 0) {
    throw new RuntimeDirError(
      `the runtime directory ${dir} has mode 0${
        (info.mode & 0o777).toString(8)
      }, which lets other users in; ` +
        `it must be 0700. Run: chmod 700 ${dir}`,
    );
  }
}

function throwIfUnsafeAncestor(dir: string, uid: number): void {
  const problem = unsafeAncestor(dirname(dir), uid, false);
  if (problem) {
    throw new RuntimeDirError(
      `the runtime directory ${dir} is not safe: ${problem}. Another user could replace it. ` +
        `Set runtime_dir to a directory under one only you and root can write (e.g. runtime_dir: ~/.wsl2proxy).`,
    );
  }
}

/**
 * The first unsafe directory on the way from `/` to `path` (inclusive), or
 * `null`. Missing directories end the walk: they will be created by us.
 * `real` marks a path already resolved by realpath (no symlink left in it).
 */
function unsafeAncestor(path: string, uid: number, real: boolean): string | null {
  const parts = path.split("/").filter((p) => p !== "");
  let prefix = "";
  for (let i = -1; i < parts.length; i++) {
    prefix = i < 0 ? "/" : `${prefix === "/" ? "" : prefix}/${parts[i]}`;
    let info: FileInfo;
    try {
      info = lstatSync(prefix);
    } catch {
      return null;
    }
    if (info.isSymlink && !real) {
      // The link sits in a directory already found safe; where it points must be safe too.
      let target: string;
      try {
        target = realpathSync(prefix);
      } catch {
        return null; // dangling: mkdir will fail on it, loudly
      }
      const bad = unsafeAncestor(target, uid, true);
      if (bad) return bad;
      continue;
    }
    const bad = ancestorProblem(prefix, info, uid);
    if (bad) return bad;
  }
  return null;
}

function ancestorProblem(path: string, info: FileInfo, uid: number): string | null {
  if (info.uid !== 0 && info.uid !== uid) return `${path} is owned by ${owner(info.uid)}`;
  if ((info.mode & 0o022) !== 0 && (info.mode & 0o1000) === 0) {
    return `${path} is writable by other users (mode 0${
      (info.mode & 0o7777).toString(8)
    }) and has no sticky bit`;
  }
  return null;
}

function owner(uid: number): string {
  const name = userName(uid);
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
