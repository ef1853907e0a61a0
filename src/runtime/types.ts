/**
 * The one small interface between wsl2proxy's core (which speaks only Web
 * Streams) and the host runtime's socket, process and filesystem APIs.
 * `deno.ts` and `bun.ts` each implement it; `mod.ts` picks one.
 *
 * @module
 */

/** A full-duplex byte connection with real half-close. */
export interface Conn {
  /**
   * Bytes from the peer. Ends (closes) at the peer's EOF *without* closing our
   * write side, so half-close works; errors with a `ConnectionResetError`
   * when the peer reset the connection. Cancelling it stops reading.
   */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * Bytes to the peer. `close()` shuts down only our write side (FIN / shutdown(SHUT_WR));
   * reading goes on. On a named pipe, which has no half-close, `close()` only
   * waits for the writes, and the pipe stays open until its server ends it.
   * `abort()` resets the connection.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** Destroy both directions at once (idempotent). */
  close(): void;
  /**
   * Destroy both directions so that the peer sees a reset, not an end
   * (idempotent): TCP sends RST; a Unix stream is closed with what the peer
   * sent still unread, which is how Linux reports ECONNRESET there.
   */
  reset(): void;
  /** Resolves once the connection is fully closed in both directions. */
  readonly closed: Promise<void>;
  /** Local description for logs, e.g. the socket path or `127.0.0.1:1234`. */
  readonly localAddr: string;
  /** Remote description for logs. */
  readonly remoteAddr: string;
  /**
   * The peer's uid for Unix-domain connections (SO_PEERCRED), or `undefined`
   * when the transport has none or the runtime cannot tell.
   */
  peerUid(): number | undefined;
}

/** A listening socket. */
export interface Listener extends AsyncIterable<Conn> {
  /** What it is bound to: a path for Unix sockets, `host:port` for TCP. */
  readonly addr: string;
  /** For TCP listeners, the bound port (useful with port 0). */
  readonly port?: number;
  /** Stop accepting; for Unix sockets the socket file is removed. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@linkcode Runtime.spawn}. */
export interface SpawnOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Extra environment variables (merged over the current environment). */
  env?: Record<string, string>;
  /** Where the child's stderr goes: our stderr (`"inherit"`), a pipe, or nowhere. */
  stderr?: "inherit" | "piped" | "null";
  /** Where the child's stdin comes from. Default `"piped"`. */
  stdin?: "piped" | "null";
  /** Where the child's stdout goes. Default `"piped"`. */
  stdout?: "piped" | "null" | "inherit";
  /** Start the child in its own session/process group, detached from ours. */
  detached?: boolean;
}

/** How a child process ended. */
export interface ExitStatus {
  /** Exit code, or `null` when killed by a signal. */
  code: number | null;
  /** Signal name such as `"SIGKILL"`, or `null`. */
  signal: string | null;
}

/** A spawned child process with Web Streams for its stdio. */
export interface ChildProcess {
  readonly pid: number;
  /** Present when `stdin: "piped"`. `close()` closes the child's stdin. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /** Present when `stdout: "piped"`. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** Present when `stderr: "piped"`. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves when the child exits. */
  readonly status: Promise<ExitStatus>;
  /** Send a signal (default SIGTERM). Never throws if the child is already gone. */
  kill(signal?: string): void;
  /** Let our process exit without waiting for this child. */
  unref(): void;
}

/**
 * Reads one file embedded in this compiled executable: its bytes as a
 * stream, or `null` when the executable holds no such file.
 */
export type ReadEmbeddedFile = (name: string) => Promise<ReadableStream<Uint8Array> | null>;

/** The open-file limit, and how much of it is in use. */
export interface FdLimit {
  /** The soft RLIMIT_NOFILE now in force. */
  limit: number;
  /** Files open in this process now. */
  open: number;
}

/** Why a {@linkcode PageantWin32.query} failed. */
export type PageantFailure =
  /** No window of class and title "Pageant". */
  | "NO_WINDOW"
  /** The window answered 0: it refused the request (e.g. the mapping's owner was not its user). */
  | "REFUSED"
  /** No answer within the timeout (a prompt left open, or a hung agent). */
  | "TIMEOUT"
  /** The request or the reply does not fit the 256 KiB mapping. */
  | "TOO_LARGE"
  /** A Win32 call failed (the message names it). */
  | "WIN32";

/**
 * The Win32 calls that reach PuTTY's Pageant (and agents that emulate it),
 * Windows only. See `pageant_win32.ts`.
 */
export interface PageantWin32 {
  /** `GetUserNameExA(NameUserPrincipal)`, or `undefined` when it fails. */
  principalName(): string | undefined;
  /** `GetUserNameA`, or `undefined` when it fails. */
  accountName(): string | undefined;
  /** `CryptProtectMemory(block, CRYPTPROTECTMEMORY_CROSS_PROCESS)` in place; false when it failed. */
  protectCrossProcess(block: Uint8Array<ArrayBuffer>): boolean;
  /** Whether `FindWindowA("Pageant", "Pageant")` finds a window. */
  windowExists(): boolean;
  /**
   * One WM_COPYDATA exchange: `frame` (an ssh-agent message with its length
   * prefix) goes into a new named mapping owned by the user, and the reply
   * (with its length prefix) comes back. The blocking call runs off the
   * event loop and gives up after `timeoutMs`.
   *
   * @throws {PageantError} with a {@linkcode PageantFailure} code.
   */
  query(frame: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** The runtime seam. Everything here may differ between Deno and Bun. */
export interface Runtime {
  /** `"deno"` or `"bun"`. */
  readonly name: "deno" | "bun";
  /** The runtime's own version string. */
  readonly version: string;
  /** `"linux"`, `"windows"`, `"darwin"`. */
  readonly os: string;
  /** `"x86_64"` / `"aarch64"`. */
  readonly arch: string;

  /** Listen on a Unix socket path. The file is created with mode 0600. */
  listenUnix(path: string): Promise<Listener>;
  /** Listen on TCP; `port` 0 picks a free port. */
  listenTcp(host: string, port: number): Promise<Listener>;
  /** Connect to a Unix socket (on Windows: an AF_UNIX socket path). */
  connectUnix(path: string): Promise<Conn>;
  /** Connect over TCP. */
  connectTcp(host: string, port: number): Promise<Conn>;
  /** Connect to a Windows named pipe such as `\\.\pipe\openssh-ssh-agent`. */
  connectPipe(path: string): Promise<Conn>;
  /** Listen on a Windows named pipe (used by tests and by the Wine smoke test). */
  listenPipe(path: string): Promise<Listener>;

  /** Start a child process. `argv[0]` is resolved through PATH. */
  spawn(argv: string[], options?: SpawnOptions): ChildProcess;

  /**
   * Start a child whose stdin and stdout are one end of a Unix socket pair,
   * the other end ours as a {@linkcode Conn}: `stdin` is its writable (close
   * = shutdown(SHUT_WR), the child reads EOF), `stdout` its readable. Where a
   * runtime's own pipes cost more per message than its sockets (Bun), this
   * is the daemon's link to the agent. `undefined`: use {@linkcode spawn}.
   */
  spawnLinked?(
    argv: string[],
    options?: Omit<SpawnOptions, "stdin" | "stdout">,
  ): Promise<ChildProcess>;

  /**
   * This process's own stdin/stdout as Web Streams, for the agent. Writes to
   * the writable are not interleaved with anything else. Must work on pipes
   * under Wine, where async stdin reads fail (the implementation falls back
   * to blocking reads in a worker).
   */
  stdio(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

  /** Register a handler for a signal such as `"SIGHUP"`; returns an unregister function. */
  onSignal(signal: string, handler: () => void): () => void;
  /** Our own pid. */
  readonly pid: number;
  /** Our uid (Linux), or -1 where there is none. */
  uid(): number;
  /** Read an environment variable. */
  env(name: string): string | undefined;
  /** Absolute path of the running executable (the compiled binary or the runtime). */
  execPath(): string;
  /** True when running as a compiled single-file binary. */
  readonly compiled: boolean;
  /**
   * The argv prefix that starts this same program again: `[binary]` when
   * compiled, `[deno, "run", "-A", mainModule]` or `[bun, main]` from source.
   */
  selfArgv(): string[];
  /** The command-line arguments after the program (what `main.ts` parses). */
  args(): string[];
  /** Send a signal to any process; false if there is no such process. */
  signalPid(pid: number, signal: string): boolean;
  /** Whether a process is alive (zombies count as gone). */
  isAlive(pid: number): boolean;
  /**
   * A file embedded in this compiled executable (Bun: `--asset`, Deno:
   * `--include` beside the bundle), or `null` (none, or running from source).
   */
  readEmbeddedFile: ReadEmbeddedFile;
  /** Resident set size of this process in bytes. */
  rss(): number;
  /**
   * Raise this process's open-file limit from its soft to its hard value;
   * resolves with the soft limit now in force and how many files are open
   * now, or `undefined` where it cannot be read (no FFI, not Linux).
   */
  raiseFdLimit(): Promise<FdLimit | undefined>;
  /** The Win32 calls for Pageant, loaded once; `undefined` off Windows or without FFI. */
  pageantWin32(): Promise<PageantWin32 | undefined>;
}
