/**
 * A small program for checking the Windows side under Wine (compiled with
 * `bun build --compile --target=bun-windows-x64`), also runnable as a plain
 * script under Deno or Bun on Linux. Modes:
 *
 * - `echo-stdio`: copy stdin to stdout through {@linkcode openStdio} until
 *   stdin's EOF, then exit 0. Prints one `console.log` line first, which must
 *   land on stderr, not in the echoed bytes.
 * - `write-stdout BYTES`: write BYTES of a fixed pattern (byte i is `i * 7 + (i >> 16)`
 *   mod 256) to stdout through `openStdio()` in 64 KiB chunks.
 * - `pipe-server NAME`: echo every connection on `\\.\pipe\NAME`; writes
 *   `ready\n` to stdout once listening and exits 0 when stdin closes.
 * - `pipe-client NAME BYTES`: send BYTES random bytes to `\\.\pipe\NAME`,
 *   read the echo, exit 0 and print `ok BYTES\n` when it matches.
 *
 * Failures go to stderr with exit status 1.
 *
 * @module
 */

import * as net from "node:net";
import process from "node:process";
import { openStdio } from "../../src/runtime/stdio.ts";

const CHUNK = 64 * 1024;

/** The byte at offset `i` of the `write-stdout` pattern. */
export function patternByte(i: number): number {
  return (i * 7 + Math.floor(i / 65536)) & 0xff;
}

async function echoStdio(): Promise<void> {
  const { readable, writable } = openStdio();
  console.log("echo-stdio: console.log goes to stderr");
  await readable.pipeTo(writable);
}

async function writeStdout(total: number): Promise<void> {
  const writer = openStdio().writable.getWriter();
  for (let off = 0; off < total; off += CHUNK) {
    const chunk = new Uint8Array(Math.min(CHUNK, total - off));
    for (let i = 0; i < chunk.length; i++) chunk[i] = patternByte(off + i);
    await writer.write(chunk);
  }
  await writer.close();
}

function pipePath(name: string): string {
  return `\\\\.\\pipe\\${name}`;
}

async function pipeServer(name: string): Promise<void> {
  const { readable, writable } = openStdio();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", (err) => console.error("pipe-server: connection error:", err));
    sock.pipe(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(pipePath(name), resolve);
  });
  const writer = writable.getWriter();
  await writer.write(new TextEncoder().encode("ready\n"));
  // Serve until stdin ends: the parent closing our stdin is the stop signal.
  for await (const _ of readable) { /* ignore input */ }
  for (const sock of sockets) sock.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function pipeClient(name: string, total: number): Promise<void> {
  const sent = new Uint8Array(total);
  for (let off = 0; off < total; off += CHUNK) {
    crypto.getRandomValues(sent.subarray(off, Math.min(off + CHUNK, total)));
  }
  const sock = net.connect(pipePath(name));
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  const received = new Uint8Array(total);
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on("data", (d: Uint8Array) => {
      if (got + d.length > total) {
        return reject(new Error(`echo longer than the ${total} bytes sent`));
      }
      received.set(d, got);
      got += d.length;
      if (got === total) resolve();
    });
    sock.once("error", reject);
    sock.once("close", () => reject(new Error(`pipe closed after ${got} of ${total} bytes`)));
  });
  sock.write(sent);
  await done;
  sock.destroy();
  for (let i = 0; i < total; i++) {
    if (received[i] !== sent[i]) throw new Error(`echo differs at byte ${i}`);
  }
  process.stdout.write(`ok ${total}\n`);
}

async function main(args: string[]): Promise<void> {
  const [mode, a, b] = args;
  switch (mode) {
    case "echo-stdio":
      return await echoStdio();
    case "write-stdout":
      return await writeStdout(Number(a));
    case "pipe-server":
      return await pipeServer(a);
    case "pipe-client":
      return await pipeClient(a, Number(b ?? 1 << 20));
    default:
      throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (err) {
    console.error(`smoke ${process.argv[2]}:`, err);
    process.exit(1);
  }
}
