/**
 * Helpers shared by the agent tests (not part of the library): real target
 * servers made with the runtime, temp dirs, and platform skip reasons.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Logger } from "../../src/log/logger.ts";
import { Session } from "../../src/mux/mod.ts";
import type { BunFfi } from "../../src/runtime/bun_types.d.ts";
import type { Conn, Listener, Runtime } from "../../src/runtime/types.ts";
import { memoryPair } from "./pipes.ts";
import { within } from "./mux.ts";
import { runAgent } from "../../src/agent/run_agent.ts";

/** True when this Windows is Wine (whose Winsock has no AF_UNIX). */
export function underWine(): boolean {
  if (process.platform !== "win32") return false;
  if (process.env.WINEPREFIX || process.env.WINELOADER) return true;
  const root = process.env.SystemRoot ?? "C:\\windows";
  return existsSync(join(root, "system32", "winecfg.exe"));
}

/** `false` on Windows, otherwise why a Windows-only test is skipped. */
export const WINDOWS_ONLY: string | false = process.platform === "win32"
  ? false
  : "Windows only: named pipes and Windows AF_UNIX exist only there (runs on the windows-latest CI job)";

/** `false` on real Windows, otherwise why a Windows AF_UNIX test is skipped. */
export const REAL_WINDOWS_ONLY: string | false = WINDOWS_ONLY ||
  (underWine() ? "Wine has no AF_UNIX sockets (runs on the windows-latest CI job)" : false);

/** `false` off Windows, otherwise why a POSIX-socket test is skipped. */
export const POSIX_ONLY: string | false = process.platform === "win32"
  ? "POSIX socket paths are refused on Windows (dial_windows.test.ts covers AF_UNIX there)"
  : false;

/** ` (skipped: why)` when `skip` holds a reason, so runners that hide skip reasons still show it in the name. */
export function skipNote(skip: string | false): string {
  return skip ? ` (skipped: ${skip})` : "";
}

/** `false` on Linux, otherwise why a test that binds Linux libc is skipped. */
export const LINUX_ONLY: string | false = process.platform === "linux"
  ? false
  : "needs Linux libc through FFI for a TCP listener that never accepts";

/**
 * A TCP listener on 127.0.0.1 made with libc (`listen(fd, 0)`) that never
 * accepts: once one connection waits in its queue, Linux drops further
 * SYNs, so the next connect hangs. Neither runtime's listener can do this
 * (both accept eagerly or with a large backlog). Linux only.
 */
export async function unacceptingTcpListener(): Promise<{ port: number; close: () => void }> {
  type Fn = (...args: unknown[]) => number;
  let s: Record<"socket" | "bind" | "listen" | "getsockname" | "close", Fn>;
  if ("Deno" in globalThis) {
    s = Deno.dlopen(
      "libc.so.6",
      {
        socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
        bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
        listen: { parameters: ["i32", "i32"], result: "i32" },
        getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
        close: { parameters: ["i32"], result: "i32" },
      } as const,
    ).symbols as unknown as typeof s;
  } else {
    const ffi = (await import(BUN_FFI)) as BunFfi;
    s = ffi.dlopen("libc.so.6", {
      socket: { args: ["i32", "i32", "i32"], returns: "i32" },
      bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
      listen: { args: ["i32", "i32"], returns: "i32" },
      getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
      close: { args: ["i32"], returns: "i32" },
    }).symbols as typeof s;
  }
  const AF_INET = 2;
  const fd = s.socket(AF_INET, 1, /* SOCK_STREAM */ 0);
  const sockaddr = new Uint8Array(16); // sockaddr_in: family, port (big-endian), 127.0.0.1, zero
  const view = new DataView(sockaddr.buffer);
  view.setUint16(0, AF_INET, true);
  sockaddr.set([127, 0, 0, 1], 4);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, 16, true);
  if (
    fd < 0 || s.bind(fd, sockaddr, 16) !== 0 || s.listen(fd, 0) !== 0 ||
    s.getsockname(fd, sockaddr, length) !== 0
  ) {
    throw new Error("could not set up the unaccepting TCP listener");
  }
  return { port: view.getUint16(2, false), close: () => void s.close(fd) };
}

/** Named through a variable: Deno cannot resolve `bun:` and would refuse to type-check this file. */
const BUN_FFI = "bun:ffi";

/** A fresh private temp directory, removed by `dispose()`. */
export async function tempDir(): Promise<{ path: string; dispose: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "w2p-agent-"));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** What a target server does with each connection (`hold`: nothing, the test reads it). */
export type Behaviour = "echo" | "reply-after-eof" | "hold";

/** A real listening target plus everything it accepted. */
export interface TargetServer {
  /** The stream target to open, e.g. `tcp://127.0.0.1:PORT` or `unix:///tmp/x/s.sock`. */
  url: string;
  listener: Listener;
  /** Resolves with each accepted connection's `closed`, in accept order. */
  accepted: Promise<void>[];
  /** Resolves when the next connection is accepted. */
  nextAccepted(): Promise<Conn>;
  /** Stop listening, close every connection, remove the temp dir. */
  dispose(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Listen on TCP (`127.0.0.1`, a free port) or on a Unix socket in a temp dir,
 * and serve every connection with `behaviour`: `echo` copies bytes back and
 * half-closes after the peer does; `reply-after-eof` reads to EOF, then
 * writes `got:` plus what it read, and closes; `hold` leaves it to the test.
 */
export async function targetServer(
  rt: Runtime,
  transport: "tcp" | "unix",
  behaviour: Behaviour = "echo",
): Promise<TargetServer> {
  const dir = transport === "unix" ? await tempDir() : undefined;
  const listener = transport === "tcp"
    ? await rt.listenTcp("127.0.0.1", 0)
    : await rt.listenUnix(join(dir!.path, "target.sock"));
  const url = transport === "tcp" ? `tcp://127.0.0.1:${listener.port}` : `unix://${listener.addr}`;
  const conns: Conn[] = [];
  const accepted: Promise<void>[] = [];
  const waiting: ((c: Conn) => void)[] = [];
  const ready: Conn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      accepted.push(conn.closed);
      if (behaviour !== "hold") serve(conn, behaviour).catch(() => conn.close());
      const w = waiting.shift();
      if (w) w(conn);
      else ready.push(conn);
    }
  })().catch(() => {});
  return {
    url,
    listener,
    accepted,
    nextAccepted: () => {
      const c = ready.shift();
      return c ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
    },
    dispose: async () => {
      await listener.close();
      await loop;
      for (const c of conns) c.close();
      await Promise.allSettled(conns.map((c) => c.closed));
      await dir?.dispose();
    },
  };
}

async function serve(conn: Conn, behaviour: Behaviour): Promise<void> {
  if (behaviour === "echo") {
    await conn.readable.pipeTo(conn.writable);
    return;
  }
  const chunks: Uint8Array[] = [encoder.encode("got:")];
  for await (const chunk of conn.readable) chunks.push(chunk);
  const w = conn.writable.getWriter();
  for (const c of chunks) await w.write(c);
  await w.close();
}

/** A free TCP port: bound once, then released. */
export async function closedTcpPort(rt: Runtime): Promise<number> {
  const l = await rt.listenTcp("127.0.0.1", 0);
  const port = l.port!;
  await l.close();
  return port;
}

/**
 * A readable that passes `source` through until `cut()`, which ends it (EOF)
 * as if the writer at the far end had closed the pipe.
 */
export function cuttable(source: ReadableStream<Uint8Array>): {
  readable: ReadableStream<Uint8Array>;
  cut: () => void;
} {
  const reader = source.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    async pull(c) {
      const { value, done } = await reader.read();
      if (ended) return;
      if (done) {
        ended = true;
        c.close();
      } else {
        c.enqueue(value);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return {
    readable,
    cut: () => {
      if (ended) return;
      ended = true;
      controller.close();
      reader.cancel().catch(() => {});
    },
  };
}

/** Collects log lines for assertions. */
export function logLines(): { lines: string[]; sink: (line: string) => void } {
  const lines: string[] = [];
  return { lines, sink: (line) => lines.push(line) };
}

/** An agent running in-process over an in-memory pipe, and a client session (the daemon's role) on the other end. */
export async function startAgent(rt: Runtime) {
  const pair = await memoryPair();
  const { lines, sink } = logLines();
  const stdin = cuttable(pair.b.readable);
  const exit = runAgent({
    runtime: rt,
    log: new Logger({ level: "debug", sinks: [sink], component: "agent" }),
    version: "1.0.0",
    stdio: { readable: stdin.readable, writable: pair.b.writable },
    sessionOptions: { keepaliveMs: 0 },
  });
  const client = await Session.connect(pair.a.readable, pair.a.writable, {
    role: "client",
    version: "1.0.0",
    keepaliveMs: 0,
  });
  return {
    client,
    exit,
    lines,
    /** End the agent's stdin, as the daemon closing the pipe would. */
    cutStdin: stdin.cut,
    dispose: async () => {
      await client.close();
      await within(10_000, exit, "agent exit");
      await pair.dispose();
    },
  };
}
