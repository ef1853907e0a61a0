/**
 * The runtime directory holds the sockets, the control socket, the lock and
 * the log. It must be ours alone: created 0700, and refused if it already
 * exists with another owner, as a symlink, or readable/writable by others,
 * so another local user cannot plant it in a shared /tmp and take over.
 *
 * @module
 */
import { RuntimeDirError } from "../errors.ts";
import { type FileInfo, lstat, mkdir } from "../runtime/mod.ts";
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
  let info = await lstatOrNull(dir);
  if (!info) {
    const parent = dirname(dir);
    if (!(await lstatOrNull(parent))) await mkdir(parent, { mode: 0o700, recursive: true });
    await mkdir(dir, { mode: 0o700 });
    info = await lstatOrNull(dir);
    if (!info) throw new RuntimeDirError(`could not create the runtime directory ${dir}`);
  }
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
      `the runtime directory ${dir} is owned by uid ${info.uid}, not by you (uid ${uid}); refusing to use it, ` +
        `since its owner could take over your sockets. Set runtime_dir to a directory you own.`,
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

async function lstatOrNull(path: string): Promise<FileInfo | null> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}
