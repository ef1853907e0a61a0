/**
 * The few file-system calls the rest of wsl2proxy needs, over
 * `node:fs/promises`, which behaves the same in Deno and in Bun.
 *
 * @module
 */

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname } from "node:path";
import { UnsafeFileError } from "../errors.ts";
import { errnoCode } from "./errno.ts";

/** What {@linkcode lstat} reports about a path (the link itself, not its target). */
export interface FileInfo {
  /** Owner uid. */
  uid: number;
  /** Permission bits only (`mode & 0o7777`). */
  mode: number;
  /** True for a symbolic link. */
  isSymlink: boolean;
  /** True for a directory. */
  isDirectory: boolean;
  /** True for a Unix-domain socket. */
  isSocket: boolean;
  /** True for a regular file. */
  isFile: boolean;
  /** Inode number: tells a file from another one later created at the same path. */
  ino: number;
  /** Last modification, in ms since the epoch. */
  mtimeMs: number;
}

/** Read a whole file as UTF-8 text. */
export function readTextFile(path: string): Promise<string> {
  return fsp.readFile(path, "utf8");
}

/** Read a whole file as bytes (a plain view of them, not a node `Buffer`). */
export async function readFile(path: string): Promise<Uint8Array> {
  const bytes = await fsp.readFile(path);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Read at most `maxBytes` from the start of a file (a small file such as
 * gpg-agent's port-and-nonce file, which is read on every connection).
 */
export async function readFileHead(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await fsp.open(path, "r");
  try {
    const buffer = new Uint8Array(maxBytes);
    let length = 0;
    while (length < maxBytes) {
      const { bytesRead } = await handle.read(buffer, length, maxBytes - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** The names in a directory (not `.` and `..`). */
export function readDirNames(path: string): Promise<string[]> {
  return fsp.readdir(path);
}

/** Where a symbolic link points (e.g. `socket:[1234]` for a `/proc/PID/fd` entry). */
export function readLink(path: string): Promise<string> {
  return fsp.readlink(path);
}

/** `stat(2)`, following symlinks: the size in bytes of a regular file, or `null` when it is none. */
export async function fileSize(path: string): Promise<number | null> {
  const info = await fsp.stat(path);
  return info.isFile() ? info.size : null;
}

/** Options for {@linkcode writeFile}. */
export interface WriteFileOptions {
  /** Permission bits for a newly created file. @default {0o600} */
  mode?: number;
}

/**
 * Write `data` to `path`, creating it with `mode` (default 0600). An existing
 * file is also chmod'ed to `mode`, since `open(2)` ignores the mode then.
 */
export async function writeFile(
  path: string,
  data: string | Uint8Array,
  options: WriteFileOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  await fsp.writeFile(path, data, { mode });
  await fsp.chmod(path, mode);
}

/** Options for {@linkcode mkdir}. */
export interface MkdirOptions {
  /** Permission bits for created directories. @default {0o700} */
  mode?: number;
  /** Create missing parents too. @default {false} */
  recursive?: boolean;
}

/** Create a directory (default mode 0700); an existing directory is not an error. */
export async function mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
  try {
    await fsp.mkdir(path, { mode: options.mode ?? 0o700, recursive: options.recursive ?? false });
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
  }
}

/** `lstat(2)`: facts about `path` itself, without following a symlink. */
export async function lstat(path: string): Promise<FileInfo> {
  return toFileInfo(await fsp.lstat(path));
}

function toFileInfo(info: fs.Stats): FileInfo {
  return {
    uid: info.uid,
    mode: info.mode & 0o7777,
    isSymlink: info.isSymbolicLink(),
    isDirectory: info.isDirectory(),
    isSocket: info.isSocket(),
    isFile: info.isFile(),
    ino: Number(info.ino),
    mtimeMs: Number(info.mtimeMs),
  };
}

/** Change permission bits. */
export function chmod(path: string, mode: number): Promise<void> {
  return fsp.chmod(path, mode);
}

/** Remove a file; a missing file is not an error. */
export async function unlink(path: string): Promise<void> {
  try {
    await fsp.unlink(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
}

/** Atomically rename `from` to `to` (same file system). */
export function rename(from: string, to: string): Promise<void> {
  return fsp.rename(from, to);
}

/** Whether anything (even a dangling symlink) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
    throw error;
  }
}

/** What {@linkcode openOwnFile} opened. */
export interface OwnFile {
  /** The open file descriptor (close-on-exec: both runtimes open with O_CLOEXEC). */
  fd: number;
  /** True when this call created the file. */
  created: boolean;
}

/** How {@linkcode openOwnFile} opens: appending, truncating for a rewrite, or read-write as is. */
export type OwnFileMode = "append" | "truncate" | "keep";

/**
 * Open (creating with mode 0600) the regular file `path`, owned by `uid`,
 * without following a symlink in its last component (O_NOFOLLOW), then
 * check the opened file itself (fstat on the fd, so nothing can be swapped
 * in between). A file that existed and lets group or others in is tightened
 * to 0600 through the fd, but only when it has a single link: a hard link
 * may be a file of ours we never meant to touch. Devices, FIFOs, directories
 * and other users' files are refused and never chmodded.
 * @throws {UnsafeFileError} for a symlink, a non-regular file or another owner.
 */
export function openOwnFile(path: string, mode: OwnFileMode, uid: number): OwnFile {
  const c = fs.constants;
  const access = mode === "append" ? c.O_WRONLY | c.O_APPEND : c.O_RDWR;
  // O_NONBLOCK only so that opening a FIFO cannot hang; it means nothing for a regular file.
  const base = access | c.O_NOFOLLOW | c.O_NONBLOCK;
  let fd: number;
  let created = false;
  try {
    fd = fs.openSync(path, base | c.O_CREAT | c.O_EXCL, 0o600);
    created = true;
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw unsafeOpen(path, error);
    try {
      fd = fs.openSync(path, base);
    } catch (again) {
      throw unsafeOpen(path, again);
    }
  }
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile()) throw notRegular(path, info);
    if (uid >= 0 && info.uid !== uid) {
      throw new UnsafeFileError(
        `${path} is owned by uid ${info.uid}, not by you (uid ${uid}); refusing to write to it. ` +
          `Remove it, or point the setting elsewhere.`,
      );
    }
    if (!created && (info.mode & 0o077) !== 0 && info.nlink === 1) fs.fchmodSync(fd, 0o600);
    if (mode === "truncate") fs.ftruncateSync(fd, 0);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return { fd, created };
}

function unsafeOpen(path: string, error: unknown): unknown {
  const code = errnoCode(error);
  if (code === "ELOOP") {
    return new UnsafeFileError(
      `${path} is a symbolic link; refusing to follow it (someone else may control where it points). ` +
        `Remove it, or point the setting at a regular file.`,
    );
  }
  // A directory cannot be opened for writing; a FIFO without a reader fails a non-blocking open.
  if (code === "EISDIR" || code === "ENXIO") {
    try {
      return notRegular(path, fs.lstatSync(path));
    } catch { /* gone meanwhile: report the open's own error */ }
  }
  return error;
}

function notRegular(path: string, info: fs.Stats): UnsafeFileError {
  return new UnsafeFileError(
    `${path} is not a regular file (${kindOf(info)}); refusing to use it. ` +
      `Point the setting at a file of yours, or remove what is there.`,
  );
}

function kindOf(info: fs.Stats): string {
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  if (info.isDirectory()) return "a directory";
  return "not a file";
}

/**
 * Write `data` to the file of ours at `path`, replacing what it held; opened
 * as {@linkcode openOwnFile} does (no symlink, regular, ours, 0600).
 */
export function writeOwnFile(path: string, data: string, uid: number): void {
  const { fd } = openOwnFile(path, "truncate", uid);
  try {
    fs.writeSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Open `path` for appending, as {@linkcode openOwnFile} does (created 0600,
 * no symlink, a regular file of ours), and return a line writer plus a close
 * function. Writes are synchronous so a crash loses no line that was logged
 * before it.
 */
export function openAppendLines(
  path: string,
  uid: number,
): { write: (line: string) => void; close: () => void } {
  const { fd } = openOwnFile(path, "append", uid);
  let open = true;
  return {
    write(line: string) {
      if (open) fs.writeSync(fd, line + "\n");
    },
    close() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/**
 * Open the directory `path` without following a symlink (O_DIRECTORY |
 * O_NOFOLLOW) and describe the opened directory itself (fstat on the fd).
 * `null` when nothing is there; a symlink or non-directory is reported as
 * such, never followed.
 */
export function statDirNoFollow(path: string): FileInfo | null {
  const c = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(path, c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return null;
    // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP): say what is there.
    if (code === "ENOTDIR" || code === "ELOOP") return lstatSync(path);
    throw error;
  }
  try {
    return toFileInfo(fs.fstatSync(fd));
  } finally {
    fs.closeSync(fd);
  }
}

/** `lstat(2)`, synchronously. */
export function lstatSync(path: string): FileInfo {
  return toFileInfo(fs.lstatSync(path));
}

/** `realpath(3)`, synchronously: `path` with every symlink resolved. */
export function realpathSync(path: string): string {
  return fs.realpathSync(path);
}

/**
 * Create `path` exclusively (O_CREAT|O_EXCL, mode 0600) holding `data`.
 * Returns false if it already exists; the basis of the start lock.
 */
export async function createExclusive(path: string, data: string): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, "wx", 0o600);
  } catch (e) {
    if (errnoCode(e) === "EEXIST") return false;
    throw e;
  }
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Watch a file for changes; returns a function that stops watching. Never
 * throws. `onChange` may run several times for one change.
 *
 * The file's directory is watched too (for the file's name): an editor or
 * `sed -i` that renames a new file over `path` replaces the inode, and a watch
 * on the file alone stays on the old inode and misses every later change. The
 * file watch, re-armed after such a replacement, still follows a symlinked
 * `path` to its target, whose in-place edits the directory watch cannot see.
 */
export function watchFile(path: string, onChange: () => void): () => void {
  const name = basename(path);
  let stopped = false;
  let file: fs.FSWatcher | null = null;
  const armFile = () => {
    file?.close();
    file = stopped ? null : tryWatch(path, (event) => {
      if (event === "rename") armFile();
      onChange();
    });
  };
  const dir = tryWatch(dirname(path), (_event, filename) => {
    if (filename !== name) return;
    armFile();
    onChange();
  });
  armFile();
  return () => {
    stopped = true;
    dir?.close();
    file?.close();
    file = null;
  };
}

function tryWatch(
  path: string,
  listener: (event: string, filename: string | null) => void,
): fs.FSWatcher | null {
  try {
    const w = fs.watch(path, { persistent: false, encoding: "utf8" }, listener);
    w.on("error", () => {});
    return w;
  } catch {
    return null;
  }
}
