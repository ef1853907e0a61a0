/**
 * The validated, fully expanded configuration. Every path in here is absolute
 * and normalised; every `{runtime_dir}` template and `~` is already expanded.
 *
 * @module
 */

/** How much the daemon logs. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every {@linkcode LogLevel}, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * A target dialled on the Windows side. `url` is the canonical URL form; it is
 * what goes over the wire as the stream target, and the agent parses it again
 * with `parseWindowsAddr`.
 */
export type WindowsAddr =
  /** A local named pipe; `path` is `\\.\pipe\NAME`. */
  | { readonly kind: "pipe"; readonly path: string; readonly url: string }
  /**
   * An AF_UNIX socket; `path` is `C:\dir\file.sock` (backslashes), or an
   * absolute POSIX path for an agent running on Linux.
   */
  | { readonly kind: "unix"; readonly path: string; readonly url: string }
  /** A TCP host and port as seen from Windows; IPv6 hosts are stored without brackets. */
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly url: string }
  /**
   * The user's Pageant (PuTTY) or an agent that emulates it (KeeAgent,
   * gpg4win): its named pipe, else its WM_COPYDATA window. `url` is `pageant://`.
   */
  | { readonly kind: "pageant"; readonly url: string }
  /**
   * A socket file of libassuan's emulation (gpg4win's gpg-agent): the file
   * holds a loopback TCP port and a 16-byte nonce. `path` is `C:\dir\file`,
   * or an absolute POSIX path for an agent running on Linux.
   */
  | { readonly kind: "assuan"; readonly path: string; readonly url: string }
  /** A gpg-agent socket that `gpgconf --list-dirs` names on the agent's side. */
  | { readonly kind: "gpg"; readonly socket: GpgSocket; readonly url: string };

/** Which gpg-agent socket a `gpg://` target names. */
export type GpgSocket = "agent" | "extra" | "browser";

/** Every {@linkcode GpgSocket}. */
export const GPG_SOCKETS: readonly GpgSocket[] = ["agent", "extra", "browser"];

/** Where the daemon listens on the Linux side. */
export type LinuxAddr =
  /** A Unix-domain socket file; `path` is absolute and normalised. */
  | { readonly kind: "unix"; readonly path: string }
  /** A TCP listener; loopback unless the socket has `allow_remote: true`. IPv6 without brackets. */
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/**
 * What a socket carries: `raw` bytes (spliced unchanged), or the `ssh-agent`
 * protocol, which the daemon relays message by message so that old Windows
 * agents work with new OpenSSH clients (see `src/ssh_agent/`).
 */
export type SocketProtocol = "raw" | "ssh-agent";

/** Every {@linkcode SocketProtocol}. */
export const SOCKET_PROTOCOLS: readonly SocketProtocol[] = ["raw", "ssh-agent"];

/** One forwarded socket: listen at `linuxAddr`, dial `windowsAddr` for each connection. */
export interface SocketConfig {
  /** Environment variable that `wsl2proxy env` exports with the Linux address (`env_name`). */
  readonly envName: string;
  /** Where to listen on Linux (`linux_addr`). */
  readonly linuxAddr: LinuxAddr;
  /** What to dial on Windows (`windows_addr`). */
  readonly windowsAddr: WindowsAddr;
  /** Whether a TCP `linuxAddr` may bind a non-loopback host (`allow_remote`). @default false */
  readonly allowRemote: boolean;
  /**
   * What the socket carries (`protocol`). @default "ssh-agent" when `envName`
   * is `SSH_AUTH_SOCK` or ends in `_AUTH_SOCK`, else "raw"
   */
  readonly protocol: SocketProtocol;
}

/** How the daemon starts the Windows agent (`agent`). */
export type AgentConfig =
  /** No `agent` key (or an empty one): locate and place the agent automatically. */
  | { readonly kind: "auto" }
  /** `agent.command`: run this argv (first item is the program) instead. */
  | { readonly kind: "command"; readonly command: readonly string[] }
  /** `agent.path`: use the agent executable at this absolute Linux path. */
  | { readonly kind: "path"; readonly path: string };

/** The whole configuration. */
export interface Config {
  /** The file this came from, or `undefined` for the built-in defaults. */
  readonly file: string | undefined;
  /** `log_level`. @default "info" */
  readonly logLevel: LogLevel;
  /** `log_path`. @default "{runtime_dir}/proxy.log" */
  readonly logPath: string;
  /** `runtime_dir`. @default "$XDG_RUNTIME_DIR/wsl2proxy", else "/tmp/wsl2proxy-$USER" */
  readonly runtimeDir: string;
  /** `sockets`. @default one socket: SSH_AUTH_SOCK → pipe://./pipe/openssh-ssh-agent */
  readonly sockets: readonly SocketConfig[];
  /** `agent`. @default { kind: "auto" } */
  readonly agent: AgentConfig;
  /**
   * Things that are valid but probably not meant (e.g. `sockets: []`), each
   * formatted like an error line: `file:line:column: key: text`.
   */
  readonly warnings: readonly string[];
}
