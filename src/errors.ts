/**
 * Every error wsl2proxy throws on purpose. Each has a stable `code`; callers
 * branch on the class or the code, never on the message text. Only `main.ts`
 * turns these into exit statuses.
 *
 * @module
 */

/** Base class: a wsl2proxy error with a stable machine-readable code. */
export class Wsl2ProxyError extends Error {
  /** Stable identifier, e.g. `"PROTOCOL"`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The peer broke the wire protocol; the session ends with GO_AWAY. */
export class ProtocolError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("PROTOCOL", message, options);
  }
}

/** The preface exchange failed: stray bytes, wrong magic, or incompatible versions. */
export class HandshakeError extends Wsl2ProxyError {
  constructor(
    code:
      | "BAD_MAGIC"
      | "VERSION_MISMATCH"
      | "HANDSHAKE_EOF"
      | "HANDSHAKE_TIMEOUT"
      | "BAD_ROLE"
      | "BAD_WINDOW"
      | "BAD_FRAME_SIZE",
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** A stream was reset by either side; `resetCode` is the wire reset code. */
export class StreamResetError extends Wsl2ProxyError {
  /** Numeric reset code as carried on the wire (see docs/PROTOCOL.md). */
  readonly resetCode: number;
  /** True when the reset came from the peer, false when it was local. */
  readonly remote: boolean;
  constructor(resetCode: number, reason: string, remote: boolean, options?: ErrorOptions) {
    super("STREAM_RESET", reason, options);
    this.resetCode = resetCode;
    this.remote = remote;
  }
}

/** The session is closed (GO_AWAY sent or received, or the pipe ended). */
export class SessionClosedError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("SESSION_CLOSED", message, options);
  }
}

/** One problem found in a config file (see {@linkcode ConfigError.issues}). */
export interface ConfigIssue {
  /** The config file the problem is in. */
  readonly file: string;
  /** 1-based line of the offending value (or key); absent for whole-file problems. */
  readonly line?: number;
  /** 1-based column (in code points) of the offending value (or key). */
  readonly column?: number;
  /** Key path such as `sockets[0].windows_addr`; `(syntax)` for YAML errors. */
  readonly key: string;
  /** What is wrong, e.g. `unknown scheme "pip://"`. */
  readonly problem: string;
  /** What was expected instead, e.g. `pipe://./pipe/NAME, ...`. */
  readonly expected: string;
}

/** Options for {@linkcode ConfigError}. */
export interface ConfigErrorOptions extends ErrorOptions {
  /** Every problem found, in file order; the message is these formatted one per line. */
  issues?: readonly ConfigIssue[];
}

/** The config file is invalid; the message names file:line:column and the key. */
export class ConfigError extends Wsl2ProxyError {
  /** Every problem found (empty when the error was built from a message alone). */
  readonly issues: readonly ConfigIssue[];
  constructor(message: string, options?: ConfigErrorOptions) {
    super("CONFIG", message, options);
    this.issues = options?.issues ?? [];
  }
}

/** Dialling a target failed; `resetCode` is what goes on the wire. */
export class DialError extends Wsl2ProxyError {
  readonly resetCode: number;
  constructor(resetCode: number, message: string, options?: ErrorOptions) {
    super("DIAL", message, options);
    this.resetCode = resetCode;
  }
}

/** The runtime directory is unsafe (wrong owner, symlink, too-open mode). */
export class RuntimeDirError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("RUNTIME_DIR", message, options);
  }
}

/** A file we were to open is a symlink, not a regular file, or someone else's. */
export class UnsafeFileError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNSAFE_FILE", message, options);
  }
}

/** Something the platform cannot do here (e.g. not on WSL and no agent.command). */
export class UnsupportedError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNSUPPORTED", message, options);
  }
}

/**
 * The daemon is not running / cannot be reached over its control socket, or
 * (`UNTRUSTED`) what listens there is not a process of ours.
 */
export class DaemonError extends Wsl2ProxyError {
  constructor(
    code: "NOT_RUNNING" | "START_FAILED" | "CONTROL" | "UNTRUSTED",
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** A socket path or port is taken: another process listens there, or a non-socket file is in the way. */
export class AddressInUseError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("ADDR_IN_USE", message, options);
  }
}

/** An ssh-agent message announced a length over the limit (see `src/ssh_agent/framing.ts`). */
export class AgentMessageTooLargeError extends Wsl2ProxyError {
  /** The announced body length. */
  readonly length: number;
  constructor(message: string, length: number, options?: ErrorOptions) {
    super("AGENT_MSG_TOO_LARGE", message, options);
    this.length = length;
  }
}

/** A write or shutdown was attempted on a connection that is already closed. */
export class ConnectionClosedError extends Wsl2ProxyError {
  /**
   * True when the peer ended the whole connection cleanly (a pipe server that
   * disconnects after its reply): nothing was lost, there is just no one left
   * to write to. False when it was closed here.
   */
  readonly byPeer: boolean;
  constructor(message: string, options?: ErrorOptions & { byPeer?: boolean }) {
    super("CONN_CLOSED", message, options);
    this.byPeer = options?.byPeer ?? false;
  }
}

/**
 * A connection ended abnormally: the peer reset it (`remote`), or it was
 * reset here because the other end of its splice failed. Never a clean end.
 */
export class ConnectionResetError extends Wsl2ProxyError {
  /** True when the peer reset it or its socket failed, false when reset here. */
  readonly remote: boolean;
  constructor(message: string, remote: boolean, options?: ErrorOptions) {
    super("CONN_RESET", message, options);
    this.remote = remote;
  }
}

/** A child process could not be started (e.g. the executable was not found); `cause` holds the runtime's error. */
export class SpawnError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("SPAWN", message, options);
  }
}

/** Running a Windows program through WSL interop (`cmd.exe`, `wslpath`) failed, timed out, or printed something unusable. */
export class InteropError extends Wsl2ProxyError {
  constructor(
    code: "INTEROP_FAILED" | "INTEROP_TIMEOUT" | "INTEROP_OUTPUT",
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** There is no Windows agent to start: this build embeds none and neither `--agent` nor the config names one. */
export class AgentNotFoundError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("NO_AGENT", message, options);
  }
}

/** Copying the agent executable to the Windows drive failed, or the copy's checksum did not match. */
export class AgentPlacementError extends Wsl2ProxyError {
  constructor(code: "AGENT_PLACE" | "AGENT_CHECKSUM", message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The command line is wrong (unknown command or option, bad value). */
export class UsageError extends Wsl2ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super("USAGE", message, options);
  }
}

/**
 * A system call failed where no runtime error object exists to carry it (the
 * FFI socket code). `code` is the POSIX-style errno name as node reports it
 * (`"ECONNREFUSED"`), `errno` the raw OS number (a WSA code on Windows).
 */
export class SystemCallError extends Wsl2ProxyError {
  /** The raw OS error number, e.g. 10061 for WSAECONNREFUSED. */
  readonly errno: number;
  /** The failed call, e.g. `"connect"`. */
  readonly syscall: string;
  constructor(
    code: string,
    errno: number,
    syscall: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/**
 * A request to Pageant over WM_COPYDATA failed; `code` says why (see
 * `PageantFailure` in src/runtime/types.ts) and the message is the reset
 * reason.
 */
export class PageantError extends Wsl2ProxyError {
  constructor(
    code: "NO_WINDOW" | "REFUSED" | "TIMEOUT" | "TOO_LARGE" | "WIN32",
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}
