/**
 * The {@linkcode Runtime} for Bun.
 *
 * Unix and TCP sockets use `Bun.listen` / `Bun.connect` (see `bun_conn.ts`).
 * Measured on Bun 1.4.5, 2 vCPUs, 256 MiB one way over a Unix socket, five
 * runs each:
 *
 * | path                              | raw socket API | through Conn + Web Streams |
 * |-----------------------------------|----------------|----------------------------|
 * | node:net (allowHalfOpen)          | 790-3200 MB/s  | 1355-2755 MB/s (median ~1850) |
 * | Bun.listen / Bun.connect          | 1440-4040 MB/s | 1820-2658 MB/s (median ~2080) |
 *
 * Both half-close correctly; Bun's native sockets are a little faster and
 * expose the accepted socket's fd directly (`socket.fd`), which SO_PEERCRED
 * needs. Named pipes go through `node:net` (Bun.connect has no pipe support).
 *
 * `Bun.*` is typed by the hand-written `bun_types.d.ts`, not `@types/bun`,
 * and is only touched inside methods, so this file can be imported (and
 * type-checked) under Deno.
 *
 * @module
 */

import process from "node:process";
import { SpawnError } from "../errors.ts";
import { bunConnect, type BunConnInfo, bunListen, type BunTransport } from "./bun_conn.ts";
import type { BunFileSink, BunGlobal, BunSocket, BunSubprocess } from "./bun_types.d.ts";
import { type GetSockOpt, readPeerUid } from "./peer_cred.ts";
import { loadBunGetSockOpt, loadBunPoll } from "./peer_cred_bun.ts";
import { peerHungUp, type Poll } from "./peer_hangup.ts";
import { loadBunSocketPair } from "./socketpair_bun.ts";
import { readBunEmbeddedFile } from "./embedded_file_bun.ts";
import { acceptedTcpPeerUid } from "./tcp_peer_uid.ts";
import { raiseFdLimitWith, type RlimitCalls } from "./fd_limit.ts";
import { openBunLibc } from "./libc_bun.ts";
import { loadBunPageantWin32 } from "./pageant_win32_bun.ts";
import { openStdio } from "./stdio.ts";
import { markWritesComplete } from "./writes_complete.ts";
import { isProcessAlive, signalPid } from "./signal_pid.ts";
import type {
  ChildProcess,
  Conn,
  ExitStatus,
  FdLimit,
  Listener,
  PageantWin32,
  Runtime,
  SpawnOptions,
} from "./types.ts";
import {
  bindError,
  clearStaleSocket,
  removeOwnSocket,
  secureSocketFile,
  withSocketUmask,
} from "./unix_socket_file.ts";

/**
 * `node:net` is loaded on first use: it is only needed for named pipes and
 * stale-socket checks, and importing it costs a compiled `start` ~3 ms.
 */
const nodeNet = () => import("./node_net.ts");

const UNNAMED = "(unnamed)";
const OS_NAMES: Record<string, string> = { win32: "windows" };
const ARCH_NAMES: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

/** The Bun implementation of {@linkcode Runtime}. */
export class BunRuntime implements Runtime {
  readonly name = "bun" as const;
  readonly version: string;
  readonly os: string = OS_NAMES[process.platform] ?? process.platform;
  readonly arch: string = ARCH_NAMES[process.arch] ?? process.arch;
  readonly pid: number = process.pid;
  readonly compiled: boolean;
  #bun: BunGlobal;
  #uid: number | undefined;

  constructor() {
    this.#bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
    this.version = this.#bun.version;
    // Older Bun lacks the flag; compiled modules live in Bun's embedded file system.
    this.compiled = this.#bun.isStandaloneExecutable ?? /\$bunfs|~BUN/.test(import.meta.url);
  }

  /** Listen on a Unix socket path, created with mode 0600 (umask around the synchronous bind). */
  async listenUnix(path: string): Promise<Listener> {
    const { isUnixSocketAlive } = await nodeNet();
    await clearStaleSocket(path, isUnixSocketAlive);
    const [getsockopt, poll] = await Promise.all([loadBunGetSockOpt(), loadBunPoll()]);
    let ino = -1;
    let listener: Listener;
    try {
      listener = withSocketUmask(() =>
        bunListen(this.#bun, { unix: path }, {
          addr: path,
          describe: (socket) => unixPeer(path, socket, getsockopt, poll),
          afterClose: () => removeOwnSocket(path, ino),
        })
      );
    } catch (error) {
      throw bindError(path, error);
    }
    try {
      ino = await secureSocketFile(path);
    } catch (error) {
      await listener.close();
      throw error;
    }
    return listener;
  }

  /** Listen on TCP; port 0 picks a free port. */
  listenTcp(host: string, port: number): Promise<Listener> {
    try {
      return Promise.resolve(
        bunListen(this.#bun, { hostname: host, port }, { describe: tcpAcceptedInfo }),
      );
    } catch (error) {
      return Promise.reject(bindError(`${host}:${port}`, error));
    }
  }

  /** Connect to a Unix socket. */
  connectUnix(path: string): Promise<Conn> {
    return bunConnect(this.#bun, { unix: path }, () => ({ localAddr: UNNAMED, remoteAddr: path }));
  }

  /** Connect over TCP. */
  async connectTcp(host: string, port: number): Promise<Conn> {
    let peerless = false;
    const conn = await bunConnect(this.#bun, { hostname: host, port }, (socket) => {
      peerless = !socket.remoteAddress;
      return tcpInfo(socket);
    });
    if (peerless) {
      // A connected socket always has a peer. Under Wine a refused connect
      // is reported as open, with none (seen with both Bun.connect and
      // node:net): take it for the refusal it is.
      conn.close();
      throw Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), {
        code: "ECONNREFUSED",
      });
    }
    return conn;
  }

  /** Connect to a Windows named pipe through `node:net`. */
  async connectPipe(path: string): Promise<Conn> {
    return (await nodeNet()).connectNodePath(path, "pipe");
  }

  /** Listen on a Windows named pipe through `node:net`. */
  async listenPipe(path: string): Promise<Listener> {
    return (await nodeNet()).listenNodePipe(path);
  }

  /** Start a child process with `Bun.spawn`. */
  spawn(argv: string[], options: SpawnOptions = {}): ChildProcess {
    return this.#spawn(argv, options);
  }

  #spawn(
    argv: string[],
    options: Omit<SpawnOptions, "stdin" | "stdout"> & {
      stdin?: SpawnOptions["stdin"] | number;
      stdout?: SpawnOptions["stdout"] | number;
    },
  ): ChildProcess {
    const stdin = options.stdin ?? "piped";
    const stdout = options.stdout ?? "piped";
    const stderr = options.stderr ?? "inherit";
    let child: BunSubprocess;
    try {
      child = this.#bun.spawn({
        cmd: argv,
        cwd: options.cwd,
        env: options.env ? { ...process.env, ...options.env } : undefined,
        stdin: typeof stdin === "number" ? stdin : stdin === "piped" ? "pipe" : "ignore",
        stdout: typeof stdout === "number"
          ? stdout
          : stdout === "piped"
          ? "pipe"
          : stdout === "null"
          ? "ignore"
          : "inherit",
        stderr: stderr === "piped" ? "pipe" : stderr === "null" ? "ignore" : "inherit",
        detached: options.detached ?? false,
      });
    } catch (error) {
      throw new SpawnError(`cannot start ${argv[0]}`, { cause: error });
    }
    const status: Promise<ExitStatus> = child.exited.then(() =>
      child.signalCode
        ? { code: null, signal: child.signalCode }
        : { code: child.exitCode, signal: null }
    );
    return {
      pid: child.pid,
      stdin: stdin === "piped"
        ? markWritesComplete(fileSinkWritable(child.stdin as BunFileSink))
        : null,
      stdout: stdout === "piped" ? child.stdout as ReadableStream<Uint8Array> : null,
      stderr: stderr === "piped" ? child.stderr as ReadableStream<Uint8Array> : null,
      status,
      kill(signal = "SIGTERM") {
        try {
          child.kill(signal);
        } catch {
          // Already exited: nothing to signal.
        }
      },
      unref() {
        child.unref();
      },
    };
  }

  /**
   * The agent link over a socket pair: Bun's child pipes are socket pairs as
   * well, but their reader and `FileSink` re-arm epoll around every read and
   * write (three `recvfrom` and one or two `epoll_ctl` per read, an
   * `epoll_ctl` per write), where a Bun socket makes one call. Linux only.
   */
  async spawnLinked(
    argv: string[],
    options: Omit<SpawnOptions, "stdin" | "stdout"> = {},
  ): Promise<ChildProcess> {
    const fns = await loadBunSocketPair();
    if (!fns) return this.spawn(argv, options);
    const [ours, theirs] = fns.socketpair();
    let child: ChildProcess;
    try {
      child = this.#spawn(argv, { ...options, stdin: theirs, stdout: theirs });
    } catch (error) {
      fns.close(ours);
      throw error;
    } finally {
      fns.close(theirs); // the child has its own copies as fd 0 and 1
    }
    let conn: Conn;
    try {
      conn = await bunConnect(this.#bun, { fd: ours }, () => ({
        localAddr: "agent link",
        remoteAddr: `pid ${child.pid}`,
        resetIsEof: true,
      }));
    } catch (error) {
      fns.close(ours);
      child.kill("SIGKILL");
      throw new SpawnError(`cannot open the link to ${argv[0]}`, { cause: error });
    }
    return { ...child, stdin: conn.writable, stdout: conn.readable };
  }

  /** This process's stdin/stdout as Web Streams (see `stdio.ts`). */
  stdio(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    return openStdio();
  }

  /** Register a signal handler through `process.on`. */
  onSignal(signal: string, handler: () => void): () => void {
    process.on(signal as NodeJS.Signals, handler);
    return () => {
      process.off(signal as NodeJS.Signals, handler);
    };
  }

  /** Our uid, or -1 on Windows. */
  uid(): number {
    // Asked for every accepted connection; it never changes.
    return this.#uid ??= process.getuid?.() ?? -1;
  }

  /** Read an environment variable. */
  env(name: string): string | undefined {
    return process.env[name];
  }

  /** Path of the running executable (the compiled binary or `bun`). */
  execPath(): string {
    return process.execPath;
  }

  /** How to start this program again (compiled binary, or `bun` on the main module). */
  selfArgv(): string[] {
    return this.compiled ? [process.execPath] : [process.execPath, this.#bun.main];
  }

  /** Arguments after the program. */
  args(): string[] {
    return process.argv.slice(2);
  }

  /** Signal a process by pid. */
  signalPid(pid: number, signal: string): boolean {
    return signalPid(pid, signal);
  }

  /** Whether a process is alive (zombies count as gone). */
  isAlive(pid: number): boolean {
    return isProcessAlive(pid);
  }

  /** A file embedded in this compiled executable, or null. */
  readonly readEmbeddedFile = readBunEmbeddedFile;

  /** Raise RLIMIT_NOFILE to its hard value (see `fd_limit.ts`). */
  pageantWin32(): Promise<PageantWin32 | undefined> {
    return loadBunPageantWin32();
  }

  async raiseFdLimit(): Promise<FdLimit | undefined> {
    const libc = await openBunLibc({
      getrlimit: { args: ["i32", "ptr"], returns: "i32" },
      setrlimit: { args: ["i32", "ptr"], returns: "i32" },
    });
    return libc ? raiseFdLimitWith(libc as unknown as RlimitCalls) : undefined;
  }

  /** Resident set size in bytes. */
  rss(): number {
    return process.memoryUsage.rss();
  }
}

function unixPeer(
  path: string,
  socket: BunSocket<BunTransport>,
  getsockopt: GetSockOpt | null,
  poll: Poll | null,
): BunConnInfo {
  const fd = socket.fd;
  return {
    localAddr: path,
    remoteAddr: UNNAMED,
    peerUid: getsockopt ? readPeerUid(getsockopt, fd) : undefined,
    hungUp: poll ? () => peerHungUp(poll, fd) : undefined,
  };
}

function tcpInfo(socket: BunSocket<BunTransport>): BunConnInfo {
  return {
    localAddr: hostPort(socket.localAddress ?? "", socket.localPort),
    // Bun on Windows may open a socket before it knows the peer's address.
    remoteAddr: hostPort(socket.remoteAddress ?? "", socket.remotePort ?? 0),
  };
}

/** An accepted TCP connection, with its peer's uid from the kernel's socket table (Linux). */
function tcpAcceptedInfo(socket: BunSocket<BunTransport>): BunConnInfo {
  return {
    ...tcpInfo(socket),
    peerUid: acceptedTcpPeerUid(
      { address: socket.localAddress ?? "", port: socket.localPort },
      { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 },
    ),
  };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A child's stdin FileSink as a WritableStream. Each chunk is flushed before
 * the write resolves, and a full pipe makes `flush()` return a Promise that we
 * await, so a slow child backs up the writer instead of Bun's buffer growing.
 */
function fileSinkWritable(sink: BunFileSink): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await sink.write(chunk);
      await sink.flush();
    },
    async close() {
      await sink.end();
    },
    async abort() {
      try {
        await sink.end();
      } catch {
        // The child is gone already; nothing to close.
      }
    },
  });
}
