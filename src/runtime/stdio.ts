/**
 * This process's own stdin/stdout as Web Streams: the agent's one link to
 * the daemon. Which API carries the bytes depends on the runtime and the OS:
 *
 * | runtime / OS  | stdin                                | stdout                              |
 * |---------------|--------------------------------------|-------------------------------------|
 * | Deno (any)    | `Deno.stdin.readable`                | `Deno.stdout.write()` loop          |
 * | Bun, Linux    | `Bun.stdin.stream()`                 | `process.stdout.write(chunk, cb)`   |
 * | Bun, Windows  | `fs.read(0)` (blocking, threadpool)  | `process.stdout.write(chunk, cb)`   |
 *
 * Why Bun on Windows reads with `fs.read`: Bun's async stdin
 * (`Bun.stdin.stream()`, `process.stdin`) opens fd 0 as a libuv pipe, which
 * fails with EBADF under Wine when stdin is a pipe. `fs.read` issues a plain
 * blocking `ReadFile` on a libuv threadpool thread, so it works on every
 * handle type and never blocks the event loop. It is used on Windows
 * *always* (not after a failed attempt), so no byte can be lost or doubled
 * by switching, and the path tested under Wine is the path that ships. A
 * Worker doing `fs.readSync(0)` works as well (also in compiled binaries,
 * Linux and Wine), but needs its own flow control; a `pull()` that awaits
 * one `fs.read` gets backpressure from the stream for free. (Deno on Windows
 * is not covered by the Wine test: deno.exe crashes under Wine 8.)
 *
 * Measured through a pipe, 256 MiB one way, 64 KiB chunks, 2 noisy vCPUs,
 * median of 5 (MB/s); the chosen path is marked *:
 *
 * | Bun 1.4.5 read                   |      | Bun 1.4.5 write                    |      |
 * |----------------------------------|------|------------------------------------|------|
 * | `Bun.stdin.stream()` *           | 1200 | `process.stdout.write(c, cb)` *    | 1830 |
 * | `process.stdin` (manual stream)  | 1070 | `Bun.stdout.writer()` + flush      | 2260 |
 * | `fs.read(0)`                     |  900 | `fs.writeSync(1)` (blocks the loop)| 1980 |
 *
 * | Deno 2.9.6 read                  |      | Deno 2.9.6 write                   |      |
 * |----------------------------------|------|------------------------------------|------|
 * | `Deno.stdin.readable` *          |  450 | `Deno.stdout` (async) *            |  570 |
 * | `fs.read(0)`                     |  490 | `process.stdout` (sync in Deno)    | 1000 |
 * | `Readable.toWeb(process.stdin)`  |  370 | `fs.writeSync(1)` (blocks the loop)| 1050 |
 *
 * Bun writes through `process.stdout` rather than the slightly faster
 * `Bun.stdout.writer()` so Linux and Windows share one writer. Deno keeps
 * its async writes: the sync ones are faster but stall the event loop
 * whenever the daemon is slow to read. Under Wine 8 (Bun build) an 8 MiB
 * echo takes 150-250 ms including process start, 64 MiB to stdout ~0.4 s,
 * and `fs.read` moves 256 MiB in ~0.9 s: all far above what the link needs.
 *
 * @module
 */

import * as fs from "node:fs";
import process from "node:process";
import { markWritesComplete } from "./writes_complete.ts";

/** The agent's stdin and stdout. */
export interface Stdio {
  /**
   * Bytes from our stdin; closes at EOF. Nothing is read until the stream is
   * read, so an unread stdin never keeps the process alive. Cancelling stops
   * reading, but on Windows a read already waiting in the threadpool cannot
   * be aborted: it holds the process until stdin has data or ends.
   */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * Bytes to our stdout, written one chunk at a time in order; each write
   * resolves once the OS has the bytes. `close()` waits for them but leaves
   * fd 1 open (the OS closes it at exit), so no later open can reuse fd 1.
   */
  readonly writable: WritableStream<Uint8Array>;
}

/** The parts of `Bun` this file uses. */
interface BunStdin {
  stdin: { stream(): ReadableStream<Uint8Array> };
}

const READ_SIZE = 64 * 1024;
/** Console methods that print to stdout in Deno, Bun and Node. */
const STDOUT_CONSOLE = ["log", "info", "debug", "dir", "dirxml", "table"] as const;

let opened: Stdio | undefined;

/**
 * This process's stdin/stdout as Web Streams. Called more than once, it
 * returns the same pair.
 *
 * From the first call on, stdout belongs to the returned writable: the
 * console methods that would print to stdout (`console.log`, `info`,
 * `debug`, `dir`, `dirxml`, `table`) are sent to stderr instead, because a
 * stray line on stdout would corrupt the wire protocol.
 *
 * @example
 * ```ts ignore
 * const { readable, writable } = openStdio();
 * await readable.pipeTo(writable); // echo stdin to stdout until EOF
 * ```
 */
export function openStdio(): Stdio {
  if (opened) return opened;
  guardConsole();
  const isDeno = "Deno" in globalThis;
  opened = {
    readable: isDeno ? Deno.stdin.readable : bunStdin(),
    // Both resolve a write once the bytes are written, so the mux may reuse its buffer.
    writable: markWritesComplete(isDeno ? denoStdout() : nodeStdout()),
  };
  return opened;
}

function guardConsole(): void {
  const c = console as unknown as Record<string, unknown>;
  const toStderr = (...args: unknown[]) => console.error(...args);
  for (const name of STDOUT_CONSOLE) c[name] = toStderr;
}

function bunStdin(): ReadableStream<Uint8Array> {
  if (process.platform === "win32") return blockingStdin();
  return (globalThis as unknown as { Bun: BunStdin }).Bun.stdin.stream();
}

/** Stdin through blocking `fs.read` calls on the threadpool; one read in flight at a time. */
function blockingStdin(): ReadableStream<Uint8Array> {
  let buf = new Uint8Array(READ_SIZE);
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const n = await readFd0(buf);
      if (cancelled) return; // a read cannot be aborted; its bytes are dropped
      if (n === 0) return controller.close();
      // Small reads are copied so a held chunk does not pin a whole buffer.
      if (n < READ_SIZE / 4) return controller.enqueue(buf.slice(0, n));
      controller.enqueue(buf.subarray(0, n));
      buf = new Uint8Array(READ_SIZE);
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 }); // no read until asked: an unread stdin must not keep the process alive
}

function readFd0(buf: Uint8Array): Promise<number> {
  // libuv maps ERROR_BROKEN_PIPE (the writer went away) to a 0-byte read.
  return new Promise((resolve, reject) => {
    fs.read(0, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function nodeStdout(): WritableStream<Uint8Array> {
  const out = process.stdout;
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise((resolve, reject) => {
        out.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    },
  });
}

function denoStdout(): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let off = 0; off < chunk.length;) {
        off += await Deno.stdout.write(chunk.subarray(off));
      }
    },
  });
}
