/**
 * The runtime seam: sockets, processes and the file system, behind one small
 * interface that Deno and Bun each implement.
 *
 * @module
 */

export { getRuntime } from "./get_runtime.ts";
export type {
  ChildProcess,
  Conn,
  ExitStatus,
  FdLimit,
  Listener,
  Runtime,
  SpawnOptions,
} from "./types.ts";
export {
  chmod,
  createExclusive,
  exists,
  type FileInfo,
  fileSize,
  lstat,
  lstatSync,
  mkdir,
  type MkdirOptions,
  openAppendLines,
  openOwnFile,
  type OwnFile,
  type OwnFileMode,
  readDirNames,
  readFile,
  readFileHead,
  readLink,
  readTextFile,
  realpathSync,
  rename,
  statDirNoFollow,
  unlink,
  watchFile,
  writeFile,
  type WriteFileOptions,
  writeOwnFile,
} from "./fs.ts";
export {
  readFileChunks,
  writeFileFromStream,
  type WriteFileFromStreamOptions,
} from "./file_stream.ts";
export { connectUnixWithPeer, type PeerConn, type PeerCred } from "./peer_connect.ts";
export { type FileLock, fileLockAvailable, tryLockFile } from "./file_lock.ts";
export { userName } from "./user_name.ts";
export { processStartTime, processUid } from "./signal_pid.ts";
