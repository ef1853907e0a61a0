/**
 * The x86 "E8" filter that the embedded agent is compressed through: each
 * `CALL rel32` (opcode 0xE8) gets its relative target replaced by an
 * absolute one. Calls to the same function then carry the same four bytes
 * wherever they are, which zstd finds as repeats: on the Windows agent it
 * saves ~4 % (level 9: 48.7 → 46.9 MB), the branch-converter idea of xz's
 * BCJ and of LZX's E8 translation, in its simplest form.
 *
 * Every 0xE8 byte found by a left-to-right scan is converted, with no test
 * of whether it really is an instruction, and its four operand bytes are
 * skipped. The filter never changes a byte the scan looks at, so decoding
 * scans the very same positions and undoes each conversion exactly; the
 * last four bytes are left as they are. Streams in chunks of any size.
 *
 * @module
 */

/** Which way a filter runs: `encode` at build time, `decode` when placing the agent. */
export type E8Direction = "encode" | "decode";

/** The E8 filter over a sequence of chunks; the output is byte-for-byte as long as the input. */
export class E8Filter {
  #sign: 1 | -1;
  /** Absolute offset of the first byte of #carry. */
  #offset = 0;
  /** Up to 4 bytes held back: an opcode's operand may continue in the next chunk. */
  #carry: Uint8Array = new Uint8Array(0);

  constructor(direction: E8Direction) {
    this.#sign = direction === "encode" ? 1 : -1;
  }

  /** Filter the next chunk; returns what is ready (up to 4 bytes are held back for the next). */
  push(chunk: Uint8Array): Uint8Array {
    let buf: Uint8Array;
    // A copy: the caller's bytes stay as they were (a Buffer's slice() would be a view).
    if (this.#carry.byteLength === 0) buf = new Uint8Array(chunk);
    else {
      buf = new Uint8Array(this.#carry.byteLength + chunk.byteLength);
      buf.set(this.#carry);
      buf.set(chunk, this.#carry.byteLength);
    }
    const done = this.#run(buf);
    this.#carry = buf.slice(done);
    this.#offset += done;
    return buf.subarray(0, done);
  }

  /** The bytes held back, unchanged: the stream has ended. */
  end(): Uint8Array {
    const rest = this.#carry;
    this.#offset += rest.byteLength;
    this.#carry = new Uint8Array(0);
    return rest;
  }

  /** Convert in place up to where an operand might be cut off; returns how many bytes are final. */
  #run(b: Uint8Array): number {
    const sign = this.#sign;
    let i = 0;
    while (i + 4 < b.length) {
      if (b[i] !== 0xe8) {
        i++;
        continue;
      }
      const at = this.#offset + i + 5; // where a relative target counts from
      const v = (b[i + 1] | (b[i + 2] << 8) | (b[i + 3] << 16) | (b[i + 4] << 24)) +
        sign * (at % 0x1_0000_0000);
      b[i + 1] = v & 0xff;
      b[i + 2] = (v >>> 8) & 0xff;
      b[i + 3] = (v >>> 16) & 0xff;
      b[i + 4] = (v >>> 24) & 0xff;
      i += 5;
    }
    return i;
  }
}

/** Filter a whole buffer (a copy): what the build does to the agent before compressing it. */
export function e8Filter(bytes: Uint8Array, direction: E8Direction): Uint8Array {
  const filter = new E8Filter(direction);
  const head = filter.push(bytes);
  const tail = filter.end();
  const out = new Uint8Array(head.byteLength + tail.byteLength);
  out.set(head);
  out.set(tail, head.byteLength);
  return out;
}
