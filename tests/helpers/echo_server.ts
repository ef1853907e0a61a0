/**
 * A Unix-socket echo server made with the runtime layer: echoes everything
 * and half-closes after the client's FIN. Used as a bridge target.
 *
 * @module
 */
import { getRuntime } from "../../src/runtime/mod.ts";
import type { Conn } from "../../src/runtime/mod.ts";

/** A running echo server. */
export interface EchoServer {
  path: string;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** Listen on `path` and echo. */
export async function startEchoServer(path: string): Promise<EchoServer> {
  const listener = await getRuntime().listenUnix(path);
  const conns = new Set<Conn>();
  let accepted = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      conn.readable.pipeTo(conn.writable).catch(() => {}).finally(() => {
        conn.close();
        conns.delete(conn);
      });
    }
  })().catch(() => {});
  return {
    path,
    accepted: () => accepted,
    async close() {
      await listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}
