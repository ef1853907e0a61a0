/**
 * The plain types of the session API: counters, why a session ended, and
 * options for opening a stream.
 *
 * @module
 */

/** Counters for `status` and benchmarks. */
export interface SessionStats {
  /** Streams currently in the session's table. */
  openStreams: number;
  /** Streams ever opened, by either side. */
  totalStreams: number;
  /** DATA payload bytes received / sent. */
  bytesIn: number;
  bytesOut: number;
  /** Frames received / sent. */
  framesIn: number;
  framesOut: number;
  /** Received bytes not yet read by the application. */
  bufferedIn: number;
  /** Last measured ping round trip in ms, or null before the first pong. */
  rttMs: number | null;
}

/** Why a session ended. */
export interface SessionCloseInfo {
  /** Human-readable reason. */
  reason: string;
  /** The error, or null for a normal close. */
  error: Error | null;
  /** True when the peer ended it (GO_AWAY or EOF), false when we did. */
  remote: boolean;
}

/** Options for {@linkcode Session.open}. */
export interface OpenOptions {
  /** Abort the open: the stream is reset and `open` rejects. */
  signal?: AbortSignal;
}
