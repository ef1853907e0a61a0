/**
 * The ssh-agent wire framing (draft-miller-ssh-agent, section 3): every
 * message is a `uint32` big-endian length, then that many bytes, the first of
 * which is the message type. Shared by the daemon's `protocol: ssh-agent`
 * relay and (later) the agent's Pageant target, so it knows nothing about
 * sockets.
 *
 * @module
 */
import { AgentMessageTooLargeError } from "../errors.ts";

/**
 * The largest message body accepted, in bytes: PuTTY's `AGENT_MAX_MSGLEN`,
 * and the same 256 KiB that OpenSSH's `AGENT_MAX_LEN` and Win32-OpenSSH's
 * `MAX_MESSAGE_SIZE` allow.
 */
export const AGENT_MAX_MSGLEN = 256 * 1024;

/** Bytes in the length prefix. */
export const AGENT_HEADER_SIZE = 4;

/** The message types this code acts on (the relay passes every other one through). */
export const AgentMessageType = {
  /** `SSH_AGENT_FAILURE`: the generic "no" reply. */
  FAILURE: 5,
  /** `SSH_AGENT_SUCCESS`. */
  SUCCESS: 6,
  /** `SSH_AGENTC_EXTENSION`, e.g. `session-bind@openssh.com` (OpenSSH 8.9+ clients). */
  EXTENSION: 27,
  /** `SSH_AGENT_EXTENSION_FAILURE`. */
  EXTENSION_FAILURE: 28,
} as const;

/** One whole message as it travels: length prefix included. */
export interface AgentMessage {
  /** The type byte, or `undefined` for a zero-length message. */
  readonly type: number | undefined;
  /** The framed bytes, exactly as received (prefix + body). */
  readonly frame: Uint8Array;
}

/** Frames a message body (`type` byte first). */
export function encodeAgentMessage(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(AGENT_HEADER_SIZE + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength, false);
  out.set(body, AGENT_HEADER_SIZE);
  return out;
}

/** `SSH_AGENT_FAILURE`, framed: `00 00 00 01 05`. */
export function agentFailure(): Uint8Array {
  return encodeAgentMessage(Uint8Array.of(AgentMessageType.FAILURE));
}

/**
 * The extension name of an `SSH_AGENTC_EXTENSION` message (`string name`
 * after the type byte), or `undefined` when it is not one or is malformed.
 */
export function extensionName(m: AgentMessage): string | undefined {
  if (m.type !== AgentMessageType.EXTENSION) return undefined;
  const f = m.frame;
  const at = AGENT_HEADER_SIZE + 1;
  if (f.byteLength < at + 4) return undefined;
  const n = new DataView(f.buffer, f.byteOffset + at, 4).getUint32(0, false);
  if (f.byteLength < at + 4 + n) return undefined;
  return new TextDecoder().decode(f.subarray(at + 4, at + 4 + n));
}

/**
 * Splits a byte stream into whole messages. Buffers at most one message, so
 * memory stays bounded by `maxLength`.
 *
 * @example
 * ```ts
 * const d = new AgentMessageDecoder();
 * d.push(Uint8Array.of(0, 0, 0, 1, 11));
 * d.next()?.type; // 11, SSH2_AGENTC_REQUEST_IDENTITIES
 * ```
 */
export class AgentMessageDecoder {
  readonly #max: number;
  #buf = new Uint8Array(1024);
  #start = 0;
  #end = 0;

  /** `maxLength` bounds a message's body (the length field). @default AGENT_MAX_MSGLEN */
  constructor(maxLength = AGENT_MAX_MSGLEN) {
    this.#max = maxLength;
  }

  /** Bytes received and not yet returned as a message. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    const need = this.buffered + chunk.byteLength;
    if (this.#end + chunk.byteLength > this.#buf.byteLength) {
      const next = need > this.#buf.byteLength
        ? new Uint8Array(Math.max(need, this.#buf.byteLength * 2))
        : this.#buf;
      next.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#buf = next;
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /**
   * The next whole message (a copy), or `null` until one has arrived.
   *
   * @throws {AgentMessageTooLargeError} when the length prefix announces more than `maxLength`.
   */
  next(): AgentMessage | null {
    if (this.buffered < AGENT_HEADER_SIZE) return null;
    const length = new DataView(this.#buf.buffer, this.#start, AGENT_HEADER_SIZE)
      .getUint32(0, false);
    if (length > this.#max) {
      throw new AgentMessageTooLargeError(
        `an ssh-agent message of ${length} bytes is larger than the ${this.#max}-byte limit`,
        length,
      );
    }
    const total = AGENT_HEADER_SIZE + length;
    if (this.buffered < total) return null;
    const frame = this.#buf.slice(this.#start, this.#start + total);
    this.#start += total;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { type: length > 0 ? frame[AGENT_HEADER_SIZE] : undefined, frame };
  }

  /** Takes whatever incomplete message is buffered (for a peer that ends mid-message). */
  takeRest(): Uint8Array {
    const rest = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return rest;
  }
}

/**
 * Finds message boundaries in a byte stream without keeping the bytes, for
 * the direction that is passed through unchanged (replies can be any size).
 */
export class AgentFrameCounter {
  #header = new Uint8Array(AGENT_HEADER_SIZE);
  #headerHave = 0;
  #bodyLeft = 0;

  /** True while a message has begun but not ended. */
  get inMessage(): boolean {
    return this.#headerHave > 0 || this.#bodyLeft > 0;
  }

  /** Consumes `chunk`; returns how many messages it completed. */
  feed(chunk: Uint8Array): number {
    let done = 0;
    let i = 0;
    while (i < chunk.byteLength) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.byteLength - i);
        this.#bodyLeft -= n;
        i += n;
        if (this.#bodyLeft === 0) done++;
        continue;
      }
      this.#header[this.#headerHave++] = chunk[i++];
      if (this.#headerHave < AGENT_HEADER_SIZE) continue;
      this.#headerHave = 0;
      this.#bodyLeft = new DataView(this.#header.buffer).getUint32(0, false);
      if (this.#bodyLeft === 0) done++;
    }
    return done;
  }
}
