/**
 * The {@linkcode Runtime} for Deno.
 *
 * Outgoing Unix and TCP connections and TCP listeners use `Deno.connect` /
 * `Deno.listen` wrapped by {@linkcode denoConn} (own readable over
 * `conn.read()`, `closeWrite()` for half-close).
 *
 * Unix *listeners* use `node:net` instead: a `Deno.UnixConn` exposes no file
 * descriptor (Deno 2.9 keeps an internal fd slot on conns but fills it only
 * for TCP), so SO_PEERCRED could not be read from an accepted `Deno.listen`
 * connection. Deno's node:net accepts into a native handle whose `fd` is
 * real. The price, measured on Deno 2.9.6 with 2 vCPUs, 256 MiB one way over
 * a Unix socket, five runs each:
 *
 * | path         | raw API        | through Conn + Web Streams       |
 * |--------------|----------------|----------------------------------|
 * | Deno.connect | 2430-3580 MB/s | 850-1920 MB/s (median ~1300)     |
 * | node:net     | 780-1470 MB/s  | 730-1200 MB/s (median ~1100)     |
 *
 * Through the Conn wrapper the gap is ~15-25%, and both are far above what
 * the agent link carries, so the peer uid is worth it. Going back to
 * `Deno.listen` only means swapping the bind in `listenUnix` for
 * `Deno.listen` + {@linkcode DenoListener} (peerUid then returns undefined).
 *
 * Named pipes have no Deno API and go through `node:net` as well.
 *
 * @module
 */

import { SpawnError } from "../errors.ts";
import { loadDenoSetCloseOnExec } from "./close_on_exec.ts";
import { denoConn, DenoListener } from "./deno_conn.ts";
import { LIBC_NAMES, loadDenoGetSockOpt } from "./peer_cred.ts";
import { loadDenoPoll } from "./peer_hangup.ts";
import { raiseDenoFdLimit } from "./fd_limit.ts";
import { readDenoEmbeddedFile } from "./embedded_file_deno.ts";
import { openStdio } from "./stdio.ts";
import { markWritesComplete } from "./writes_complete.ts";
import { isProcessAlive, signalPid } from "./signal_pid.ts";
import { fileURLToPath as fromFileUrl } from "node:url";
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
import { bindError } from "./unix_socket_file.ts";
import { connectWinAfUnix } from "./win_afunix_deno.ts";
import { loadDenoPageantWin32 } from "./pageant_win32_deno.ts";

/** `node:net`, loaded on first use (see bun.ts): commands that only connect never need it. */
const nodeNet = () => import("./node_net.ts");

/** The Deno implementation of {@linkcode Runtime}. */
export class DenoRuntime implements Runtime {
  readonly name = "deno" as const;
  readonly version: string = Deno.version.deno;
  readonly os: string = Deno.build.os;
  readonly arch: string = Deno.build.arch;
  readonly pid: number = Deno.pid;
  readonly compiled: boolean = Deno.build.standalone;
  #uid: number | undefined;

  /**
   * Listen on a Unix socket path, created with mode 0600. Uses `node:net`
   * rather than `Deno.listen`: only node:net exposes the accepted socket's fd,
   * which SO_PEERCRED needs (see the module doc).
   */
  async listenUnix(path: string): Promise<Listener> {
    const { listenNodeUnix } = await nodeNet();
    return listenNodeUnix(path, loadDenoGetSockOpt(), loadDenoSetCloseOnExec(), loadDenoPoll());
  }

  /** Listen on TCP; port 0 picks a free port. */
  listenTcp(host: string, port: number): Promise<Listener> {
    try {
      return Promise.resolve(
        new DenoListener(Deno.listen({ transport: "tcp", hostname: host, port })),
      );
    } catch (error) {
      return Promise.reject(bindError(`${host}:${port}`, error));
    }
  }

  /** Connect to a Unix socket (on Windows, an AF_UNIX socket through `win_afunix_deno.ts`). */
  async connectUnix(path: string): Promise<Conn> {
    // Deno has no Windows AF_UNIX transport; ws2_32 through FFI fills the gap.
    if (Deno.build.os === "windows") return await connectWinAfUnix(path);
    return denoConn(await Deno.connect({ transport: "unix", path }));
  }

  /** Connect over TCP. */
  async connectTcp(host: string, port: number): Promise<Conn> {
    return denoConn(await Deno.connect({ transport: "tcp", hostname: host, port }));
  }

  /** Connect to a Windows named pipe through `node:net`. */
  async connectPipe(path: string): Promise<Conn> {
    return (await nodeNet()).connectNodePath(path, "pipe");
  }

  /** Listen on a Windows named pipe through `node:net`. */
  async listenPipe(path: string): Promise<Listener> {
    return (await nodeNet()).listenNodePipe(path);
  }

  /** Start a child process with `Deno.Command`. */
  spawn(argv: string[], options: SpawnOptions = {}): ChildProcess {
    const [command, ...args] = argv;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, {
        args,
        cwd: options.cwd,
        env: options.env,
        stdin: options.stdin ?? "piped",
        stdout: options.stdout ?? "piped",
        stderr: options.stderr ?? "inherit",
        detached: options.detached ?? false,
      }).spawn();
    } catch (error) {
      throw new SpawnError(`cannot start ${command}`, { cause: error });
    }
    const status: Promise<ExitStatus> = child.status.then((s) =>
      s.signal ? { code: null, signal: s.signal } : { code: s.code, signal: null }
    );
    return {
      pid: child.pid,
      // Deno's child stdin resolves a write once the bytes are written.
      stdin: (options.stdin ?? "piped") === "piped" ? markWritesComplete(child.stdin) : null,
      stdout: (options.stdout ?? "piped") === "piped" ? child.stdout : null,
      stderr: options.stderr === "piped" ? child.stderr : null,
      status,
      kill(signal = "SIGTERM") {
        try {
          child.kill(signal as Deno.Signal);
        } catch {
          // Already exited (or reaped): nothing to signal.
        }
      },
      unref() {
        child.unref();
      },
    };
  }

  /** This process's stdin/stdout as Web Streams (see `stdio.ts`). */
  stdio(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    return openStdio();
  }

  /** Register a signal handler; throws where the signal is unsupported (most of them on Windows). */
  onSignal(signal: string, handler: () => void): () => void {
    Deno.addSignalListener(signal as Deno.Signal, handler);
    return () => Deno.removeSignalListener(signal as Deno.Signal, handler);
  }

  /** Our uid, or -1 on Windows. */
  uid(): number {
    // Asked for every accepted connection; it never changes.
    return this.#uid ??= Deno.uid() ?? -1;
  }

  /** Read an environment variable. */
  env(name: string): string | undefined {
    return Deno.env.get(name);
  }

  /** Path of the running executable (the compiled binary or `deno`). */
  execPath(): string {
    return Deno.execPath();
  }

  /** How to start this program again (compiled binary, or `deno run -A` on the main module). */
  selfArgv(): string[] {
    if (this.compiled) return [Deno.execPath()];
    const main = Deno.mainModule.startsWith("file:")
      ? fromFileUrl(Deno.mainModule)
      : Deno.mainModule;
    return [Deno.execPath(), "run", "-A", "--no-lock", main];
  }

  /** Arguments after the program. */
  args(): string[] {
    return [...Deno.args];
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
  readonly readEmbeddedFile = readDenoEmbeddedFile;

  /** Raise RLIMIT_NOFILE to its hard value (see `fd_limit.ts`). */
  pageantWin32(): Promise<PageantWin32 | undefined> {
    return Promise.resolve(loadDenoPageantWin32());
  }

  raiseFdLimit(): Promise<FdLimit | undefined> {
    return Promise.resolve(raiseDenoFdLimit(LIBC_NAMES));
  }

  /** Resident set size in bytes. */
  rss(): number {
    return Deno.memoryUsage().rss;
  }
}
