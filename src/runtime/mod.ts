/**
 * The runtime seam: sockets, processes and the file system, behind one small
 * interface that Deno and Bun each implement.
 *
 * @module
 */

export { getRuntime } from "./get_runtime.ts";
export type { ChildProcess, Conn, ExitStatus, Listener, Runtime, SpawnOptions } from "./types.ts";
export {
  chmod,
  createExclusive,
  exists,
  type FileInfo,
  lstat,
  mkdir,
  type MkdirOptions,
  openAppendLines,
  readTextFile,
  rename,
  unlink,
  watchFile,
  writeFile,
  type WriteFileOptions,
} from "./fs.ts";
