/**
 * wsl2proxy's public API: the multiplexer (usable on its own over any pair of
 * byte streams), the daemon and agent entry points, config loading, and the
 * error classes. The CLI lives in main.ts.
 *
 * @module
 */
export {
  defaultSessionOptions,
  Flag,
  FrameType,
  GoAwayCode,
  IncomingStream,
  MuxStream,
  type OpenOptions,
  PROTOCOL_VERSION,
  ResetCode,
  Session,
  type SessionCloseInfo,
  type SessionOptions,
  type SessionStats,
  splice,
  StreamState,
} from "./src/mux/mod.ts";
export { Daemon, type DaemonOptions, type DaemonStatus } from "./src/daemon/mod.ts";
export { type Config, loadConfig, parseConfig, resolveConfigPath } from "./src/config/mod.ts";
export { getRuntime, type Runtime } from "./src/runtime/mod.ts";
export { Logger, type LoggerOptions } from "./src/log/logger.ts";
export { VERSION } from "./src/version.ts";
export {
  ConfigError,
  DaemonError,
  DialError,
  HandshakeError,
  ProtocolError,
  RuntimeDirError,
  SessionClosedError,
  StreamResetError,
  UnsupportedError,
  UsageError,
  Wsl2ProxyError,
} from "./src/errors.ts";
