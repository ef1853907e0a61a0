/**
 * The few `Bun.*` APIs wsl2proxy uses, declared by hand (as hono does) so the
 * code type-checks under `deno check` without depending on `@types/bun`.
 * Nothing here is global: `bun.ts` reads `globalThis.Bun` as {@linkcode BunGlobal}.
 *
 * @module
 */

/** One connected socket from `Bun.listen` / `Bun.connect`. */
export interface BunSocket<Data> {
  /** Per-socket user data. */
  data: Data;
  /** Write without buffering: returns bytes written now (may be partial), -1 when closed. */
  write(data: Uint8Array): number;
  /** With no argument: shutdown(SHUT_WR), i.e. send FIN and keep reading. */
  shutdown(halfClose?: boolean): void;
  /** Close the socket. */
  end(): void;
  /** Close the socket at once, dropping unsent data. */
  terminate(): void;
  /** Stop reading from the socket. */
  pause(): void;
  /** Resume reading after {@linkcode BunSocket.pause}. */
  resume(): void;
  /** The socket's file descriptor. */
  readonly fd: number;
  /** Remote IP address (TCP). */
  readonly remoteAddress: string;
  /** Remote port (TCP). */
  readonly remotePort?: number;
  /** Local IP address (TCP). */
  readonly localAddress?: string;
  /** Local port (TCP). */
  readonly localPort: number;
}

/** Callbacks for a socket's life. */
export interface BunSocketHandler<Data> {
  open?(socket: BunSocket<Data>): void;
  data?(socket: BunSocket<Data>, data: Uint8Array): void;
  drain?(socket: BunSocket<Data>): void;
  /** The peer sent FIN. */
  end?(socket: BunSocket<Data>): void;
  close?(socket: BunSocket<Data>, error?: Error): void;
  error?(socket: BunSocket<Data>, error: Error): void;
  connectError?(socket: BunSocket<Data>, error: Error): void;
}

/** Options shared by listen and connect. */
interface BunSocketOptionsBase<Data> {
  socket: BunSocketHandler<Data>;
  /** Keep our write side open after the peer's FIN. */
  allowHalfOpen?: boolean;
  data?: Data;
}

/** Listen or connect on a Unix socket path. */
export interface BunUnixSocketOptions<Data> extends BunSocketOptionsBase<Data> {
  unix: string;
}

/** Wrap a connected socket descriptor (Bun.connect only). */
export interface BunFdSocketOptions<Data> extends BunSocketOptionsBase<Data> {
  fd: number;
}

/** Listen or connect on TCP. */
export interface BunTcpSocketOptions<Data> extends BunSocketOptionsBase<Data> {
  hostname: string;
  port: number;
}

/** A listening socket from `Bun.listen`. */
export interface BunSocketListener {
  /** Stop accepting; with `true`, also close every accepted socket. */
  stop(closeActiveConnections?: boolean): void;
  readonly port: number;
  readonly hostname: string;
  readonly unix: string;
}

/** Bun's incremental writer, used for a child's piped stdin. */
export interface BunFileSink {
  /** Buffer `chunk`; may flush. */
  write(chunk: Uint8Array): number | Promise<number>;
  /** Write out the buffer; a Promise when the pipe is full. */
  flush(): number | Promise<number>;
  /** Flush and close. */
  end(error?: Error): number | Promise<number>;
}

/** Options for `Bun.spawn`. */
export interface BunSpawnOptions {
  cmd: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** A number is a descriptor of ours that becomes the child's stdin/stdout. */
  stdin?: "pipe" | "ignore" | "inherit" | number;
  stdout?: "pipe" | "ignore" | "inherit" | number;
  stderr?: "pipe" | "ignore" | "inherit";
  /** setsid() in the child. */
  detached?: boolean;
}

/** A child from `Bun.spawn`. */
export interface BunSubprocess {
  readonly pid: number;
  readonly stdin: BunFileSink | undefined | null | number;
  readonly stdout: ReadableStream<Uint8Array> | undefined | null | number;
  readonly stderr: ReadableStream<Uint8Array> | undefined | null | number;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  kill(signal?: string | number): void;
  unref(): void;
}

/** The subset of `globalThis.Bun` in use. */
export interface BunGlobal {
  readonly version: string;
  /** True inside a `bun build --compile` executable (Bun 1.3+). */
  readonly isStandaloneExecutable?: boolean;
  /** Absolute path of the entry point. */
  readonly main: string;
  listen<Data>(options: BunUnixSocketOptions<Data> | BunTcpSocketOptions<Data>): BunSocketListener;
  connect<Data>(
    options: BunUnixSocketOptions<Data> | BunTcpSocketOptions<Data> | BunFdSocketOptions<Data>,
  ): Promise<BunSocket<Data>>;
  spawn(options: BunSpawnOptions): BunSubprocess;
}

/** The subset of the `bun:ffi` module in use. */
export interface BunFfi {
  dlopen<Symbols extends Record<string, { args: string[]; returns: string }>>(
    path: string,
    symbols: Symbols,
  ): { symbols: { [K in keyof Symbols]: (...args: unknown[]) => number }; close(): void };
  /** The address of a TypedArray's bytes (which Bun then keeps from moving). */
  ptr(view: ArrayBufferView): number;
}
