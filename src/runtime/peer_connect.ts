/**
 * Connecting to a Unix socket and learning who listens there (SO_PEERCRED on
 * our end of the connection: the uid and pid of the process that called
 * listen()). The control client needs this to trust a daemon before
 * believing a word it says, and to know which pid `stop` may signal.
 *
 * The Conn wrappers do not expose their fd, so each runtime connects here in
 * the way that yields one: Bun's `Bun.connect` socket has `fd`; in Deno only
 * `node:net` has a real fd (`Deno.connect` keeps it internal).
 *
 * @module
 */

import type { BunGlobal, BunSocket } from "./bun_types.d.ts";
import type { PeerCred } from "./peer_cred.ts";
import type { Conn, Runtime } from "./types.ts";

export type { PeerCred } from "./peer_cred.ts";

/** A connection plus the listener's credentials (`undefined` when the runtime cannot read them). */
export interface PeerConn {
  conn: Conn;
  peer: PeerCred | undefined;
}

/** Connect to the Unix socket `path` and read its listener's credentials. */
export async function connectUnixWithPeer(runtime: Runtime, path: string): Promise<PeerConn> {
  if (runtime.name === "bun") return await connectBun(path);
  return await connectDeno(path);
}

async function connectBun(path: string): Promise<PeerConn> {
  const [{ bunConnect }, { loadBunGetSockOpt }, { readPeerCred }] = await Promise.all([
    import("./bun_conn.ts"),
    import("./peer_cred_bun.ts"),
    import("./peer_cred.ts"),
  ]);
  const getsockopt = await loadBunGetSockOpt();
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  let peer: PeerCred | undefined;
  const conn = await bunConnect(bun, { unix: path }, (socket: BunSocket<unknown>) => {
    peer = getsockopt ? readPeerCred(getsockopt, socket.fd) : undefined;
    return { localAddr: "(unnamed)", remoteAddr: path };
  });
  return { conn, peer };
}

async function connectDeno(path: string): Promise<PeerConn> {
  const [{ default: net }, { nodeSocketConn }, { loadDenoGetSockOpt, readPeerCred }] = await Promise
    .all([import("node:net"), import("./node_conn.ts"), import("./peer_cred.ts")]);
  const socket = await new Promise<import("node:net").Socket>((resolve, reject) => {
    const s = net.connect({ path, allowHalfOpen: true });
    s.once("error", reject);
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
  });
  const getsockopt = loadDenoGetSockOpt();
  // `_handle.fd` is node-internal; Deno's node:net fills it with the real descriptor.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const peer = getsockopt && typeof fd === "number" && fd >= 0
    ? readPeerCred(getsockopt, fd)
    : undefined;
  return { conn: nodeSocketConn(socket, { localAddr: "(unnamed)", remoteAddr: path }), peer };
}
