/**
 * Helpers shared by the runtime tests (not part of the library).
 *
 * @module
 */

import { access, constants, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { connectNodePath, listenNodeUnix } from "./node_net.ts";
import { type GetSockOpt, loadDenoGetSockOpt } from "./peer_cred.ts";
import { loadBunGetSockOpt } from "./peer_cred_bun.ts";
import type { Conn, Listener, Runtime } from "./types.ts";

/** A fresh private temp directory, removed by `dispose()`. */
export async function tempDir(): Promise<{ path: string; dispose: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "wsl2proxy-rt-"));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** Read a stream to its end and concatenate the chunks. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of readable) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Write `data` and close the write side. */
export async function writeAndClose(
  writable: WritableStream<Uint8Array>,
  data: Uint8Array,
): Promise<void> {
  const writer = writable.getWriter();
  await writer.write(data);
  await writer.close();
}

/** UTF-8 helpers. */
export const utf8 = {
  encode: (text: string): Uint8Array => new TextEncoder().encode(text),
  decode: (bytes: Uint8Array): string => new TextDecoder().decode(bytes),
};

/** Byte `i` of the deterministic test pattern (period 251, so chunk reuse shows). */
export function patternByte(i: number): number {
  return (i * 7 + (i >>> 16)) % 251;
}

/** `length` bytes of the test pattern starting at absolute offset `start`. */
export function pattern(start: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = patternByte(start + i);
  return out;
}

/**
 * The transports every Conn scenario runs over. `node-unix` is the `node:net`
 * wrapper both runtimes use for Windows named pipes, exercised here over a
 * Unix socket path.
 */
export type Transport = "unix" | "tcp" | "node-unix";

/** A listener with one accepted connection and its client end. */
export interface ConnectedPair {
  listener: Listener;
  client: Conn;
  server: Conn;
  /** Close both ends and the listener, and wait until they are gone. */
  dispose(): Promise<void>;
}

/** Listen on `transport`, connect once, and accept that connection. */
export async function connectedPair(
  rt: Runtime,
  transport: Transport,
  dir: string,
): Promise<ConnectedPair> {
  const path = join(dir, "pair.sock");
  let listener: Listener;
  let connect: () => Promise<Conn>;
  if (transport === "unix") {
    listener = await rt.listenUnix(path);
    connect = () => rt.connectUnix(path);
  } else if (transport === "node-unix") {
    listener = await listenNodeUnix(path, await loadGetSockOpt());
    connect = () => connectNodePath(path);
  } else {
    listener = await rt.listenTcp("127.0.0.1", 0);
    connect = () => rt.connectTcp("127.0.0.1", listener.port!);
  }
  const accepted = listener[Symbol.asyncIterator]().next();
  const client = await connect();
  const next = await accepted;
  if (next.done) throw new Error("listener ended before accepting");
  const server = next.value;
  return {
    listener,
    client,
    server,
    async dispose() {
      client.close();
      server.close();
      await listener.close();
      await Promise.all([client.closed, server.closed]);
    },
  };
}

/** Whether an executable called `name` is on PATH. */
export async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/** This runtime's FFI `getsockopt`, for building listeners directly in tests. */
function loadGetSockOpt(): Promise<GetSockOpt | null> {
  return "Deno" in globalThis ? Promise.resolve(loadDenoGetSockOpt()) : loadBunGetSockOpt();
}
