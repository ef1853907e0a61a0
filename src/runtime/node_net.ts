/**
 * Listening and connecting through `node:net`, shared by both runtimes:
 * Windows named pipes (no native API in either runtime) and Unix listeners
 * where the accepted socket's fd is needed for SO_PEERCRED.
 *
 * @module
 */

import net from "node:net";
import type { SetCloseOnExec } from "./close_on_exec.ts";
import { errnoCode } from "./errno.ts";
import { nodeServerListener, nodeSocketConn } from "./node_conn.ts";
import { type GetSockOpt, readPeerUid } from "./peer_cred.ts";
import { peerHungUp, type Poll } from "./peer_hangup.ts";
import type { Conn, Listener } from "./types.ts";
import {
  bindError,
  clearStaleSocket,
  removeOwnSocket,
  secureSocketFile,
  withSocketUmask,
} from "./unix_socket_file.ts";

/** Label used for the unnamed end of a Unix or pipe connection. */
const UNNAMED = "(unnamed)";

/**
 * Connect to a Unix socket or, with `kind: "pipe"`, a Windows named pipe at
 * `path`. A pipe has no half-close: its writable's `close()` sends nothing.
 */
export function connectNodePath(path: string, kind: "unix" | "pipe" = "unix"): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path, allowHalfOpen: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(
        nodeSocketConn(socket, {
          localAddr: UNNAMED,
          remoteAddr: path,
          halfClose: kind === "unix",
        }),
      );
    });
  });
}

/** Listen on a Windows named pipe. */
export async function listenNodePipe(path: string): Promise<Listener> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await listening(server, () => server.listen(path));
  return nodeServerListener(server, {
    addr: path,
    wrap: (socket) => nodeSocketConn(socket, { localAddr: path, remoteAddr: UNNAMED }),
  });
}

/**
 * Listen on a Unix socket file with mode 0600, replacing a stale socket file.
 * When `getsockopt` is given, each accepted connection's peer uid is read
 * from its fd (`socket._handle.fd`, which both Deno's and Bun's node:net fill).
 * When `setCloseOnExec` is given, the listener's fd gets FD_CLOEXEC, for a
 * runtime that binds without it (see `close_on_exec.ts`).
 */
export async function listenNodeUnix(
  path: string,
  getsockopt: GetSockOpt | null,
  setCloseOnExec: SetCloseOnExec | null = null,
  poll: Poll | null = null,
): Promise<Listener> {
  await clearStaleSocket(path, isUnixSocketAlive);
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  try {
    // node's listen() binds synchronously for a path, so the umask applies to bind(2),
    // and the fd exists before any other JavaScript (a spawn) can run.
    await listening(server, () => {
      withSocketUmask(() => server.listen(path));
      const fd = handleFd(server);
      if (setCloseOnExec && fd !== undefined) setCloseOnExec(fd);
    });
  } catch (error) {
    throw bindError(path, error);
  }
  let ino: number;
  try {
    ino = await secureSocketFile(path);
  } catch (error) {
    server.close();
    throw error;
  }
  return nodeServerListener(server, {
    addr: path,
    wrap: (socket) => {
      const fd = handleFd(socket);
      return nodeSocketConn(socket, {
        localAddr: path,
        remoteAddr: UNNAMED,
        peerUid: getsockopt && fd !== undefined ? readPeerUid(getsockopt, fd) : undefined,
        hungUp: poll && fd !== undefined ? () => peerHungUp(poll, fd) : undefined,
      });
    },
    afterClose: () => removeOwnSocket(path, ino),
  });
}

/** Run `start` and wait for the server's `listening` (or its first error). */
function listening(server: net.Server, start: () => void): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    start();
  });
}

/** The fd of a node:net socket or server; `_handle` is node-internal, and both runtimes fill it. */
function handleFd(handleOwner: net.Socket | net.Server): number | undefined {
  const fd = (handleOwner as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** True if something accepts on the Unix socket `path`, false if refused. */
export function isUnixSocketAlive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error) => {
      socket.destroy();
      if (errnoCode(error) === "ECONNREFUSED") resolve(false);
      else reject(error);
    });
  });
}
