/**
 * Session configuration: one type, a comment on every field, defaults and a
 * validity check (as yamux's `Config`, `DefaultConfig`, `VerifyConfig`).
 *
 * @module
 */
import type { IncomingStream } from "./incoming_stream.ts";
import { type PeerNames, type Preface, PROTOCOL_VERSION, type Role } from "./preface.ts";

/** Options for {@linkcode Session.connect}. */
export interface SessionOptions {
  /** `"client"` opens odd stream ids (the Linux side), `"server"` even ids (the Windows side). */
  role: Role;
  /** This program's version, sent in the preface and used in mismatch messages. */
  version: string;
  /** Capability bits announced in the preface. @default 0 */
  capabilities?: number;
  /**
   * Largest receive window per stream, in bytes: the most the peer may send on
   * one stream before the application reads. A stream starts with
   * `initialStreamWindow` and grows to this while its application keeps up
   * and the session budget allows (docs/PROTOCOL.md, "Flow control").
   * @default 262144 (256 KiB)
   */
  streamWindow?: number;
  /**
   * Receive window every stream starts with, announced in the preface; never
   * more than `streamWindow`. Small, so that streams whose application never
   * reads hold little of the session budget. @default 16384 (16 KiB)
   */
  initialStreamWindow?: number;
  /**
   * Session-wide receive budget: the most unread bytes buffered across all
   * streams. Data beyond it is a protocol error. Streams grow their windows
   * only out of what is left of it. @default 67108864 (64 MiB)
   */
  sessionWindow?: number;
  /** Largest DATA payload we send and accept. Chosen by measurement (docs/BENCHMARKS.md). @default 65536 */
  maxFramePayload?: number;
  /** Most bytes handed to the output in one write. @default 262144 */
  maxWriteBatch?: number;
  /** Most concurrently open streams; further SYNs are refused with RST. @default 65536 */
  maxStreams?: number;
  /** Interval between keepalive pings in ms; 0 turns them off. Pings never time a session out. @default 30000 */
  keepaliveMs?: number;
  /** How long to wait for the peer's preface. @default 20000 */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits to flush GO_AWAY before dropping the output. @default 1000 */
  closeTimeoutMs?: number;
  /** Names for handshake messages. @default { local: "this side", peer: "the peer" } */
  names?: PeerNames;
  /** Added to version-mismatch messages: what the user should do. */
  mismatchHint?: string;
  /**
   * Called for each stream the peer opens. Call `accept()` (after dialling, say)
   * or `reject(code, reason)`. Without a handler every stream is refused.
   */
  onStream?: (incoming: IncomingStream) => void;
  /**
   * Build every write batch in one buffer that is reused, instead of a new
   * buffer per batch (which, at 64 KiB+ a time, is garbage the runtime must
   * collect). Only for a `writable` that is done with a chunk once its
   * `write()` resolves: OS pipes and sockets are, an in-memory
   * `TransformStream` is not.
   * @default true when `writable` carries {@linkcode WRITES_COMPLETE}, else false
   */
  reuseWriteBuffer?: boolean;
}

/**
 * Marks a `WritableStream` that is done with each chunk once its `write()`
 * resolves (the bytes reached the OS), e.g. `{ [WRITES_COMPLETE]: true }`.
 * The runtime layer marks the agent link's pipes with it. A registered symbol,
 * so code that does not import the mux can set it too.
 */
export const WRITES_COMPLETE: symbol = Symbol.for("wsl2proxy.writesComplete");

/** Whether `writable` carries {@linkcode WRITES_COMPLETE}. */
export function writesComplete(writable: WritableStream<Uint8Array>): boolean {
  return (writable as unknown as Record<symbol, unknown>)[WRITES_COMPLETE] === true;
}

/** {@linkcode SessionOptions} with every default filled in. */
export type ResolvedSessionOptions =
  & Required<Omit<SessionOptions, "onStream" | "reuseWriteBuffer">>
  & Pick<SessionOptions, "onStream" | "reuseWriteBuffer">;

/** The defaults, as a fresh object. */
export function defaultSessionOptions(): Omit<
  ResolvedSessionOptions,
  "role" | "version" | "onStream" | "reuseWriteBuffer"
> {
  return {
    capabilities: 0,
    streamWindow: 256 * 1024,
    initialStreamWindow: 16 * 1024,
    sessionWindow: 64 * 1024 * 1024,
    maxFramePayload: 64 * 1024,
    maxWriteBatch: 256 * 1024,
    maxStreams: 65536,
    keepaliveMs: 30_000,
    handshakeTimeoutMs: 20_000,
    closeTimeoutMs: 1000,
    names: { local: "this side", peer: "the peer" },
    mismatchHint: "Use the same wsl2proxy version on both sides.",
  };
}

/** The preface these options announce. */
export function localPreface(o: ResolvedSessionOptions): Preface {
  return {
    protocol: PROTOCOL_VERSION,
    role: o.role,
    capabilities: o.capabilities,
    streamWindow: o.initialStreamWindow,
    sessionWindow: o.sessionWindow,
    maxFramePayload: o.maxFramePayload,
    version: o.version,
  };
}

/** Fill in defaults and check ranges; throws RangeError on a nonsensical option. */
export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  const o = { ...defaultSessionOptions(), ...stripUndefined(options) } as ResolvedSessionOptions;
  if (o.role !== "client" && o.role !== "server") {
    throw new RangeError(`role must be "client" or "server"`);
  }
  if (!(o.streamWindow >= 1024 && o.streamWindow <= 0x7fff_ffff)) {
    throw new RangeError("streamWindow must be 1 KiB .. 2 GiB");
  }
  if (!(o.initialStreamWindow >= 1024)) {
    throw new RangeError("initialStreamWindow must be at least 1 KiB");
  }
  // A small streamWindow caps the default initial window rather than failing.
  o.initialStreamWindow = Math.min(o.initialStreamWindow, o.streamWindow);
  if (!(o.sessionWindow >= o.streamWindow && o.sessionWindow <= 0xffff_ffff)) {
    throw new RangeError("sessionWindow must be at least streamWindow and below 4 GiB");
  }
  if (!(o.maxFramePayload >= 1024 && o.maxFramePayload <= 1024 * 1024)) {
    throw new RangeError("maxFramePayload must be 1 KiB .. 1 MiB");
  }
  if (!(o.maxWriteBatch >= o.maxFramePayload)) {
    throw new RangeError("maxWriteBatch must be >= maxFramePayload");
  }
  if (!(o.maxStreams >= 1)) throw new RangeError("maxStreams must be >= 1");
  if (!(o.keepaliveMs >= 0)) throw new RangeError("keepaliveMs must be >= 0");
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
