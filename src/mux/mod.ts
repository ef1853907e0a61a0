/**
 * The multiplexer: one session of many flow-controlled streams over any pair
 * of byte streams. Pure Web Streams; shared by the Linux daemon and the
 * Windows agent. The wire format is in docs/PROTOCOL.md.
 *
 * @module
 */
export { Session, type OpenOptions, type SessionCloseInfo, type SessionStats } from "./session.ts";
export { MuxStream } from "./stream.ts";
export { IncomingStream } from "./incoming_stream.ts";
export { defaultSessionOptions, type SessionOptions } from "./options.ts";
export { compareVersions, PROTOCOL_VERSION, type Preface, type Role } from "./preface.ts";
export { Flag, FrameType, GoAwayCode, ResetCode } from "./frame.ts";
export { splice, type Duplex, type SpliceOptions, type SpliceResult } from "./splice.ts";
