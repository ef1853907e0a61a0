/**
 * The preface each side sends before its first frame, and the checks made on
 * the peer's: magic bytes (so stray output on the pipe is caught before it can
 * corrupt a stream), protocol version, role, program version, windows and
 * frame size.
 *
 * ```
 * 0       8     9     10       12             16              20               24              28    29
 * +-------+-----+-----+--------+--------------+---------------+----------------+---------------+-----+---------+
 * | magic |proto| role| rsvd=0 | capabilities | stream window | session window | frame payload | len | version |
 * +-------+-----+-----+--------+--------------+---------------+----------------+---------------+-----+---------+
 * ```
 *
 * Protocol 1 had no frame payload field (its `len` was at 24); a protocol-1
 * preface is still decoded, so that the version mismatch can be reported.
 *
 * @module
 */
import { HandshakeError } from "../errors.ts";
import { MAX_WINDOW } from "./frame.ts";
import { preview } from "./frame_decoder.ts";

/** `\x89W2P\r\n\x1a\n`: non-ASCII first byte and CR/LF/^Z catch text-mode mangling, as in PNG. */
export const PREFACE_MAGIC = new Uint8Array([0x89, 0x57, 0x32, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Wire protocol version spoken by this build. */
export const PROTOCOL_VERSION = 2;
/** Size of the preface without the version string. */
export const PREFACE_FIXED_SIZE = 29;
/** Size of a protocol-1 preface without the version string. */
const V1_FIXED_SIZE = 25;
/** The smallest stream window and frame payload a side may announce. */
export const MIN_ANNOUNCED = 1024;

/** Which ids a side opens: the Linux side is `"client"` (odd), the Windows side `"server"` (even). */
export type Role = "client" | "server";

/** Capability bits. None are defined yet; unknown bits are ignored. */
export const Capability = {} as const;

/** What a side announces about itself. */
export interface Preface {
  protocol: number;
  role: Role;
  capabilities: number;
  /** Initial per-stream receive window this side grants. */
  streamWindow: number;
  /** Session-wide receive budget this side grants. */
  sessionWindow: number;
  /** Largest DATA payload this side accepts; each side sends at most the smaller of the two. */
  maxFramePayload: number;
  /** The program's own version, e.g. `0.1.0`. */
  version: string;
}

/** Encode a preface. */
export function encodePreface(p: Preface): Uint8Array {
  const version = new TextEncoder().encode(p.version).subarray(0, 255);
  const buf = new Uint8Array(PREFACE_FIXED_SIZE + version.byteLength);
  const view = new DataView(buf.buffer);
  buf.set(PREFACE_MAGIC, 0);
  buf[8] = p.protocol;
  buf[9] = p.role === "client" ? 1 : 2;
  view.setUint16(10, 0);
  view.setUint32(12, p.capabilities >>> 0);
  view.setUint32(16, p.streamWindow >>> 0);
  view.setUint32(20, p.sessionWindow >>> 0);
  view.setUint32(24, p.maxFramePayload >>> 0);
  buf[28] = version.byteLength;
  buf.set(version, PREFACE_FIXED_SIZE);
  return buf;
}

/** Names used in handshake messages, e.g. `{ local: "the Linux daemon", peer: "the Windows agent" }`. */
export interface PeerNames {
  local: string;
  peer: string;
}

/**
 * Try to decode the peer's preface from `buf`. Returns `null` if more bytes are
 * needed, or the preface and how many bytes it used. Throws {@linkcode HandshakeError}.
 */
export function decodePreface(
  buf: Uint8Array,
  names: PeerNames,
): { preface: Preface; size: number } | null {
  const magicSeen = Math.min(buf.byteLength, PREFACE_MAGIC.byteLength);
  for (let i = 0; i < magicSeen; i++) {
    if (buf[i] !== PREFACE_MAGIC[i]) {
      const shown = buf.subarray(0, Math.min(buf.byteLength, 64));
      throw new HandshakeError(
        "BAD_MAGIC",
        `${names.peer} sent unexpected bytes instead of the wsl2proxy handshake: ${
          preview(shown)
        }. ` +
          `Something else is writing to the pipe (a runtime warning or a banner printed to stdout?); ` +
          `the pipe must carry only the multiplexer.`,
      );
    }
  }
  if (buf.byteLength < V1_FIXED_SIZE) return null;
  const v1 = buf[8] === 1;
  const fixed = v1 ? V1_FIXED_SIZE : PREFACE_FIXED_SIZE;
  if (buf.byteLength < fixed) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = buf[fixed - 1];
  if (buf.byteLength < fixed + len) return null;
  const roleByte = buf[9];
  if (roleByte !== 1 && roleByte !== 2) {
    throw new HandshakeError("BAD_ROLE", `${names.peer} announced an unknown role ${roleByte}`);
  }
  const preface: Preface = {
    protocol: buf[8],
    role: roleByte === 1 ? "client" : "server",
    capabilities: view.getUint32(12),
    streamWindow: view.getUint32(16),
    sessionWindow: view.getUint32(20),
    maxFramePayload: v1 ? 65536 : view.getUint32(24),
    version: new TextDecoder().decode(buf.subarray(fixed, fixed + len)),
  };
  return { preface, size: fixed + len };
}

/**
 * Check the peer's preface against ours. Throws {@linkcode HandshakeError}
 * naming the older side and what to do when they cannot talk.
 */
export function checkPreface(local: Preface, peer: Preface, names: PeerNames, hint: string): void {
  if (peer.protocol !== local.protocol) {
    const localOlder = local.protocol < peer.protocol;
    const older = localOlder ? names.local : names.peer;
    const newer = localOlder ? names.peer : names.local;
    throw new HandshakeError(
      "VERSION_MISMATCH",
      `version mismatch: ${names.local} is wsl2proxy ${local.version} (protocol ${local.protocol}) but ` +
        `${names.peer} is wsl2proxy ${peer.version} (protocol ${peer.protocol}); ${older} is older than ${newer}. ` +
        hint,
    );
  }
  if (peer.role === local.role) {
    throw new HandshakeError(
      "BAD_ROLE",
      `both sides announced role "${local.role}"; one side must be the Linux daemon and the other the Windows agent`,
    );
  }
  if (
    peer.streamWindow < MIN_ANNOUNCED || peer.streamWindow > MAX_WINDOW ||
    peer.sessionWindow < peer.streamWindow
  ) {
    throw new HandshakeError(
      "BAD_WINDOW",
      `${names.peer} announced unusable windows (stream ${peer.streamWindow}, must be ${MIN_ANNOUNCED}..${MAX_WINDOW}; ` +
        `session ${peer.sessionWindow}, must be at least the stream window)`,
    );
  }
  if (peer.maxFramePayload < MIN_ANNOUNCED) {
    throw new HandshakeError(
      "BAD_FRAME_SIZE",
      `${names.peer} announced a maximum frame payload of ${peer.maxFramePayload} bytes (must be at least ${MIN_ANNOUNCED})`,
    );
  }
}

/**
 * Compare two dotted versions numerically (`0.10.0` > `0.9.1`). Pre-release
 * suffixes after `-` are compared as text. Returns -1, 0 or 1.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA = ""] = a.split("-", 2);
  const [coreB, preB = ""] = b.split("-", 2);
  const pa = coreA.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const pb = coreB.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  if (preA === preB) return 0;
  if (preA === "") return 1;
  if (preB === "") return -1;
  return preA < preB ? -1 : 1;
}
