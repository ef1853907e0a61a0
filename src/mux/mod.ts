/**
 * The multiplexer: one session of many flow-controlled streams over any pair
 * of byte streams. Pure Web Streams; shared by the Linux daemon and the
 * Windows agent. The wire format is in docs/PROTOCOL.md.
 *
 * @module
 */
export { type OpenOptions, Session, type SessionCloseInfo, type SessionStats } from "./session.ts";
export { MuxStream } from "./stream.ts";
export { StreamState } from "./stream_types.ts";
export { IncomingStream } from "./incoming_stream.ts";
export { defaultSessionOptions, type SessionOptions, WRITES_COMPLETE } from "./options.ts";
export { compareVersions, type Preface, PROTOCOL_VERSION, type Role } from "./preface.ts";
export { Flag, FrameType, GoAwayCode, ResetCode } from "./frame.ts";
export { type Duplex, splice, type SpliceOptions, type SpliceResult } from "./splice.ts";
