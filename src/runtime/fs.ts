/**
 * The few file-system calls the rest of wsl2proxy needs, over
 * `node:fs/promises`, which behaves the same in Deno and in Bun.
 *
 * @module
 */

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname } from "node:path";
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
}

/** Read a whole file as UTF-8 text. */
export function readTextFile(path: string): Promise<string> {
  return fsp.readFile(path, "utf8");
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
  const info = await fsp.lstat(path);
  return {
    uid: info.uid,
    mode: info.mode & 0o7777,
    isSymlink: info.isSymbolicLink(),
    isDirectory: info.isDirectory(),
    isSocket: info.isSocket(),
    isFile: info.isFile(),
    ino: Number(info.ino),
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

/**
 * Open `path` for appending (created 0600, and chmod'ed to 0600 if it existed)
 * and return a line writer plus a close function. Writes are synchronous so a
 * crash loses no line that was logged before it.
 */
export function openAppendLines(
  path: string,
): { write: (line: string) => void; close: () => void } {
  const fd = fs.openSync(path, "a", 0o600);
  fs.fchmodSync(fd, 0o600);
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
