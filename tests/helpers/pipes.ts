/**
 * Byte-pipe pairs for running every mux scenario twice: over an in-memory
 * pipe and over a real OS socket (a Unix socket pair made by the runtime layer).
 *
 * @module
 */
import { getRuntime } from "../../src/runtime/mod.ts";
import type { Conn } from "../../src/runtime/types.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One end of a duplex byte pipe. */
export interface Duplex {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/** A connected pair plus a way to tear it down. */
export interface PipePair {
  a: Duplex;
  b: Duplex;
  /** Close both ends and free OS resources. */
  dispose(): Promise<void>;
}

/** A named way of making pipe pairs. */
export interface PipeKind {
  name: string;
  make(): Promise<PipePair>;
}

/** Two in-memory pipes crossed over (TransformStreams, with backpressure). */
export function memoryPair(): Promise<PipePair> {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  return Promise.resolve({
    a: { readable: ba.readable, writable: ab.writable },
    b: { readable: ab.readable, writable: ba.writable },
    dispose: async () => {
      await Promise.allSettled([
        ab.writable.abort(),
        ba.writable.abort(),
        ab.readable.cancel(),
        ba.readable.cancel(),
      ]);
    },
  });
}

/** A real Unix-domain socket connection made through the runtime layer. */
export async function socketPair(): Promise<PipePair> {
  const rt = getRuntime();
  const dir = mkdtempSync(join(tmpdir(), "w2p-pair-"));
  const listener = await rt.listenUnix(join(dir, "s.sock"));
  const it = listener[Symbol.asyncIterator]();
  const [client, accepted] = await Promise.all([rt.connectUnix(listener.addr), it.next()]);
  await listener.close();
  const server = accepted.value as Conn;
  return {
    a: client,
    b: server,
    dispose: async () => {
      client.close();
      server.close();
      await Promise.allSettled([client.closed, server.closed]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every kind of pipe a mux scenario must pass over. */
export const PIPE_KINDS: PipeKind[] = [
  { name: "in-memory pipe", make: memoryPair },
  { name: "unix socket", make: socketPair },
];
